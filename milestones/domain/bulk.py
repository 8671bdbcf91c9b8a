"""Many rows in one INSERT statement, their ids returned (tortoise's `bulk_create` runs one
statement per row on some drivers and returns no ids).

The columns and their stored values come from the model itself (`to_db_value` of every field,
defaults from one model instance), so a column another migration adds with a Python default is
written as `Model.create` would. No model instance is made per row: for fifty rows that is
most of the cost.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tortoise import connections
from tortoise.models import Model

# PostgreSQL takes at most 32767 parameters per statement; SQLite (3.32+) 32766.
MAX_PARAMETERS: Final = 30_000


@dataclass(frozen=True, slots=True)
class Update:
    """`UPDATE table SET <values> WHERE <where>` (column names to stored values; the filter
    by equality), sent with an INSERT (`insert_many(..., also=...)`): in the same statement on
    PostgreSQL (a data-modifying WITH), just before it on SQLite. The updates and the INSERT
    touch different rows: none sees another's change in that statement, and none needs to."""

    table: str
    values: Mapping[str, object]
    where: Mapping[str, object]

    def sql(self, postgres: bool, first: int) -> tuple[str, list[object]]:
        """The statement, its parameters numbered from `first` on PostgreSQL."""
        marks = (f"${n}" if postgres else "?" for n in itertools.count(first))
        sets = ", ".join(f'"{column}" = {next(marks)}' for column in self.values)
        where = " AND ".join(f'"{column}" = {next(marks)}' for column in self.where)
        sql = f'UPDATE "{self.table}" SET {sets} WHERE {where}'
        return sql, [*self.values.values(), *self.where.values()]


async def run_updates(updates: Sequence[Update]) -> None:
    """The updates on their own, one statement each (nothing to insert with them)."""
    connection = connections.get("default")
    postgres = connection.capabilities.dialect == "postgres"
    for update in updates:
        await connection.execute_query(*update.sql(postgres, 1))


def model_update(model: type[Model], values: Mapping[str, Any], where: Mapping[str, Any]) -> Update:
    """`UPDATE` of the model's rows matching `where`, by field name (values as stored)."""
    meta = model._meta

    def stored(fields: Mapping[str, Any]) -> dict[str, object]:
        return {
            meta.fields_db_projection[name]: meta.fields_map[name].to_db_value(value, model)
            for name, value in fields.items()
        }

    return Update(meta.db_table, stored(values), stored(where))


def instance_update(instance: Model, names: Sequence[str]) -> Update:
    """The UPDATE that `instance.save(update_fields=names)` would send (values as stored)."""
    meta = instance._meta
    values = {
        meta.fields_db_projection[name]: meta.fields_map[name].to_db_value(
            getattr(instance, name), instance
        )
        for name in names
    }
    return Update(meta.db_table, values, {meta.db_pk_column: instance.pk})


async def insert_many(
    model: type[Model],
    shared: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    *,
    also: Sequence[Update] = (),
) -> list[int]:
    """INSERT one row per item of `rows` (its own fields), each also with `shared` and the
    model's defaults, in one statement per 30,000 values; their ids, in the order of `rows`.
    Every row names the same fields; `shared` holds what `Model.create` would set itself
    (auto_now timestamps too). `also`: updates the insert goes with (rows fit one statement)."""
    if not rows:
        return []
    meta = model._meta
    connection = connections.get(meta.default_connection or "default")
    postgres = connection.capabilities.dialect == "postgres"
    prefix, prefix_values = "", list[object]()
    if also and not postgres:
        await run_updates(also)
    elif also:
        ctes = []
        for number, update in enumerate(also):
            update_sql, update_values = update.sql(postgres, len(prefix_values) + 1)
            ctes.append(f"also{number} AS ({update_sql})")
            prefix_values.extend(update_values)
        prefix = f"WITH {', '.join(ctes)} "
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
