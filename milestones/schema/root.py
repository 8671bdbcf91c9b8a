"""The root Schema."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaskErrors, SchemaExtension
from strawberry.schema.config import StrawberryConfig

from milestones.resolvers.mutations import Mutation
from milestones.resolvers.queries import Query
from milestones.resolvers.subscriptions import Subscription
from milestones.schema.scalars import SCALAR_MAP
from milestones.schema.types import (
    ChangeRequest,
    Contract,
    ContractEvent,
    Milestone,
    Notification,
    RefundRequest,
    User,
)


def _should_mask(error: Any) -> bool:
    """Hide internals, keep the errors a client is meant to read (they carry a code)."""
    extensions = getattr(error, "extensions", None) or {}
    return "code" not in extensions


def build_schema(*, production: bool = False) -> strawberry.Schema:
    extensions: Sequence[type[SchemaExtension] | Any] = []
    if production:
        extensions = [
            AddValidationRules([NoSchemaIntrospectionCustomRule]),
            lambda: MaskErrors(should_mask_error=_should_mask),
        ]
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[
            User,
            Contract,
            Milestone,
            ChangeRequest,
            RefundRequest,
            ContractEvent,
            Notification,
        ],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        extensions=list(extensions),
    )


def export_sdl() -> str:
    return build_schema().as_str() + "\n"
