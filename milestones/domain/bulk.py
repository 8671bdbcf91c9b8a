"""Many rows in one INSERT statement, their ids returned (tortoise's `bulk_create` runs one
statement per row on some drivers and returns no ids).

The columns and their stored values come from the model itself (`to_db_value` of every field,
defaults from one model instance), so a column another migration adds with a Python default is
written as `Model.create` would. No model instance is made per row: for fifty rows that is
most of the cost.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any, Final

from tortoise import connections
from tortoise.models import Model

# PostgreSQL takes at most 32767 parameters per statement; SQLite (3.32+) 32766.
MAX_PARAMETERS: Final = 30_000
# Statement texts are kept by shape (`_values_text`, `_returning`) only for inserts of at most
# this many values: a few KiB each, so those caches hold a bounded number of bytes. A larger
# insert (a rare bulk write) builds its text each time.
MAX_KEPT_VALUES: Final = 256


@dataclass(frozen=True, slots=True)
class Increment:
    """A value of an `Update`: the column plus `by` (`"column" = "column" + by`), whatever it
    holds when the statement runs."""

    by: int


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
        increments = tuple(isinstance(value, Increment) for value in self.values.values())
        sql = _update_sql(
            self.table, tuple(self.values), increments, tuple(self.where), postgres, first
        )
        values = [v.by if isinstance(v, Increment) else v for v in self.values.values()]
        return sql, [*values, *self.where.values()]


@functools.lru_cache(maxsize=256)
def _update_sql(
    table: str,
    columns: tuple[str, ...],
    increments: tuple[bool, ...],
    where: tuple[str, ...],
    postgres: bool,
    first: int,
) -> str:
    """The text of an `Update` of this shape (kept: the same few shapes come every action,
    and the same text object is hashed once by the driver's statement cache). Keys: tables
    and columns from this code, never from a client."""
    marks = (f"${n}" if postgres else "?" for n in itertools.count(first))
    sets = ", ".join(
        f'"{column}" = "{column}" + {next(marks)}' if increment else f'"{column}" = {next(marks)}'
        for column, increment in zip(columns, increments, strict=True)
    )
    condition = " AND ".join(f'"{column}" = {next(marks)}' for column in where)
    return f'UPDATE "{table}" SET {sets} WHERE {condition}'


@dataclass(frozen=True, slots=True)
class Insert:
    """`INSERT INTO <model> ... VALUES` of `rows` (their own fields, each also with `shared`
    and the model's defaults, as `insert_many`), carried by another statement as a
    data-modifying WITH clause: nothing comes back from it (`write_clauses`)."""

    model: type[Model]
    shared: Mapping[str, Any]
    rows: Sequence[Mapping[str, Any]]


def merged(updates: Sequence[Update]) -> list[Update]:
    """The updates, those of the same rows (table and filter) made one, in first-seen order:
    PostgreSQL applies only one of two changes a statement makes to a row."""
    by_row: dict[tuple[str, tuple[tuple[str, object], ...]], dict[str, object]] = {}
    for update in updates:
        values = by_row.setdefault((update.table, tuple(update.where.items())), {})
        for column, value in update.values.items():
            if column in values:
                raise ValueError(f"{update.table}.{column} set twice in one statement")
            values[column] = value
    return [Update(table, values, dict(where)) for (table, where), values in by_row.items()]


def write_clauses(writes: Sequence[Update | Insert]) -> tuple[str, list[object]]:
    """PostgreSQL: `writes` as data-modifying WITH clauses (`also0 AS (UPDATE ...), ...`,
    updates of the same row merged), their parameters numbered from 1, for the statement that
    carries them. None of them sees another's change, or the carrying statement theirs: each
    writes rows the others do not read."""
    texts: list[str] = []
    values: list[object] = []
    for update in merged([write for write in writes if isinstance(write, Update)]):
        update_sql, update_values = update.sql(True, len(values) + 1)
        texts.append(update_sql)
        values.extend(update_values)
    for insert in (write for write in writes if isinstance(write, Insert)):
        if not insert.rows:
            continue
        template, columns, constant = _constants(insert.model, insert.shared, set(insert.rows[0]))
        if len(insert.rows) * len(columns) + len(values) > MAX_PARAMETERS:
            raise ValueError("writes carried by a statement fit in it")
        texts.append(
            _values_sql(insert.model, template, columns, constant, insert.rows, values, True)
        )
    return _with_clauses(tuple(texts)), values


@functools.lru_cache(maxsize=256)
def _with_clauses(texts: tuple[str, ...]) -> str:
    return ", ".join(f"also{number} AS ({text})" for number, text in enumerate(texts))


async def run_updates(updates: Sequence[Update]) -> None:
    """The updates on their own, one statement each (nothing to insert with them)."""
    connection = connections.get("default")
    postgres = connection.capabilities.dialect == "postgres"
    for update in updates:
        await connection.execute_query(*update.sql(postgres, 1))


def _stored(target: Model | type[Model], fields: Mapping[str, Any]) -> dict[str, object]:
    """Column name -> value as the model stores it, for fields named by field name."""
    meta = target._meta
    return {
        meta.fields_db_projection[name]: meta.fields_map[name].to_db_value(value, target)
        for name, value in fields.items()
    }


def model_update(model: type[Model], values: Mapping[str, Any], where: Mapping[str, Any]) -> Update:
    """`UPDATE` of the model's rows matching `where`, by field name (values as stored)."""
    return Update(model._meta.db_table, _stored(model, values), _stored(model, where))


def instance_update(instance: Model, names: Sequence[str]) -> Update:
    """The UPDATE that `instance.save(update_fields=names)` would send (values as stored)."""
    values = _stored(instance, {name: getattr(instance, name) for name in names})
    return Update(instance._meta.db_table, values, {instance._meta.db_pk_column: instance.pk})


def _constants(
    model: type[Model], shared: Mapping[str, Any], varying: Iterable[str]
) -> tuple[Model | type[Model], list[tuple[str, str]], dict[str, object]]:
    """The model's columns but its key, by field name, and the stored value of each field not
    in `varying`: from `shared` and the model's defaults; and what to convert the varying
    values with (`to_db_value`'s instance). Where the defaults are the same every time
    (`_shape`), without a model instance; else from one (`template`), as `Model.create` would."""
    varying = frozenset(varying)
    shape = _shape(model, frozenset(shared), varying)
    if shape is not None and all(shared[name] is not None for name in shape.timestamps):
        fields = model._meta.fields_map
        constant = dict(shape.defaults)
        for name, value in shared.items():
            field = fields[name]
            if value is None and not field.null:
                raise ValueError(f"{name} is non nullable field, but null was passed")
            constant[shape.column_of[name]] = field.to_db_value(field.to_python_value(value), model)
        return model, shape.columns, constant
    meta = model._meta
    template = model(**shared)  # the defaults, once (fields not given are left unset)
    columns = [
        (name, column)
        for name, column in meta.fields_db_projection.items()
        if column != meta.db_pk_column
    ]
    constant = _stored(
        template, {name: getattr(template, name) for name, _ in columns if name not in varying}
    )
    return template, columns, constant


@dataclass(frozen=True, slots=True)
class _Shape:
    columns: list[tuple[str, str]]  # (field name, column), the key left out
    column_of: dict[str, str]
    # Column -> stored default, for the fields neither given nor varying.
    defaults: dict[str, object]
    timestamps: tuple[str, ...]  # given fields that Model.create would stamp itself if None


@functools.cache
def _shape(model: type[Model], given: frozenset[str], varying: frozenset[str]) -> _Shape | None:
    """What every insert of `model` with these fields `given` (and `varying` per row) shares,
    when it is the same each time: no callable default and no `auto_now_add` among the fields
    left to their defaults, no `auto_now` field at all (their values are made per insert);
    None otherwise. Keys: models and field names from this code, never from a client."""
    meta = model._meta
    columns = [
        (name, column)
        for name, column in meta.fields_db_projection.items()
        if column != meta.db_pk_column
    ]
    defaults: dict[str, object] = {}
    for name, column in columns:
        field = meta.fields_map[name]
        if getattr(field, "auto_now", False):
            return None
        if name in given or name in varying:
            continue
        if callable(field.default) or getattr(field, "auto_now_add", False):
            return None
        default = field.default
        if default is None and field.has_db_default():
            default = field.get_db_default_value()
        defaults[column] = field.to_db_value(default, model)
    if any(getattr(meta.fields_map[name], "auto_now_add", False) for name in varying):
        return None
    timestamps = tuple(n for n in given if getattr(meta.fields_map[n], "auto_now_add", False))
    return _Shape(columns, dict(columns), defaults, timestamps)


def insert_select_sql(
    model: type[Model], shared: Mapping[str, Any], source: str, taken: Mapping[str, str], first: int
) -> tuple[str, list[object]]:
    """PostgreSQL: `INSERT INTO <model> (...) SELECT ... FROM <source>`, the fields `taken`
    (field name -> SQL of `source`) from it, every other one from `shared` and the model's
    defaults as parameters numbered from `first`, each cast to its column's type (a parameter
    in a SELECT has none of its own). The caller adds RETURNING."""
    _, columns, constant = _constants(model, shared, taken)
    sql, parameters = _insert_select_text(
        model, tuple(columns), tuple(taken.items()), source, first
    )
    return sql, [constant[column] for column in parameters]


@functools.lru_cache(maxsize=256)
def _insert_select_text(
    model: type[Model],
    columns: tuple[tuple[str, str], ...],
    taken: tuple[tuple[str, str], ...],
    source: str,
    first: int,
) -> tuple[str, tuple[str, ...]]:
    """The text of `insert_select_sql` for this shape, and the columns its parameters are the
    values of, in order (kept, as `_update_sql`)."""
    sql_types = _postgres_types(model)
    from_source = dict(taken)
    names, selected, parameters = [], [], list[str]()
    for name, column in columns:
        names.append(f'"{column}"')
        if name in from_source:
            selected.append(from_source[name])
            continue
        parameters.append(column)
        selected.append(f"${first + len(parameters) - 1}::{sql_types[name]}")
    sql = (
        f'INSERT INTO "{model._meta.db_table}" ({", ".join(names)}) '
        f"SELECT {', '.join(selected)} FROM {source}"
    )
    return sql, tuple(parameters)


@functools.cache
def _postgres_types(model: type[Model]) -> dict[str, str]:
    """Field name -> the column's PostgreSQL type (the casts of `insert_select_sql`)."""
    fields = model._meta.fields_map
    return {
        name: fields[name].get_for_dialect("postgres", "SQL_TYPE")
        for name in model._meta.fields_db_projection
    }


def _values_sql(
    model: type[Model],
    template: Model | type[Model],
    columns: Sequence[tuple[str, str]],
    constant: Mapping[str, object],
    rows: Sequence[Mapping[str, Any]],
    values: list[object],
    postgres: bool,
    offset: int = 0,
) -> str:
    """`INSERT INTO <model> (<columns>) VALUES (...), ...` of `rows` (their own fields; every
    other column `constant`), their parameters appended to `values` and numbered, on
    PostgreSQL, after `offset` and those already there."""
    fields = model._meta.fields_map
    first = offset + len(values) + 1
    for row in rows:
        for name, column in columns:
            if name in row:
                values.append(fields[name].to_db_value(row[name], template))
            else:
                values.append(constant[column])
    names = tuple(column for _, column in columns)
    build = _values_text if _kept(rows, columns) else _values_text.__wrapped__
    return build(model._meta.db_table, names, len(rows), postgres, first)


def _kept(rows: Sized, columns: Sized) -> bool:
    return len(rows) * len(columns) <= MAX_KEPT_VALUES


@functools.lru_cache(maxsize=256)
def _values_text(
    table: str, columns: tuple[str, ...], rows: int, postgres: bool, first: int
) -> str:
    """The text of `_values_sql` for this shape (kept, as `_update_sql`)."""
    width = len(columns)
    tuples = (
        "("
        + ", ".join(f"${first + row * width + n}" if postgres else "?" for n in range(width))
        + ")"
        for row in range(rows)
    )
    names = ", ".join(f'"{column}"' for column in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES {", ".join(tuples)}'


@functools.lru_cache(maxsize=256)
def _returning(clauses: str, insert: str, pk_column: str) -> str:
    """`insert_many`'s statement (kept: its parts are kept texts, as `_update_sql`)."""
    prefix = f"WITH {clauses} " if clauses else ""
    return f'{prefix}{insert} RETURNING "{pk_column}"'


def insert_values_sql(
    model: type[Model], shared: Mapping[str, Any], first: int
) -> tuple[str, list[object]]:
    """PostgreSQL: the `INSERT INTO <model> (...) VALUES (...)` of one row (`shared` and the
    model's defaults), its parameters numbered from `first`, to send as a WITH clause of
    another statement; the caller adds RETURNING."""
    template, columns, constant = _constants(model, shared, ())
    values: list[object] = []
    sql = _values_sql(model, template, columns, constant, [{}], values, True, first - 1)
    return sql, values


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
    clauses, prefix_values = "", list[object]()
    if also and not postgres:
        await run_updates(also)
    elif also:
        clauses, prefix_values = write_clauses(also)
    pk_column = meta.db_pk_column
    varying = set(rows[0])
    template, columns, constant = _constants(model, shared, varying)
    per_statement = max(1, MAX_PARAMETERS // len(columns))
    ids: list[int] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        if clauses and start > 0:
            raise ValueError("an insert sent with an update fits one statement")
        values: list[object] = list(prefix_values)
        insert = _values_sql(model, template, columns, constant, chunk, values, postgres)
        build = _returning if _kept(chunk, columns) else _returning.__wrapped__
        sql = build(clauses, insert, pk_column)
        returned = await connection.execute_query_dict(sql, values)
        # One statement's rows take ascending ids in VALUES order (a sequence, or SQLite's
        # rowid); RETURNING may list them in any order.
        ids.extend(sorted(int(found[pk_column]) for found in returned))
    return ids
