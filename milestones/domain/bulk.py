"""Many rows in one INSERT statement, their ids returned (tortoise's `bulk_create` runs one
statement per row on some drivers and returns no ids).

The columns and their stored values come from the model itself (`to_db_value` of every field),
so a column another migration adds with a Python default is written as `Model.create` would.
"""

from __future__ import annotations

from typing import Final, TypeVar

from tortoise import connections
from tortoise.models import Model

M = TypeVar("M", bound=Model)

# PostgreSQL takes at most 32767 parameters per statement; SQLite (3.32+) 32766.
MAX_PARAMETERS: Final = 30_000


async def insert_rows(rows: list[M]) -> list[M]:
    """INSERT `rows` (unsaved, of one model) in one statement per 30,000 values; each row gets
    its id. Rows must have every value set that `Model.create` would set (auto_now ones too)."""
    if not rows:
        return rows
    meta = type(rows[0])._meta
    connection = connections.get(meta.default_connection or "default")
    postgres = connection.capabilities.dialect == "postgres"
    pk_column = meta.db_pk_column
    columns = [
        (name, column) for name, column in meta.fields_db_projection.items() if column != pk_column
    ]
    per_statement = max(1, MAX_PARAMETERS // len(columns))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values: list[object] = []
        tuples: list[str] = []
        for row in chunk:
            marks = []
            for name, _ in columns:
                values.append(meta.fields_map[name].to_db_value(getattr(row, name), row))
                marks.append(f"${len(values)}" if postgres else "?")
            tuples.append("(" + ", ".join(marks) + ")")
        sql = (
            f'INSERT INTO "{meta.db_table}" ('
            + ", ".join(f'"{column}"' for _, column in columns)
            + ") VALUES "
            + ", ".join(tuples)
            + f' RETURNING "{pk_column}"'
        )
        returned = await connection.execute_query_dict(sql, values)
        # One statement's rows take ascending ids in VALUES order (a sequence, or SQLite's
        # rowid); RETURNING may list them in any order.
        ids = sorted(int(found[pk_column]) for found in returned)
        for row, pk in zip(chunk, ids, strict=True):
            row.pk = pk
            row._saved_in_db = True
    return rows
