"""Money and dates. Inputs are parsed leniently here and checked in the domain, so a bad value
is a VALIDATION user error naming its field rather than a GraphQL error."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry
from strawberry.types.scalar import ScalarDefinition

from milestones.domain.values import cents_to_decimal


def _serialize_money(value: object) -> str:
    if isinstance(value, int):
        value = cents_to_decimal(value)
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    raise TypeError(f"not an amount of money: {value!r}")


def _parse_raw(value: object) -> object:
    return value


Money = strawberry.scalar(
    name="Decimal",
    description='Money: a string with exactly two decimal places, e.g. "1500.00". '
    "Inputs also take an integer; floats are refused.",
    serialize=_serialize_money,
    parse_value=_parse_raw,
)


def _serialize_date(value: object) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not a date: {value!r}")


Date = strawberry.scalar(
    name="Date",
    description="A calendar date, YYYY-MM-DD.",
    serialize=_serialize_date,
    parse_value=_parse_raw,
)

# Python types in the schema's classes -> how GraphQL reads and writes them.
SCALAR_MAP: dict[object, ScalarDefinition] = {Decimal: Money, dt.date: Date}
