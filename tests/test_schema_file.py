"""`schema.graphql` at the project root is generated from the code and must match it."""

from __future__ import annotations

import difflib
from pathlib import Path

from milestones.schema.root import export_sdl

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_file_matches_the_code() -> None:
    assert SCHEMA_FILE.is_file(), f"{SCHEMA_FILE} is missing: run `make schema`"
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    exported = export_sdl()  # exactly what `milestones export-schema` writes
    if committed != exported:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                exported.splitlines(keepends=True),
                fromfile="schema.graphql (committed)",
                tofile="schema.graphql (from the code)",
            )
        )
        raise AssertionError(f"schema.graphql is out of date: run `make schema`\n{diff}")
