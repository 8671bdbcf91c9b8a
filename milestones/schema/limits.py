"""How much one GraphQL document may ask for: depth, aliases, tokens, and the codes of the
refusals (the same on every transport).

The token limit is enforced by the parser itself (`documents.py`, the one gate every document
passes); depth and aliases are validation rules, built once and shared by every request (the
same rule classes keep the validation cache effective). A refusal is a GraphQL error with
`extensions.code`; over HTTP it is a request error (400 with application/graphql-response+json).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from graphql import ASTValidationRule, GraphQLError, ValidationContext
from strawberry.extensions import (
    MaxAliasesLimiter,
    QueryDepthLimiter,
)

from milestones.config import Settings

QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
BODY_TOO_LARGE = "BODY_TOO_LARGE"
# A file of a multipart submission larger than MAX_UPLOAD_BYTES (web/uploads.py).
FILE_TOO_LARGE = "FILE_TOO_LARGE"
TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"


@dataclass(frozen=True, slots=True)
class QueryLimits:
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    # No document is longer than the largest body a request may have.
    max_length: int = 100 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> QueryLimits:
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            max_length=settings.max_body_bytes,
        )

    def validation_rules(self) -> list[type[ASTValidationRule]]:
        return [
            *(
                coded(rule, QUERY_TOO_DEEP)
                for rule in QueryDepthLimiter(max_depth=self.max_depth).validation_rules
            ),
            *(
                coded(rule, TOO_MANY_ALIASES)
                for rule in MaxAliasesLimiter(max_alias_count=self.max_aliases).validation_rules
            ),
        ]


# graphql-core's words when its parser stops at a limit.
_PARSER_LIMIT = re.compile(
    r"(Document|Source) contains more than (\d+) (tokens|comments|code points)"
)


def parser_limit_error(error: GraphQLError) -> GraphQLError | None:
    """The coded refusal for a parse that stopped at a limit; None for other syntax errors.
    Not a syntax error itself: over WebSocket it is the operation's `error`, not a 4400."""
    found = _PARSER_LIMIT.search(error.message)
    if found is None:
        return None
    if found.group(3) == "code points":
        return GraphQLError(
            f"The document is longer than {found.group(2)} characters.",
            extensions={"code": BODY_TOO_LARGE},
        )
    return GraphQLError(
        f"Document contains more than {found.group(2)} tokens.",
        extensions={"code": TOO_MANY_TOKENS},
    )


def subscription_limit_error(limit: int) -> GraphQLError:
    return GraphQLError(
        f"Subscription limit reached: at most {limit} operations per connection.",
        extensions={"code": TOO_MANY_SUBSCRIPTIONS},
    )


def coded(rule: type[ASTValidationRule], code: str) -> type[ASTValidationRule]:
    """`rule`, with `code` on every error it reports."""

    class Coded(rule):  # type: ignore[valid-type,misc]
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(_Coding(context, code))

    Coded.__name__ = f"Coded{rule.__name__}"
    return Coded


class _Coding:
    """A validation context that stamps a code on the errors reported through it."""

    def __init__(self, context: ValidationContext, code: str) -> None:
        self._context = context
        self._code = code

    def report_error(self, error: GraphQLError) -> None:
        error.extensions = {**(error.extensions or {}), "code": self._code}
        self._context.report_error(error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)
