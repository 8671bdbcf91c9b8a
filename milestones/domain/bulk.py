"""Many rows in one INSERT statement, their ids returned (tortoise's `bulk_create` runs one
statement per row on some drivers and returns no ids).

The columns and their stored values come from the model itself (`to_db_value` of every field,
defaults from one model instance), so a column another migration adds with a Python default is
written as `Model.create` would. No model instance is made per row: for fifty rows that is
most of the cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tortoise import connections
from tortoise.models import Model

# PostgreSQL takes at most 32767 parameters per statement; SQLite (3.32+) 32766.
MAX_PARAMETERS: Final = 30_000


@dataclass(frozen=True, slots=True)
class SetColumn:
    """`UPDATE table SET column = value WHERE id = pk`, sent with an INSERT: in the same
    statement on PostgreSQL (a data-modifying WITH), just before it on SQLite."""

    table: str
    column: str
    value: object
    pk: int


async def insert_many(
    model: type[Model],
    shared: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    *,
    also: SetColumn | None = None,
) -> list[int]:
    """INSERT one row per item of `rows` (its own fields), each also with `shared` and the
    model's defaults, in one statement per 30,000 values; their ids, in the order of `rows`.
    Every row names the same fields; `shared` holds what `Model.create` would set itself
    (auto_now timestamps too). `also`: an update the insert goes with (rows fit one statement)."""
    if not rows:
        return []
    meta = model._meta
    connection = connections.get(meta.default_connection or "default")
    postgres = connection.capabilities.dialect == "postgres"
    prefix, prefix_values = "", []
    if also is not None:
        update = f'UPDATE "{also.table}" SET "{also.column}" = {{}} WHERE "id" = {{}}'
        if postgres:
            prefix, prefix_values = (
                f"WITH also AS ({update.format('$1', '$2')}) ",
                [also.value, also.pk],
            )
        else:
            await connection.execute_query(update.format("?", "?"), [also.value, also.pk])
    pk_column = meta.db_pk_column
    template = model(**shared, **rows[0])  # the defaults, once
    varying = set(rows[0])
    columns = [
        (name, column) for name, column in meta.fields_db_projection.items() if column != pk_column
    ]
    constant = {
        name: meta.fields_map[name].to_db_value(getattr(template, name), template)
        for name, _ in columns
        if name not in varying
    }
    converters = {name: meta.fields_map[name] for name in varying}
    per_statement = max(1, MAX_PARAMETERS // len(columns))
    ids: list[int] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        if prefix and start > 0:
            raise ValueError("an insert sent with an update fits one statement")
        values: list[object] = list(prefix_values)
        tuples: list[str] = []
        for row in chunk:
            marks = []
            for name, _ in columns:
                if name in converters:
                    values.append(converters[name].to_db_value(row[name], template))
                else:
                    values.append(constant[name])
                marks.append(f"${len(values)}" if postgres else "?")
            tuples.append("(" + ", ".join(marks) + ")")
        sql = (
            prefix
            + f'INSERT INTO "{meta.db_table}" ('
            + ", ".join(f'"{column}"' for _, column in columns)
            + ") VALUES "
            + ", ".join(tuples)
            + f' RETURNING "{pk_column}"'
        )
        returned = await connection.execute_query_dict(sql, values)
        # One statement's rows take ascending ids in VALUES order (a sequence, or SQLite's
        # rowid); RETURNING may list them in any order.
        ids.extend(sorted(int(found[pk_column]) for found in returned))
    return ids
