"""One execution per subscription event, not one per subscriber.

When an event reaches many subscriptions of the same document, variables and viewer (a
contract room open in many tabs, a widget on every page), graphql-core would execute the same
selection set against the same event object once per subscription. This execution context
remembers the result of the first and hands it to the others. The key includes the viewer, so
nothing that depends on who is looking (`viewerRole`) is ever shared between users; the event
objects are shared by the feeds (see `resolvers/subscriptions.py`), and the results live only
as long as the event object does.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import orjson
from graphql import ExecutionResult, OperationType
from graphql.pyutils import AwaitableOrValue
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from milestones.schema.types import ContractEvent

ResultKey = tuple[int, bytes, int | None]

# id(event object) -> its results; an entry goes when its event object is collected.
_results: dict[int, dict[ResultKey, asyncio.Future[Any]]] = {}


class SharedEventExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_operation(self, serially: bool | None = None) -> AwaitableOrValue[Any]:
        payload = self.root_value
        # Contract events are the objects subscribers share (one per row, see the resolver).
        if self.operation.operation is not OperationType.SUBSCRIPTION or not isinstance(
            payload, ContractEvent
        ):
            return super().execute_operation(serially)
        viewer = getattr(self.context_value, "viewer", None)
        key: ResultKey = (
            id(self.operation),
            orjson.dumps(self.variable_values, option=orjson.OPT_SORT_KEYS, default=str),
            getattr(viewer, "id", None),
        )
        shared = _results.get(id(payload))
        if shared is None:
            shared = _results[id(payload)] = {}
            weakref.finalize(payload, _results.pop, id(payload), None)
        pending = shared.get(key)
        if pending is None:
            pending = shared[key] = asyncio.ensure_future(self._execute(serially))
        return _result_of(pending)

    async def _execute(self, serially: bool | None) -> Any:
        result = super().execute_operation(serially)
        return await result if asyncio.isfuture(result) or asyncio.iscoroutine(result) else result


async def _result_of(pending: asyncio.Future[Any]) -> ExecutionResult:
    result: ExecutionResult = await asyncio.shield(pending)
    return result
