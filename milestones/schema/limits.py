"""How much one GraphQL document may ask for: depth, aliases, tokens.

Each limit is a strawberry extension, handed to the schema as a zero-argument factory (a fresh
instance per request). A document past a limit is refused before it runs, with a GraphQL error
that names the limit; over HTTP that is a request error (400 with
application/graphql-response+json).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from milestones.config import Settings


@dataclass(frozen=True, slots=True)
class QueryLimits:
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000

    @classmethod
    def from_settings(cls, settings: Settings) -> QueryLimits:
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
        )

    def extensions(self) -> list[Callable[[], SchemaExtension]]:
        # The depth and alias rules are built once and reused by every request: the same rule
        # classes each time keep strawberry's validation cache effective (it is keyed by them).
        rules = [
            *QueryDepthLimiter(max_depth=self.max_depth).validation_rules,
            *MaxAliasesLimiter(max_alias_count=self.max_aliases).validation_rules,
        ]
        return [
            lambda: MaxTokensLimiter(max_token_count=self.max_tokens),
            lambda: AddValidationRules(rules),
        ]
