"""Typed refusals: the codes of the public contract, with the input field they concern.

`field` is a path into the command, in the command's own names (`release_amount`,
`changes.1.milestone_id`); the API front spells it the way its clients wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    VALIDATION = "VALIDATION"
    CONTRACT_ENDED = "CONTRACT_ENDED"
    MILESTONE_NOT_UPCOMING = "MILESTONE_NOT_UPCOMING"
    MILESTONE_NOT_ACTIVE = "MILESTONE_NOT_ACTIVE"
    MILESTONE_NOT_SUBMITTED = "MILESTONE_NOT_SUBMITTED"
    ANOTHER_MILESTONE_ACTIVE = "ANOTHER_MILESTONE_ACTIVE"
    CHANGE_REQUEST_PENDING = "CHANGE_REQUEST_PENDING"
    REFUND_REQUEST_PENDING = "REFUND_REQUEST_PENDING"
    NOT_PENDING = "NOT_PENDING"
    FUNDS_IN_ESCROW = "FUNDS_IN_ESCROW"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    CONTRACT_NOT_ACCEPTED = "CONTRACT_NOT_ACCEPTED"


@dataclass(frozen=True, slots=True)
class Problem:
    code: ErrorCode
    message: str
    field: str | None = None


class DomainError(Exception):
    """An expected refusal. The action's transaction is rolled back: nothing changed."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def refuse(code: ErrorCode, message: str, field: str | None = None) -> DomainError:
    return DomainError(Problem(code, message, field))


def not_found(what: str, field: str | None) -> DomainError:
    return refuse(ErrorCode.NOT_FOUND, f"{what} not found.", field)


class Validation:
    """Collects one VALIDATION problem per bad field, then refuses them all at once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, field: str | None, message: str) -> None:
        self.problems.append(Problem(ErrorCode.VALIDATION, message, field))

    @property
    def found(self) -> tuple[Problem, ...]:
        return tuple(self.problems)

    def raise_if_any(self) -> None:
        if self.problems:
            raise DomainError(*self.problems)


def refuse_if(problem: Problem | None) -> None:
    """Raise a rule's answer, if it refuses."""
    if problem is not None:
        raise DomainError(problem)
