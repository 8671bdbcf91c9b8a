"""`python -m bench.refusal`: what refusing a 49,000-token document costs, next to parsing a
small query (the baseline, same run) and to parsing the same document without a limit (what
the server did before the gate). Prints a table; needs nothing but the package.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from graphql import GraphQLError, parse

from milestones.schema.documents import Documents
from milestones.schema.limits import QueryLimits

TOKENS = 49_000
ROUNDS = 20


def _best_of(run: Callable[[], object], rounds: int = ROUNDS) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    documents = Documents(QueryLimits(), cache_bytes=0)
    huge = "{ " + "a " * (TOKENS - 2) + "}"
    small = "query Me { me { id name email } }"

    def refuse() -> None:
        try:
            documents.parse(huge, cache=False)
        except GraphQLError:
            return
        raise AssertionError("the 49,000-token document was not refused")

    baseline = _best_of(lambda: documents.parse(small, cache=False))
    refused = _best_of(refuse)
    unbounded = _best_of(lambda: parse(huge), rounds=3)
    rows = [
        ("parse `query Me { me { id name email } }` (baseline)", baseline),
        (f"refuse a {TOKENS:,}-token document (the gate)", refused),
        (f"parse the {TOKENS:,}-token document, no limit (before)", unbounded),
    ]
    print(f"| what | best of {ROUNDS} | x baseline |")
    print("| --- | --- | --- |")
    for label, seconds in rows:
        print(f"| {label} | {seconds * 1000:.3f} ms | {seconds / baseline:.1f} |")
    print(f"\nthe gate refuses {unbounded / refused:.0f}x faster than an unbounded parse")


if __name__ == "__main__":
    main()
