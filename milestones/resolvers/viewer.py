"""The authenticated viewer of a request, or an UNAUTHENTICATED GraphQL error."""

from __future__ import annotations

from graphql import GraphQLError

from milestones.models import User
from milestones.schema.context import Info


def require_viewer(info: Info) -> User:
    viewer = info.context.viewer
    if viewer is None:
        raise GraphQLError(
            info.context.auth_error or "Authentication required.",
            extensions={"code": "UNAUTHENTICATED"},
        )
    return viewer
