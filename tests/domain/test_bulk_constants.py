"""`bulk._constants` without a model instance (`_shape`) stores what the instance would: the
same columns and the same stored value of every default and every given field, for each insert
the domain sends; and it steps aside where defaults are made per insert."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tortoise import timezone
from tortoise.models import Model

from milestones.domain import bulk
from milestones.models import ContractEvent, EmailOutbox, LedgerEntry, Notification, User
from milestones.models.enums import EventKind, LedgerKind

NOW = dt.datetime(2026, 12, 6, 20, 30, tzinfo=dt.UTC)

# (model, shared, varying): as events.record, events._notify_all, escrow.append_entries and
# the email outbox send them.
INSERTS: list[tuple[type[Model], dict[str, Any], list[str]]] = [
    (
        ContractEvent,
        {
            "contract_id": 1,
            "seq": 4,
            "kind": EventKind.MILESTONE_ACTIVATED,
            "actor_id": 2,
            "milestone_id": 3,
            "change_request_id": None,
            "refund_request_id": None,
            "dispute_id": None,
            "note": None,
            "amount": 1000,
            "occurred_at": NOW,
        },
        [],
    ),
    (
        Notification,
        {
            "event_id": 9,
            "kind": EventKind.MILESTONE_APPROVED,
            "contract_id": 1,
            "actor_id": 2,
            "message": "Released “Design”",
            "note": "thanks",
            "amount": 500,
            "created_at": NOW,
        },
        ["recipient_id", "seq"],
    ),
    (LedgerEntry, {"contract_id": 1, "created_at": NOW}, ["kind", "amount", "milestone_id"]),
    (
        EmailOutbox,
        {
            "subject": "Released",
            "body": "Released “Design”\n",
            "details": '{"kind": "MILESTONE_APPROVED"}',
            "next_attempt_at": NOW,
            "created_at": NOW,
        },
        ["notification_id", "to_address"],
    ),
]


def _with_an_instance(
    model: type[Model], shared: dict[str, Any], varying: list[str]
) -> tuple[list[tuple[str, str]], dict[str, object]]:
    template = model(**shared)
    meta = model._meta
    columns = [(n, c) for n, c in meta.fields_db_projection.items() if c != meta.db_pk_column]
    values = {n: getattr(template, n) for n, _ in columns if n not in varying}
    return columns, bulk._stored(template, values)


@pytest.mark.parametrize(
    "model, shared, varying", INSERTS, ids=lambda x: getattr(x, "__name__", "")
)
async def test_the_constants_are_those_of_a_model_instance(
    db: None, model: type[Model], shared: dict[str, Any], varying: list[str]
) -> None:
    assert bulk._shape(model, frozenset(shared), frozenset(varying)) is not None  # the fast way
    instance_of, columns, constant = bulk._constants(model, shared, varying)
    assert instance_of is model
    assert (columns, constant) == _with_an_instance(model, shared, varying)


async def test_a_null_where_none_may_be_is_refused_as_the_model_would(db: None) -> None:
    with pytest.raises(ValueError, match="non nullable"):
        bulk._constants(LedgerEntry, {"contract_id": None, "created_at": NOW}, ["kind"])


async def test_a_timestamp_left_to_the_model_is_made_per_insert(db: None) -> None:
    """Without `created_at` the model stamps it: no shape, a fresh instance each time."""
    assert bulk._shape(LedgerEntry, frozenset({"contract_id"}), frozenset({"kind"})) is None
    before = timezone.now()
    _, _, constant = bulk._constants(LedgerEntry, {"contract_id": 1}, ["kind", "amount"])
    stamped = constant["created_at"]
    assert isinstance(stamped, dt.datetime) and stamped >= before
    # Given as None: refused, as the model refuses it.
    with pytest.raises(ValueError, match="non nullable"):
        bulk._constants(LedgerEntry, {"contract_id": 1, "created_at": None}, ["kind"])


def test_a_model_with_an_auto_now_column_has_no_shape(db: None) -> None:
    """`User.updated_at` is stamped on every write: never a constant."""
    given = frozenset({"sub", "name", "created_at", "updated_at"})
    assert bulk._shape(User, given, frozenset()) is None


# As escrow.append_entries sends the ledger's rows.
LEDGER_SHARED = {"contract_id": 1, "created_at": NOW}
LEDGER_VARYING = ["kind", "amount", "milestone_id"]


def _ledger_columns() -> list[tuple[str, str]]:
    return bulk._constants(LedgerEntry, LEDGER_SHARED, LEDGER_VARYING)[1]


def _values_sql(rows: int, postgres: bool, offset: int = 0) -> tuple[str, list[object]]:
    template, columns, constant = bulk._constants(LedgerEntry, LEDGER_SHARED, LEDGER_VARYING)
    values: list[object] = []
    sql = bulk._values_sql(
        LedgerEntry,
        template,
        columns,
        constant,
        [{"kind": LedgerKind.DEPOSIT, "amount": n, "milestone_id": None} for n in range(rows)],
        values,
        postgres,
        offset,
    )
    return sql, values


@pytest.mark.parametrize("postgres", [True, False])
def test_a_kept_insert_text_is_the_one_built_anew(db: None, postgres: bool) -> None:
    for rows, offset in ((1, 0), (3, 2)):
        kept, values = _values_sql(rows, postgres, offset)
        names = tuple(column for _, column in _ledger_columns())
        built = bulk._values_text.__wrapped__(
            LedgerEntry._meta.db_table, names, rows, postgres, offset + 1
        )
        assert kept == built
        marks = kept.count("$") if postgres else kept.count("?")
        assert marks == len(values) == rows * len(names)


def test_only_small_insert_texts_are_kept(db: None) -> None:
    """The caches of statement texts hold a bounded number of bytes."""
    bulk._values_text.cache_clear()
    _values_sql(2, True)
    assert bulk._values_text.cache_info().currsize == 1
    large = bulk.MAX_KEPT_VALUES // len(_ledger_columns()) + 1
    sql, values = _values_sql(large, True)
    assert len(values) > bulk.MAX_KEPT_VALUES and f"${len(values)})" in sql
    assert bulk._values_text.cache_info().currsize == 1
