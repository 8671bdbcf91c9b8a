"""Arguments that several fields share, each with its description written once."""

from __future__ import annotations

from typing import Annotated, TypeVar

import strawberry

First = Annotated[
    int | None,
    strawberry.argument(
        description="How many items to return: 0 to 100 (more is a VALIDATION error); default 20."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(
        description="A cursor from this list (an edge's `cursor`, or `pageInfo.endCursor`): "
        "return the items after it. Omitted: from the start."
    ),
]
ResumeAfter = Annotated[
    str | None,
    strawberry.argument(
        description="The last cursor the client saw: first everything after it is delivered, "
        "oldest first, then live ones. Omitted: only what happens from now on."
    ),
]

T = TypeVar("T")
# Every mutation takes one `input` object: its type's fields say what each value is.
MutationInput = Annotated[
    T,
    strawberry.argument(
        description="What to act on and how; each field of the input type is described there."
    ),
]
