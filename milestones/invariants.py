"""Every invariant of the whole database, re-derived from the stored rows.

`milestones check-invariants` runs this and prints each breach. It reads with plain SQL and its
own arithmetic rather than the code it checks; it also compares its escrow figures with the
ones the API reports (`domain.escrow`), so the two derivations keep each other honest.

Checked, per contract unless said otherwise:
- escrow from the ledger: held = funded - released - refunded >= 0, available >= 0, and both
  equal what `domain.escrow` derives;
- the contract's running sums (`ledger_deposited`, `_released`, `_refunded`, `_bonus`) equal
  its ledger's;
- ledger rows: positive amounts; ALLOCATE names a milestone of the same contract (RELEASE and
  REFUND name one, or none when they pay out of `available`), DEPOSIT names none;
- each milestone: released + refunded <= funded; an ACTIVE/SUBMITTED one holds exactly its
  amount (or, once part of it was paid when the contract ended, less, but something); a
  REFUNDED one holds nothing and released nothing; a RELEASED one released something and
  was refunded only what it held after that (an ending's rest); an UPCOMING or deleted one
  moved no money;
- at most one ACTIVE/SUBMITTED milestone, one pending change request, one pending refund
  request (on the funded milestone, or on none: an ended contract's `available` money), one
  open dispute; an ended contract holds nothing but what its pending refund request or open
  dispute decides, and has no pending change request;
- disputes: an open one's money is held (its amount is at most the contract's held money
  and, for a milestone, at most what the milestone holds); a resolved one's released +
  refunded equals its amount; a DISPUTED refund request has its dispute;
- live milestones' positions are 1..n;
- the event log's seq is 1..n with n = contracts.event_seq; per user, notification seq is
  1..n with n = users.notification_seq;
- each notification's event (when it has one), contract and actor exist, and its contract and
  actor are its event's (PostgreSQL has no foreign-key checks on these copies: migration 0017).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tortoise import connections

FUNDED = ("ACTIVE", "SUBMITTED")
OPEN_DISPUTES = ("AWAITING_CLIENT", "IN_MEDIATION")


@dataclass(frozen=True, slots=True)
class Breach:
    subject: str  # "contract 12", "milestone 40", "user 3"
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.rule}: {self.detail}"


@dataclass
class Report:
    breaches: list[Breach] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.breaches

    def breach(self, subject: str, rule: str, detail: str) -> None:
        self.breaches.append(Breach(subject, rule, detail))


@dataclass
class _Money:
    deposit: int = 0
    allocate: int = 0
    release: int = 0
    refund: int = 0
    bonus: int = 0


def _check_running_sums(
    report: Report, subject: str, contract: dict[str, Any], money: _Money
) -> None:
    kept = tuple(
        int(contract[f"ledger_{name}"]) for name in ("deposited", "released", "refunded", "bonus")
    )
    # `money` counts a bonus as deposited and released too; the sums are by kind.
    summed = (money.deposit - money.bonus, money.release - money.bonus, money.refund, money.bonus)
    if kept != summed:
        report.breach(
            subject,
            "running sums equal the ledger",
            f"deposited, released, refunded, bonus kept as {kept}, the ledger sums {summed}",
        )


async def _rows(sql: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await connections.get("default").execute_query_dict(sql)
    return rows


async def check_invariants() -> Report:
    """Check the database the ORM is connected to; nothing is changed."""
    report = Report()
    contracts = await _rows(
        "SELECT id, status, event_seq, ledger_deposited, ledger_released, ledger_refunded, "
        "ledger_bonus FROM contracts ORDER BY id"
    )
    milestones = await _rows(
        "SELECT id, contract_id, position, status, amount, "
        "CASE WHEN deleted_at IS NULL THEN 0 ELSE 1 END AS deleted FROM milestones ORDER BY id"
    )
    ledger = await _rows(
        "SELECT l.id, l.contract_id, l.milestone_id, l.kind, l.amount, "
        "m.contract_id AS milestone_contract_id FROM ledger_entries l "
        "LEFT JOIN milestones m ON m.id = l.milestone_id ORDER BY l.id"
    )
    report.counts = {
        "contracts": len(contracts),
        "milestones": len(milestones),
        "ledger entries": len(ledger),
    }
    by_contract: dict[int, _Money] = defaultdict(_Money)
    by_milestone: dict[int, _Money] = defaultdict(_Money)
    _check_ledger_rows(report, ledger, by_contract, by_milestone)
    milestones_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for milestone in milestones:
        milestones_of[milestone["contract_id"]].append(milestone)
        _check_milestone_money(report, milestone, by_milestone[milestone["id"]])
    pending_changes = await _counts(
        "SELECT contract_id, COUNT(*) AS n FROM change_requests WHERE status = 'PENDING' "
        "GROUP BY contract_id"
    )
    pending_refunds = await _rows(
        "SELECT r.id, r.contract_id, r.milestone_id, r.amount, m.status AS milestone_status, "
        "m.contract_id AS milestone_contract_id FROM refund_requests r "
        "LEFT JOIN milestones m ON m.id = r.milestone_id WHERE r.status = 'PENDING'"
    )
    disputes = await _rows(
        "SELECT d.id, d.contract_id, d.milestone_id, d.refund_request_id, d.amount, d.status, "
        "d.released_amount, d.refunded_amount, r.status AS refund_status "
        "FROM disputes d LEFT JOIN refund_requests r ON r.id = d.refund_request_id ORDER BY d.id"
    )
    disputes_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for dispute in disputes:
        disputes_of[dispute["contract_id"]].append(dispute)
    disputed_refunds = await _rows(
        "SELECT r.id, r.contract_id FROM refund_requests r WHERE r.status = 'DISPUTED' "
        "AND NOT EXISTS (SELECT 1 FROM disputes d WHERE d.refund_request_id = r.id)"
    )
    for refund in disputed_refunds:
        report.breach(f"refund request {refund['id']}", "a disputed refund has its dispute", "none")
    refunds_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for refund in pending_refunds:
        refunds_of[refund["contract_id"]].append(refund)
    reported = await _reported_escrow([contract["id"] for contract in contracts])
    for contract in contracts:
        pk = contract["id"]
        subject = f"contract {pk}"
        live = [m for m in milestones_of[pk] if not m["deleted"]]
        funded = [m for m in live if m["status"] in FUNDED]
        held = _check_escrow(
            report, subject, by_contract[pk], funded, by_milestone, reported.get(pk)
        )
        _check_running_sums(report, subject, contract, by_contract[pk])
        if len(funded) > 1:
            ids = ", ".join(str(m["id"]) for m in funded)
            report.breach(subject, "one funded milestone", f"milestones {ids} are funded")
        if pending_changes.get(pk, 0) > 1:
            report.breach(
                subject, "one pending change request", f"{pending_changes[pk]} are pending"
            )
        _check_refund_requests(report, subject, refunds_of[pk], funded)
        open_disputes = _check_disputes(report, subject, disputes_of[pk], held, by_milestone)
        positions = sorted(m["position"] for m in live)
        if positions != list(range(1, len(live) + 1)):
            report.breach(subject, "contiguous positions", f"positions are {positions}")
        if contract["status"] == "ENDED":
            # What it still holds, its one pending refund request or open dispute decides.
            deciding = [int(r["amount"]) for r in refunds_of[pk]] + [
                int(d["amount"]) for d in open_disputes
            ]
            settled = held == 0 and not funded and not deciding
            if pending_changes.get(pk, 0) or not (settled or deciding == [held]):
                report.breach(
                    subject,
                    "an ended contract is settled or asks its rest back",
                    f"held {held}, {len(funded)} funded milestones, pending refund or open "
                    f"dispute amounts {deciding}, {pending_changes.get(pk, 0)} change requests",
                )
    await _check_sequences(report, contracts)
    await _check_notification_copies(report)
    return report


def _check_ledger_rows(
    report: Report,
    ledger: list[dict[str, Any]],
    by_contract: dict[int, _Money],
    by_milestone: dict[int, _Money],
) -> None:
    for row in ledger:
        subject = f"ledger entry {row['id']}"
        kind, amount, milestone_id = str(row["kind"]), int(row["amount"]), row["milestone_id"]
        if amount <= 0:
            report.breach(subject, "positive amounts", f"{kind} of {amount}")
        if kind == "ALLOCATE" and milestone_id is None:
            report.breach(subject, "money moves for a milestone", f"{kind} names no milestone")
        if kind == "DEPOSIT" and milestone_id is not None:
            report.breach(subject, "deposits go to the contract", "DEPOSIT names a milestone")
        if milestone_id is not None and row["milestone_contract_id"] != row["contract_id"]:
            report.breach(
                subject,
                "same contract",
                f"contract {row['contract_id']}, milestone of {row['milestone_contract_id']}",
            )
        attribute = kind.lower()
        if attribute not in ("deposit", "allocate", "release", "refund", "bonus"):
            report.breach(subject, "known kinds", f"unknown kind {kind!r}")
            continue
        money = by_contract[row["contract_id"]]
        if kind == "BONUS":
            # Deposited and released at once: in the contract's totals, no milestone's money.
            money.deposit += amount
            money.release += amount
            money.bonus += amount
            continue
        setattr(money, attribute, getattr(money, attribute) + amount)
        if milestone_id is not None:
            per_milestone = by_milestone[milestone_id]
            setattr(per_milestone, attribute, getattr(per_milestone, attribute) + amount)


def _check_milestone_money(report: Report, milestone: dict[str, Any], money: _Money) -> None:
    subject = f"milestone {milestone['id']}"
    holds = money.allocate - money.release - money.refund
    status = "deleted" if milestone["deleted"] else str(milestone["status"])
    if holds < 0:
        report.breach(
            subject,
            "released + refunded <= funded",
            f"funded {money.allocate}, released {money.release}, refunded {money.refund}",
        )
    elif status in FUNDED:
        # Paid in part when the contract ended: it holds the rest until that is decided.
        partly_paid = money.release > 0 and 0 < holds < int(milestone["amount"])
        if holds != int(milestone["amount"]) and not partly_paid:
            report.breach(
                subject,
                "a funded milestone holds its amount",
                f"{status} holds {holds} of {milestone['amount']}",
            )
    elif status in ("UPCOMING", "deleted"):
        if money.allocate or money.release or money.refund:
            report.breach(subject, "an unfunded milestone moves no money", f"{status}: {money}")
    elif status == "REFUNDED" and (holds != 0 or money.release != 0):
        report.breach(
            subject,
            "a refunded milestone holds nothing and released nothing",
            f"REFUNDED holds {holds}, released {money.release}",
        )
    elif status == "RELEASED" and money.release == 0:
        report.breach(subject, "a released milestone released something", f"{money}")


def _check_escrow(
    report: Report,
    subject: str,
    money: _Money,
    funded: list[dict[str, Any]],
    by_milestone: dict[int, _Money],
    reported: tuple[int, int, int, int, int] | None,
) -> int:
    """Checks the contract's escrow; returns what it holds."""
    held = money.deposit - money.release - money.refund
    in_milestones = sum(
        by_milestone[m["id"]].allocate
        - by_milestone[m["id"]].release
        - by_milestone[m["id"]].refund
        for m in funded
    )
    available = held - in_milestones
    if held < 0:
        report.breach(
            subject,
            "escrow identity",
            f"funded {money.deposit} < released {money.release} + refunded {money.refund}",
        )
    if available < 0:
        report.breach(subject, "available >= 0", f"available is {available}")
    derived = (money.deposit, money.release, money.refund, available, money.bonus)
    if reported is not None and reported != derived:
        report.breach(
            subject,
            "the API's escrow matches the ledger",
            f"API (funded, released, refunded, available, bonus) {reported}, ledger {derived}",
        )
    return held


def _check_refund_requests(
    report: Report, subject: str, pending: list[dict[str, Any]], funded: list[dict[str, Any]]
) -> None:
    if len(pending) > 1:
        report.breach(subject, "one pending refund request", f"{len(pending)} are pending")
    funded_ids = {m["id"] for m in funded}
    for refund in pending:
        if refund["milestone_id"] is not None and refund["milestone_id"] not in funded_ids:
            report.breach(
                f"refund request {refund['id']}",
                "a pending refund is for the funded milestone",
                f"its milestone {refund['milestone_id']} is {refund['milestone_status']}",
            )


def _check_disputes(
    report: Report,
    subject: str,
    disputes: list[dict[str, Any]],
    held: int,
    by_milestone: dict[int, _Money],
) -> list[dict[str, Any]]:
    """Checks the contract's disputes; returns the open ones."""
    open_disputes = [d for d in disputes if d["status"] in OPEN_DISPUTES]
    if len(open_disputes) > 1:
        report.breach(subject, "one open dispute", f"{len(open_disputes)} are open")
    for dispute in disputes:
        about = f"dispute {dispute['id']}"
        amount = int(dispute["amount"])
        if dispute["status"] in OPEN_DISPUTES:
            if amount > held:
                report.breach(about, "an open dispute's money is held", f"{amount} > held {held}")
            milestone_id = dispute["milestone_id"]
            if milestone_id is not None and dispute["refund_request_id"] is None:
                money = by_milestone[milestone_id]
                holds = money.allocate - money.release - money.refund
                if amount > holds:
                    report.breach(
                        about, "an open dispute's money is held", f"{amount} > milestone's {holds}"
                    )
        elif dispute["status"] == "RESOLVED":
            released = int(dispute["released_amount"] or 0)
            refunded = int(dispute["refunded_amount"] or 0)
            if released + refunded != amount or min(released, refunded) < 0:
                report.breach(
                    about,
                    "a resolved dispute's release + refund is its amount",
                    f"released {released} + refunded {refunded} != {amount}",
                )
        if dispute["refund_request_id"] is not None and dispute["refund_status"] != "DISPUTED":
            report.breach(
                about, "its refund request stays DISPUTED", f"it is {dispute['refund_status']}"
            )
    return open_disputes


async def _counts(sql: str) -> dict[int, int]:
    return {int(row["contract_id"]): int(row["n"]) for row in await _rows(sql)}


async def _reported_escrow(
    contract_ids: list[int],
) -> dict[int, tuple[int, int, int, int, int]]:
    from milestones.domain.escrow import ledger_summary
    from milestones.models import Contract

    reported: dict[int, tuple[int, int, int, int, int]] = {}
    for contract in await Contract.filter(id__in=contract_ids):
        escrow = (await ledger_summary(contract)).escrow
        reported[contract.id] = (
            escrow.funded,
            escrow.released,
            escrow.refunded,
            escrow.available,
            escrow.bonus,
        )
    return reported


async def _check_sequences(report: Report, contracts: list[dict[str, Any]]) -> None:
    events = await _rows(
        "SELECT contract_id AS owner, COUNT(*) AS n, COUNT(DISTINCT seq) AS distinct_n, "
        "MIN(seq) AS low, MAX(seq) AS high FROM contract_events GROUP BY contract_id"
    )
    last_event = {int(c["id"]): int(c["event_seq"]) for c in contracts}
    _check_contiguous(report, "contract", "event seq", events, last_event)
    notifications = await _rows(
        "SELECT recipient_id AS owner, COUNT(*) AS n, COUNT(DISTINCT seq) AS distinct_n, "
        "MIN(seq) AS low, MAX(seq) AS high FROM notifications GROUP BY recipient_id"
    )
    users = await _rows("SELECT id, notification_seq FROM users")
    last_notification = {int(u["id"]): int(u["notification_seq"]) for u in users}
    _check_contiguous(report, "user", "notification seq", notifications, last_notification)
    report.counts["events"] = sum(int(row["n"]) for row in events)
    report.counts["notifications"] = sum(int(row["n"]) for row in notifications)


# A notification whose event is missing or names another contract or actor, or whose
# contract or actor is missing (the event's own keys are checked by the database).
_DISAGREEING_NOTIFICATIONS = (
    "SELECT n.id, n.event_id, n.contract_id, n.actor_id, e.id AS found_event, "
    "e.contract_id AS event_contract_id, e.actor_id AS event_actor_id FROM notifications n "
    "LEFT JOIN contract_events e ON e.id = n.event_id "
    "LEFT JOIN contracts c ON c.id = n.contract_id "
    "LEFT JOIN users a ON a.id = n.actor_id "
    "WHERE c.id IS NULL OR (n.actor_id IS NOT NULL AND a.id IS NULL) OR (n.event_id IS NOT NULL "
    "AND (e.id IS NULL OR e.contract_id <> n.contract_id "
    "OR COALESCE(e.actor_id, 0) <> COALESCE(n.actor_id, 0))) ORDER BY n.id"
)


async def _check_notification_copies(report: Report) -> None:
    for row in await _rows(_DISAGREEING_NOTIFICATIONS):
        report.breach(
            f"notification {row['id']}",
            "a notification's event, contract and actor exist and agree",
            f"event {row['event_id']} ({'found' if row['found_event'] else 'missing'}: contract"
            f" {row['event_contract_id']}, actor {row['event_actor_id']}), contract"
            f" {row['contract_id']}, actor {row['actor_id']}",
        )


def _check_contiguous(
    report: Report,
    owner_kind: str,
    what: str,
    groups: list[dict[str, Any]],
    last_seq: dict[int, int],
) -> None:
    """Each owner's seq values are exactly 1..n, and n is the owner's stored last seq."""
    seen: dict[int, dict[str, Any]] = {int(group["owner"]): group for group in groups}
    for owner, last in last_seq.items():
        group = seen.get(owner) or {"n": 0, "distinct_n": 0, "low": None, "high": None}
        n, distinct_n = int(group["n"]), int(group["distinct_n"])
        low, high = group["low"], group["high"]
        contiguous = n == distinct_n and (n == 0 or (int(low) == 1 and int(high) == n))
        if not contiguous or n != last:
            report.breach(
                f"{owner_kind} {owner}",
                f"{what} is 1..n",
                f"{n} rows, seq {low}..{high} ({distinct_n} distinct), stored last seq {last}",
            )
