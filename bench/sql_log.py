"""Every SQL statement the project sends, read from Tortoise's `tortoise.db_client` logger.

Tortoise logs each statement at DEBUG just before it runs (`"%s: %s", query, values`, or the
bare script), from the method that runs it (`execute_query`, `execute_insert`, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from milestones.scheduler import TASK_NAME as DEADLINE_SCHEDULER

DB_CLIENT_LOGGER = "tortoise.db_client"
_NOT_STATEMENTS = ("Created connection pool", "Closed connection pool")
# Background work of the app that runs beside requests on its own clock: not a request's cost.
BACKGROUND_TASKS = (DEADLINE_SCHEDULER,)


def _in_background_task() -> bool:
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop
        return False
    return task is not None and task.get_name() in BACKGROUND_TASKS


@dataclass(frozen=True, slots=True)
class Statement:
    method: str  # the Tortoise client method: execute_query, execute_insert, execute_many, ...
    sql: str
    params: tuple[Any, ...]


class StatementLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[Statement] = []

    def emit(self, record: logging.LogRecord) -> None:
        if _in_background_task():
            return
        args = record.args if isinstance(record.args, tuple) else ()
        if record.msg == "%s: %s" and len(args) == 2 and isinstance(args[0], str):
            sql, values = args
            assert isinstance(sql, str)
            self.statements.append(Statement(record.funcName, sql, tuple(values or ())))  # type: ignore[arg-type]
        elif not args and isinstance(record.msg, str):
            if not record.msg.startswith(_NOT_STATEMENTS):
                self.statements.append(Statement(record.funcName, record.msg, ()))

    def take(self) -> list[Statement]:
        """The statements logged since the last call."""
        taken, self.statements = self.statements, []
        return taken


@contextlib.contextmanager
def statement_log() -> Iterator[StatementLog]:
    """Record statements while inside (and keep them out of other handlers)."""
    logger = logging.getLogger(DB_CLIENT_LOGGER)
    handler = StatementLog()
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
