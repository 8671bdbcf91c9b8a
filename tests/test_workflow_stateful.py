"""Random sequences of every workflow action, with the contract's invariants checked after each.

A hypothesis ``RuleBasedStateMachine`` plays a client, a freelancer, an outsider and a mediator
(disputes in mediation) against the HTTP GraphQL API (``/work/shared/API.md``,
``docs/DESIGN.md``): every mutation of the milestone workflow, by the right party, the wrong
party and a stranger, with valid and invalid inputs, idempotency keys and their replays.

For each step the machine knows, from the contract as it was just before (read through the
API), which outcomes the contract allows: the ordered error checks (``NOT_FOUND``,
``FORBIDDEN``, ``IDEMPOTENCY_CONFLICT``, ``VALIDATION``, then the state of the contract) give
the set of acceptable codes, and a success must have exactly the effects the workflow
describes (milestones, escrow, requests, and the events it appends). A refusal must change
nothing at all. After every step the escrow identities, money formats, positions, the "one
funded milestone / one pending request" rules and the immutability of the active milestone
are checked on the contract as the API shows it; while a dispute stays open, no money of its
contract moves. The clock is the app's injectable one: `time_passes` moves it past every
deadline (review, refund answer, dispute answer) and each acts once.

The app runs in-process on an event loop owned by the machine (one app, one fresh database per
example). ``MILESTONES_STATEFUL_EXAMPLES`` (default 50) / ``MILESTONES_STATEFUL_STEPS``
(default 30) size the run; ``MILESTONES_STATEFUL_SHRINK=0`` reports a failure unshrunk (faster
while debugging). ``pytest -s`` prints how often each mutation/role/outcome was exercised.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RULE_MARKER,
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from milestones.auth import issue_token
from milestones.config import Settings
from milestones.domain import clock, deadlines
from tests.conftest import (
    TEST_JWT_SECRET,
    is_memory_database,
    is_postgres_url,
    postgres_unavailable,
    require_service,
    test_database_url,
)
from tests.databases import migrated_sqlite_url
from tests.helpers import MALFORMED_ID, MONEY, missing_id

JSON = dict[str, Any]
Check = tuple[str, bool, bool]  # (code, the check fails, an implementation may skip it)

CROSS_CHECK_EVERY = 5  # successful actions between the (slower) cross-party checks
EXAMPLES = int(os.environ.get("MILESTONES_STATEFUL_EXAMPLES", "50"))
STEPS = int(os.environ.get("MILESTONES_STATEFUL_STEPS", "30"))
# Each rule must run at least this often in a run. Hypothesis enables a random subset of the
# rules in each example (swarm testing), so a rule's count varies a lot from run to run: this
# is a floor that catches a rule made unreachable, not a distribution.
MIN_RULE_RUNS = max(1, EXAMPLES * STEPS // 1500)

# The client side of every contract is a team ("Client Co"): the client is its OWNER, and
# "member" one of its MEMBERs, who sees every room and is told of the freelancer's actions but
# may do nothing (FORBIDDEN) on the client's behalf or the freelancer's.
ROLES = ("client", "freelancer", "outsider", "member")
MEDIATOR = "mediator"  # a token whose `roles` claim holds "mediator" (not one of ROLES)
OUTCOMES: Counter[str] = Counter()  # "<mutation> by <role>: <ok|replay|CODE>", printed at the end
RULES_RUN: Counter[str] = Counter()  # how often each rule ran: each must run (see the test)
PARTIES = ("client", "freelancer")
FUNDED = ("ACTIVE", "SUBMITTED")
IDEMPOTENCY_KEYS = ("key-1", "key-2", "key-3")
CONTRACT_ENDED_MESSAGE = "The contract ended."
PAST = {"ACCEPT": "ACCEPTED", "DECLINE": "DECLINED"}


def counted(rule_function: Callable[..., None]) -> Callable[..., None]:
    """Count the rule's runs, so that a rule made unreachable fails the test."""

    @functools.wraps(rule_function)
    def run(*args: Any, **kwargs: Any) -> None:
        RULES_RUN[rule_function.__name__] += 1
        rule_function(*args, **kwargs)

    return run


class Repeated(str):
    """A long string that prints short in a failing example."""

    def __repr__(self) -> str:
        return f"{self[0]!r} * {len(self)}"


TITLES = ("Design", "Build the API", "Testing", "Launch", "Docs")
BAD_TITLES = ("", "   ", Repeated("x" * 201))
DESCRIPTIONS = ("Wireframes and mock-ups", "Everything, done well")
DATES = ("2030-01-15", "2031-06-30", "2029-12-31")
BAD_DATES = ("2030-02-30", "soon", "15/01/2030")
AMOUNT_CENTS = (1, 5000, 10000, 25050, 123456, 999999999)
BAD_AMOUNTS: tuple[Any, ...] = ("0", "-5.00", "1.234", "10000000.00", 1.5, "abc", 0)
MESSAGES = ("Please have a look", "Thanks!")
TOO_LONG_MESSAGE = Repeated("m" * 5001)

MILESTONE_VIEW = (
    "id",
    "position",
    "title",
    "description",
    "dueDate",
    "amount",
    "status",
    "fundedAmount",
    "releasedAmount",
    "refundedAmount",
)
ESCROW_FIELDS = (
    "held",
    "available",
    "totalFunded",
    "totalReleased",
    "totalRefunded",
    "totalBonus",
)

# --------------------------------------------------------------------------- documents

MILESTONE_SELECTION = (
    "id position title description dueDate amount status fundedAmount releasedAmount"
    " refundedAmount version updatedAt submittedAt"
)
ESCROW_SELECTION = "escrow { held available totalFunded totalReleased totalRefunded totalBonus }"
CONTRACT_SELECTION = f"id status endedAt {ESCROW_SELECTION}"
CHANGES_SELECTION = "changes { kind milestone { id } title description dueDate amount }"
CHANGE_REQUEST_SELECTION = f"id status message responseMessage respondedAt {CHANGES_SELECTION}"
REFUND_REQUEST_SELECTION = "id status amount message responseMessage milestone { id }"
DISPUTE_SELECTION = (
    "id status amount milestone { id } refundRequest { id status }"
    " resolution { kind releasedAmount refundedAmount decidedBy { id } }"
)
EVENT_SELECTION = (
    "id cursor kind actor { id } milestone { id } changeRequest { id } refundRequest { id }"
)

PAYLOADS: dict[str, str] = {
    "createContract": "contract { id title currency status viewerRole endedAt"
    f" client {{ id }} freelancer {{ id }} milestones {{ id }} {ESCROW_SELECTION} }}",
    "addMilestone": f"milestone {{ {MILESTONE_SELECTION} }} contract {{ {CONTRACT_SELECTION} }}",
    "editMilestone": f"milestone {{ {MILESTONE_SELECTION} }} contract {{ {CONTRACT_SELECTION} }}",
    "deleteMilestone": f"deletedMilestoneId contract {{ {CONTRACT_SELECTION} }}",
    "activateMilestone": (
        f"milestone {{ {MILESTONE_SELECTION} }} contract {{ {CONTRACT_SELECTION} }}"
    ),
    "submitMilestone": f"milestone {{ {MILESTONE_SELECTION} }} contract {{ {CONTRACT_SELECTION} }}",
    "rejectSubmission": (
        f"milestone {{ {MILESTONE_SELECTION} }} contract {{ {CONTRACT_SELECTION} }}"
    ),
    "approveMilestone": (
        f"milestone {{ {MILESTONE_SELECTION} }} contract {{ {CONTRACT_SELECTION} }}"
    ),
    "requestEscrowRefund": f"refundRequest {{ {REFUND_REQUEST_SELECTION} }}"
    f" milestone {{ {MILESTONE_SELECTION} }} contract {{ {CONTRACT_SELECTION} }}",
    "respondToRefundRequest": f"refundRequest {{ {REFUND_REQUEST_SELECTION} }}"
    f" milestone {{ {MILESTONE_SELECTION} }} contract {{ {CONTRACT_SELECTION} }}",
    "endContract": f"contract {{ {CONTRACT_SELECTION} }}",
    "acceptContract": f"contract {{ {CONTRACT_SELECTION} }}",
    "sendBonus": f"contract {{ {CONTRACT_SELECTION} }}",
    "requestMilestoneChanges": f"changeRequest {{ {CHANGE_REQUEST_SELECTION} }}"
    f" contract {{ {CONTRACT_SELECTION} }}",
    "respondToChangeRequest": f"changeRequest {{ {CHANGE_REQUEST_SELECTION} }}"
    f" contract {{ {CONTRACT_SELECTION} }}",
    "withdrawChangeRequest": f"changeRequest {{ {CHANGE_REQUEST_SELECTION} }}"
    f" contract {{ {CONTRACT_SELECTION} }}",
    "openDispute": f"dispute {{ {DISPUTE_SELECTION} }} contract {{ {CONTRACT_SELECTION} }}",
    "respondToDispute": f"dispute {{ {DISPUTE_SELECTION} }} contract {{ {CONTRACT_SELECTION} }}",
    "resolveDispute": f"dispute {{ {DISPUTE_SELECTION} }} contract {{ {CONTRACT_SELECTION} }}",
    "createTeam": "team { id }",
    "addTeamMember": "team { id }",
}


def mutation_document(name: str) -> str:
    input_type = name[0].upper() + name[1:] + "Input"
    return (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{"
        f" {PAYLOADS[name]} userErrors {{ code field message }} }} }}"
    )


MUTATIONS = {name: mutation_document(name) for name in PAYLOADS}

SNAPSHOT_QUERY = f"""
query Snapshot($id: ID!) {{
  contract(id: $id) {{
    id title currency status viewerRole endedAt
    client {{ id }}
    freelancer {{ id }}
    milestones {{ {MILESTONE_SELECTION} }}
    activeMilestone {{ id status }}
    {ESCROW_SELECTION}
    pendingChangeRequest {{ id status }}
    pendingRefundRequest {{ {REFUND_REQUEST_SELECTION} }}
    openDispute {{ {DISPUTE_SELECTION} }}
    changeRequests(first: 100) {{
      edges {{ node {{ {CHANGE_REQUEST_SELECTION} }} }}
      pageInfo {{ hasNextPage }}
    }}
    events(first: 100) {{
      edges {{ cursor node {{ {EVENT_SELECTION} }} }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}
"""

EVENTS_PAGE_QUERY = f"""
query EventsPage($id: ID!, $after: String) {{
  contract(id: $id) {{
    events(first: 100, after: $after) {{
      edges {{ cursor node {{ {EVENT_SELECTION} }} }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}
"""

NOTIFICATIONS_QUERY = """
query Notifications($after: String) {
  notifications(first: 100, after: $after) {
    edges { cursor node { id cursor kind actor { id } contract { id } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

CONTRACTS_QUERY = "query { contracts(first: 100) { edges { node { id } } } }"
OUTSIDER_CONTRACT_QUERY = "query($id: ID!) { contract(id: $id) { id } node(id: $id) { id } }"
NODE_QUERY = "query($id: ID!) { node(id: $id) { id } }"


# --------------------------------------------------------------------------- small helpers


def cents(value: Any) -> int:
    """A `Decimal` output string (exactly two decimals, not negative) in minor units."""
    assert isinstance(value, str) and MONEY.fullmatch(value), f"not a money string: {value!r}"
    whole, fraction = value.split(".")
    return int(whole) * 100 + int(fraction)


def money(amount: int) -> str:
    assert amount >= 0
    return f"{amount // 100}.{amount % 100:02d}"


def outcomes(*checks: Check) -> frozenset[str | None]:
    """The acceptable first failing kinds (None: success) for checks run in this order."""
    possible: set[str | None] = set()
    for code, fails, optional in checks:
        if fails:
            possible.add(code)
            if not optional:
                return frozenset(possible)
    possible.add(None)
    return frozenset(possible)


def view(milestone: JSON) -> JSON:
    return {key: milestone[key] for key in MILESTONE_VIEW}


def unplaced(milestone: JSON) -> JSON:
    return {key: value for key, value in milestone.items() if key != "position"}


def escrow_cents(contract: JSON) -> dict[str, int]:
    return {key: cents(contract["escrow"][key]) for key in ESCROW_FIELDS}


def active_of(contract: JSON | None) -> JSON | None:
    if contract is None:
        return None
    funded = [m for m in contract["milestones"] if m["status"] in FUNDED]
    return funded[0] if funded else None


def is_ended(contract: JSON | None) -> bool:
    return contract is not None and contract["status"] == "ENDED"


def has_pending_change(contract: JSON | None) -> bool:
    return contract is not None and contract["pendingChangeRequest"] is not None


def has_pending_refund(contract: JSON | None) -> bool:
    return contract is not None and contract["pendingRefundRequest"] is not None


def has_open_dispute(contract: JSON | None) -> bool:
    return contract is not None and contract["openDispute"] is not None


def without_bonus(contract: JSON) -> dict[str, int]:
    escrow = escrow_cents(contract)
    bonus = escrow.pop("totalBonus")
    escrow["totalFunded"] -= bonus
    escrow["totalReleased"] -= bonus
    return escrow


def held_of(milestone: JSON | None) -> int:
    """What a milestone still holds in escrow."""
    if milestone is None:
        return 0
    return (
        cents(milestone["fundedAmount"])
        - cents(milestone["releasedAmount"])
        - cents(milestone["refundedAmount"])
    )


def parse_zero_or_more(value: str | None) -> int | None:
    """A payAmount / releaseAmount that may be 0: its cents, or None when invalid."""
    if value is None or value == "0":
        return 0
    try:
        return cents(value)
    except AssertionError:
        return None


# which milestones an action is likely to succeed on (drawn more often than the others)


def changeable(milestone: JSON, contract: JSON) -> bool:
    return (
        milestone["status"] == "UPCOMING"
        and not is_ended(contract)
        and not has_pending_change(contract)
    )


def activatable(milestone: JSON, contract: JSON) -> bool:
    return changeable(milestone, contract) and active_of(contract) is None


def payable(milestone: JSON, contract: JSON) -> bool:
    return (
        milestone["status"] in FUNDED
        and not has_pending_refund(contract)
        and not has_open_dispute(contract)
    )


def submittable(milestone: JSON, contract: JSON) -> bool:
    return milestone["status"] == "ACTIVE" and payable(milestone, contract)


def rejectable(milestone: JSON, contract: JSON) -> bool:
    return milestone["status"] == "SUBMITTED" and payable(milestone, contract)


def disputable(milestone: JSON, contract: JSON) -> bool:
    return (
        payable(milestone, contract)
        and milestone["submittedAt"] is not None
        and not is_ended(contract)
    )


def with_lifespan_state(app: ASGIApp, state: Any) -> ASGIApp:
    """What a server does per request: hand each one a copy of the lifespan state."""
    if not state:
        return app

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "state": dict(state)}, receive, send)

    return asgi


@st.composite
def amount_inputs(draw: st.DrawFn, valid_only: bool = False) -> tuple[Any, int | None]:
    """An amount as a client would send it, and its value in cents (None: invalid)."""
    if not valid_only and draw(st.integers(0, 9)) == 9:
        return draw(st.sampled_from(BAD_AMOUNTS)), None
    amount = draw(st.sampled_from(AMOUNT_CENTS))
    forms: list[Any] = [money(amount)]
    if amount % 100 == 0:
        forms += [str(amount // 100), amount // 100]
    elif amount % 10 == 0:
        forms.append(f"{amount // 100}.{amount % 100 // 10}")
    return draw(st.sampled_from(forms)), amount


@st.composite
def title_inputs(draw: st.DrawFn) -> tuple[str, bool]:
    if draw(st.integers(0, 11)) == 11:
        return draw(st.sampled_from(BAD_TITLES)), False
    return draw(st.sampled_from(TITLES)), True


@st.composite
def date_inputs(draw: st.DrawFn) -> tuple[str, bool]:
    if draw(st.integers(0, 11)) == 11:
        return draw(st.sampled_from(BAD_DATES)), False
    return draw(st.sampled_from(DATES)), True


@st.composite
def message_inputs(draw: st.DrawFn) -> tuple[str | None, bool]:
    """An optional message; (value, valid). None means "leave it out"."""
    choice = draw(st.integers(0, 11))
    if choice == 11:
        return TOO_LONG_MESSAGE, False
    if choice < 6:
        return None, True
    return draw(st.sampled_from(MESSAGES)), True


# --------------------------------------------------------------------------- the machine


class WorkflowMachine(RuleBasedStateMachine):
    """Client, freelancer and outsider playing the whole workflow over HTTP."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.stack = AsyncExitStack()
        self.http: httpx.AsyncClient | None = None
        try:
            self.loop.run_until_complete(self._start())
            suffix = uuid.uuid4().hex[:8]
            self.tokens = {
                role: issue_token(
                    TEST_JWT_SECRET,
                    f"{role}-{suffix}",
                    name=role.title(),
                    email=f"{role}-{suffix}@example.com",
                )
                for role in ROLES
            }
            self.tokens[MEDIATOR] = issue_token(
                TEST_JWT_SECRET, f"mediator-{suffix}", name="Mediator", roles=("mediator",)
            )
            self.user_ids = {
                role: str(self.gql(role, "query { me { id } }")["me"]["id"])
                for role in (*ROLES, MEDIATOR)
            }
            self.disputes: dict[str, tuple[str, int]] = {}  # id -> (contract id, amount)
            self.mediated: set[str] = set()  # contracts a dispute of which went to mediation
            self.client_team = self.mutate("client", "createTeam", {"name": "Client Co"})["team"][
                "id"
            ]
            added = self.mutate(
                "client",
                "addTeamMember",
                {
                    "teamId": self.client_team,
                    "email": f"member-{suffix}@example.com",
                    "role": "MEMBER",
                },
            )
            assert added["userErrors"] == [], added
            self.contracts: list[str] = []
            self.snaps: dict[str, JSON] = {}
            self.deleted: list[str] = []
            self.refund_requests: dict[str, str] = {}  # id -> contract id
            self.change_requests: dict[
                str, tuple[str, list[JSON]]
            ] = {}  # id -> (contract, changes)
            # (mutation, key) -> (input, payload) of the client's first successful keyed call
            self.idempotent: dict[tuple[str, str], tuple[JSON, JSON]] = {}
            # milestone id -> (title, description, dueDate, amount, fundedAmount) while funded
            self.frozen: dict[str, tuple[Any, ...]] = {}
            self.step = 0
        except BaseException:
            self.teardown()
            raise

    async def _start(self) -> None:
        from milestones.app import create_app

        url = test_database_url()
        if is_memory_database(url):  # a copy of the migrated template (tests/databases.py)
            folder = Path(tempfile.mkdtemp(prefix="milestones-stateful-"))
            self.stack.callback(shutil.rmtree, folder, True)
            url = migrated_sqlite_url(folder / "milestones.sqlite3", options="?synchronous=OFF")
        app_settings = Settings(
            database_url=url,
            broadcast_url="memory://",
            jwt_secret=TEST_JWT_SECRET,
            smtp_url=None,
            milestones_env="development",
        )
        app = create_app(app_settings)
        state = await self.stack.enter_async_context(app.router.lifespan_context(app))
        if is_postgres_url(url):
            from milestones.database import reset_tables

            await reset_tables()
        transport = httpx.ASGITransport(app=with_lifespan_state(app, state))
        self.http = await self.stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://test")
        )

    def teardown(self) -> None:
        clock.reset()
        if self.loop.is_closed():
            return
        OUTCOMES[f"~ examples with {self.step // 10 * 10}+ actions"] += 1
        try:
            self.loop.run_until_complete(self.stack.aclose())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    # ------------------------------------------------------------------ transport

    def post(self, role: str, query: str, variables: JSON | None = None) -> JSON:
        async def send() -> JSON:
            assert self.http is not None
            response = await self.http.post(
                "/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {self.tokens[role]}"},
            )
            body: JSON = response.json()
            return body

        return self.loop.run_until_complete(send())

    def gql(self, role: str, query: str, variables: JSON | None = None) -> JSON:
        body = self.post(role, query, variables)
        assert not body.get("errors"), (
            f"{role}: GraphQL errors {json.dumps(body['errors'], indent=1)}\n"
            f"query: {query}\nvariables: {json.dumps(variables)}"
        )
        data: JSON = body["data"]
        return data

    def mutate(self, role: str, name: str, input_: JSON) -> JSON:
        payload: JSON = self.gql(role, MUTATIONS[name], {"input": input_})[name]
        return payload

    # ------------------------------------------------------------------ reading and invariants

    def read(self, contract_id: str, role: str = "client") -> JSON:
        contract = self.gql(role, SNAPSHOT_QUERY, {"id": contract_id})["contract"]
        assert contract is not None, f"{role} cannot see contract {contract_id}"
        events = contract["events"]
        edges = list(events["edges"])
        while events["pageInfo"]["hasNextPage"]:
            page = self.gql(
                role,
                EVENTS_PAGE_QUERY,
                {"id": contract_id, "after": events["pageInfo"]["endCursor"]},
            )
            events = page["contract"]["events"]
            edges += events["edges"]
        for edge in edges:
            assert edge["cursor"] == edge["node"]["cursor"], f"edge cursor differs: {edge}"
        assert not contract["changeRequests"]["pageInfo"]["hasNextPage"]
        contract["events"] = [edge["node"] for edge in edges]
        contract["changeRequests"] = [edge["node"] for edge in contract["changeRequests"]["edges"]]
        return contract

    def refresh(self, contract_id: str) -> JSON:
        contract = self.read(contract_id)
        self.check_contract(contract)
        old = self.snaps.get(contract_id)
        if old is not None and old["openDispute"] and contract["openDispute"]:
            if old["openDispute"]["id"] == contract["openDispute"]["id"]:
                # A dispute that stays open freezes its money: nothing of escrow moved (a
                # bonus is deposited and paid at once: it never touches the money held).
                assert without_bonus(contract) == without_bonus(old), (
                    f"step {self.step}: money moved while dispute {old['openDispute']['id']} "
                    f"was open: {old['escrow']} -> {contract['escrow']}"
                )
                # Its position may close up when an upcoming milestone before it is deleted
                # (upcoming milestones are unaffected by a dispute); nothing else may change.
                frozen, now = active_of(old), active_of(contract)
                assert (frozen and unplaced(view(frozen))) == (now and unplaced(view(now))), (
                    f"step {self.step}: the disputed milestone moved: {frozen} -> {now}"
                )
        self.snaps[contract_id] = contract
        return contract

    def check_contract(self, contract: JSON) -> None:
        where = f"contract {contract['id']}"
        escrow = escrow_cents(contract)
        milestones = contract["milestones"]
        for milestone in milestones:
            for key in ("amount", "fundedAmount", "releasedAmount", "refundedAmount"):
                cents(milestone[key])
            assert cents(milestone["amount"]) > 0, milestone
        funded = [m for m in milestones if m["status"] in FUNDED]
        assert len(funded) <= 1, f"{where}: more than one funded milestone: {funded}"
        active = funded[0] if funded else None
        assert (contract["activeMilestone"] or {}).get("id") == (active or {}).get("id"), (
            f"{where}: activeMilestone {contract['activeMilestone']} but milestones {funded}"
        )
        # the escrow identities
        assert escrow["totalFunded"] == (
            escrow["totalReleased"] + escrow["totalRefunded"] + escrow["held"]
        ), f"{where}: totalFunded != released + refunded + held: {contract['escrow']}"
        in_active = held_of(active)
        ended = contract["status"] == "ENDED"
        assert escrow["held"] == in_active + escrow["available"], (
            f"{where}: held != active remainder + available: {contract['escrow']}, {active}"
        )
        released = sum(cents(m["releasedAmount"]) for m in milestones)
        # An ending's payment or a dispute may pay out of `available` (no milestone's money).
        assert escrow["totalReleased"] >= released + escrow["totalBonus"], (
            f"{where}: totalReleased is less than the released amounts and bonuses"
        )
        assert escrow["totalRefunded"] >= sum(cents(m["refundedAmount"]) for m in milestones)
        # milestones: positions and per-status amounts
        assert [m["position"] for m in milestones] == list(range(1, len(milestones) + 1)), (
            f"{where}: positions not 1..n in order: {[m['position'] for m in milestones]}"
        )
        for m in milestones:
            amount, funded_amount = cents(m["amount"]), cents(m["fundedAmount"])
            released, refunded = cents(m["releasedAmount"]), cents(m["refundedAmount"])
            if m["status"] == "UPCOMING":
                assert (funded_amount, released, refunded) == (0, 0, 0), m
            elif m["status"] in FUNDED:
                # Paid in part when the contract ended, it holds the rest until that is decided.
                assert (funded_amount, refunded) == (amount, 0), m
                assert released == 0 or (ended and 0 < released < funded_amount), m
            elif m["status"] == "RELEASED":
                assert 0 < released <= funded_amount == amount, m
                assert released + refunded <= funded_amount, m
            else:
                assert m["status"] == "REFUNDED", m
                assert refunded == funded_amount > 0 and released == 0, m
        # an active milestone's terms never change while it is funded
        for m in milestones:
            terms = (m["title"], m["description"], m["dueDate"], m["amount"], m["fundedAmount"])
            if m["status"] in FUNDED:
                first = self.frozen.setdefault(m["id"], terms)
                assert terms == first, f"{where}: funded milestone changed: {first} -> {terms}"
            else:
                self.frozen.pop(m["id"], None)
        # requests
        pending = [cr for cr in contract["changeRequests"] if cr["status"] == "PENDING"]
        assert len(pending) <= 1, f"{where}: more than one pending change request: {pending}"
        assert (contract["pendingChangeRequest"] or {}).get("id") == (
            pending[0]["id"] if pending else None
        ), f"{where}: pendingChangeRequest disagrees with changeRequests"
        for cr in contract["changeRequests"]:
            for change in cr["changes"]:
                if change["amount"] is not None:
                    cents(change["amount"])
        refund = contract["pendingRefundRequest"]
        dispute = contract["openDispute"]
        assert refund is None or dispute is None, f"{where}: a refund pending and a dispute open"
        # What a pending refund request or an open dispute decides: on an active contract the
        # funded milestone's money, on an ended one everything still held.
        decided = escrow["held"] if ended else in_active
        for request in (refund, dispute):
            if request is None:
                continue
            assert cents(request["amount"]) == decided, f"{where}: {request}, held {escrow}"
            milestone_id = (request["milestone"] or {}).get("id")
            assert milestone_id == (active or {}).get("id"), (
                f"{where}: {request} is not for the funded milestone {active}"
            )
        if refund is not None:
            assert refund["status"] == "PENDING", refund
        if dispute is not None:
            assert dispute["status"] in ("AWAITING_CLIENT", "IN_MEDIATION"), dispute
            assert dispute["resolution"] is None, dispute
        # status
        if ended:
            assert contract["endedAt"] is not None, where
            assert not pending, where
            if refund is None and dispute is None:
                assert active is None, where
                assert escrow["available"] == 0 and escrow["held"] == 0, contract["escrow"]
        else:
            assert contract["status"] == "ACTIVE" and contract["endedAt"] is None, where
        # the log
        event_ids = [event["id"] for event in contract["events"]]
        assert len(set(event_ids)) == len(event_ids), f"{where}: repeated events"
        assert contract["events"] and contract["events"][0]["kind"] == "CONTRACT_OFFERED"

    # ------------------------------------------------------------------ running one action

    def act(
        self,
        role: str,
        mutation: str,
        input_: JSON,
        *,
        contract_id: str | None,
        possible: frozenset[str | None],
        kinds: list[str],
        on_success: Callable[[JSON, JSON, JSON], None] | None = None,
        not_found_field: str | None = None,
        bad_fields: set[str] | None = None,
        maybe_bad_fields: set[str] | None = None,
        replay: JSON | None = None,
        replay_or_conflict: bool = False,
    ) -> JSON | None:
        """Run one mutation and check its outcome; the payload when it succeeded."""
        self.step += 1
        watched = [contract_id] if contract_id is not None else list(self.contracts)
        before = {cid: self.snaps[cid] for cid in watched}
        payload = self.mutate(role, mutation, input_)
        after = {cid: self.refresh(cid) for cid in watched}
        errors = payload["userErrors"]
        codes = [error["code"] for error in errors]
        outcome = "replay" if replay is not None else (codes[0] if codes else "ok")
        OUTCOMES[f"{mutation} by {role}: {outcome}"] += 1
        step = f"step {self.step}: {role} {mutation}({json.dumps(input_)[:600]})"

        if replay is not None:
            if replay_or_conflict and errors:
                assert codes == ["IDEMPOTENCY_CONFLICT"], f"{step}: replay answered {errors}"
            else:
                assert payload == replay, (
                    f"{step}: an idempotent replay must return the first payload as it was.\n"
                    f"first: {json.dumps(replay)}\nreplay: {json.dumps(payload)}"
                )
            assert after == before, f"{step}: an idempotent replay changed the contract"
            self.maybe_cross_check()
            return None

        if errors:
            assert len(set(codes)) == 1, f"{step}: errors of several kinds: {errors}"
            code = codes[0]
            assert code in possible, (
                f"{step}: refused with {errors}; expected one of {sorted(map(str, possible))}"
            )
            assert all(error["message"] for error in errors), errors
            for key, value in payload.items():
                if key != "userErrors":
                    assert value is None, f"{step}: refused, but {key} = {value!r}"
            if code == "NOT_FOUND" and not_found_field is not None:
                assert [e["field"] for e in errors] == [not_found_field], f"{step}: {errors}"
            if code == "VALIDATION" and (bad_fields or maybe_bad_fields):
                must, may = bad_fields or set(), maybe_bad_fields or set()
                fields = [error["field"] for error in errors]
                assert len(fields) == len(set(fields)), f"{step}: one error per field: {errors}"
                assert must <= set(fields) <= must | may, (
                    f"{step}: VALIDATION fields {fields}, expected {sorted(must)}"
                    f" (perhaps also {sorted(may)})"
                )
            for cid in watched:
                assert after[cid] == before[cid], (
                    f"{step}: refused with {code} but contract {cid} changed:\n"
                    f"{diff(before[cid], after[cid])}"
                )
            self.maybe_cross_check()
            return None

        assert None in possible, (
            f"{step}: succeeded, but expected a refusal with {sorted(map(str, possible))}"
        )
        assert contract_id is not None
        old, new = before[contract_id]["events"], after[contract_id]["events"]
        assert len(new) >= len(old) and all(
            same_event(a, b) for a, b in zip(old, new, strict=False)
        ), f"{step}: earlier events changed"
        added = new[len(old) :]
        assert [event["kind"] for event in added] == kinds, (
            f"{step}: appended events {[event['kind'] for event in added]}, expected {kinds}"
        )
        for event in added:
            assert event["actor"]["id"] == self.user_ids[role], f"{step}: event actor {event}"
        contract_payload = payload.get("contract")
        if contract_payload is not None:
            assert contract_payload["id"] == contract_id
            assert contract_payload["escrow"] == after[contract_id]["escrow"], (
                f"{step}: payload escrow {contract_payload['escrow']}"
                f" != contract escrow {after[contract_id]['escrow']}"
            )
            assert contract_payload["status"] == after[contract_id]["status"], step
        milestone_payload = payload.get("milestone")
        if milestone_payload is not None:
            current = [
                m for m in after[contract_id]["milestones"] if m["id"] == milestone_payload["id"]
            ]
            assert current, f"{step}: payload milestone is not in the contract"
            assert view(milestone_payload) == view(current[0]), (
                f"{step}: payload milestone {milestone_payload} != {current[0]}"
            )
        if on_success is not None:
            on_success(before[contract_id], after[contract_id], payload)
        self.maybe_cross_check()
        return payload

    def maybe_cross_check(self) -> None:
        if self.step % CROSS_CHECK_EVERY == 0:
            self.views_agree()
            self.notifications_match_events()

    def expect(
        self,
        before: JSON,
        after: JSON,
        *,
        milestones: list[JSON] | None = None,
        escrow: dict[str, int] | None = None,
        status: str | None = None,
        pending_change: str | bool | None = True,
        pending_refund: str | bool | None = True,
        open_dispute: str | bool | None = True,
    ) -> None:
        """`after` is `before` with the given differences (True: unchanged; id None: any)."""
        expected = milestones if milestones is not None else [view(m) for m in before["milestones"]]
        actual = after["milestones"]
        assert len(actual) == len(expected), (
            f"step {self.step}: milestones\n{actual}\nexpected\n{expected}"
        )
        for want, got in zip(expected, actual, strict=True):
            for key, value in want.items():
                if key == "id" and value is None:
                    continue
                assert got[key] == value, (
                    f"step {self.step}: milestone {key} is {got[key]!r}, expected {value!r}\n"
                    f"got {view(got)}\nexpected {want}"
                )
        want_escrow = escrow if escrow is not None else escrow_cents(before)
        assert escrow_cents(after) == want_escrow, (
            f"step {self.step}: escrow {escrow_cents(after)}, expected {want_escrow}"
        )
        assert after["status"] == (status or before["status"]), f"step {self.step}: status"
        if pending_change is True:
            pending_change = (before["pendingChangeRequest"] or {}).get("id")
        if pending_change is not False:
            got_id = (after["pendingChangeRequest"] or {}).get("id")
            assert got_id == pending_change, f"step {self.step}: pendingChangeRequest {got_id}"
        if pending_refund is True:
            pending_refund = (before["pendingRefundRequest"] or {}).get("id")
        if pending_refund is not False:
            got_id = (after["pendingRefundRequest"] or {}).get("id")
            assert got_id == pending_refund, f"step {self.step}: pendingRefundRequest {got_id}"
        if open_dispute is True:
            open_dispute = (before["openDispute"] or {}).get("id")
        if open_dispute is not False:
            got_id = (after["openDispute"] or {}).get("id")
            assert got_id == open_dispute, f"step {self.step}: openDispute {got_id}"

    def expect_moved(
        self, before: JSON, milestone_id: str | None, *, release: int, refund: int
    ) -> tuple[list[JSON], dict[str, int]]:
        """The milestones and escrow after paying `release` and giving back `refund` out of
        the money held: the milestone's first, then `available`; a milestone left holding
        nothing ends RELEASED if anything of it was released, else REFUNDED."""
        escrow = escrow_cents(before)
        expected = [view(m) for m in before["milestones"]]
        target = next((m for m in expected if m["id"] == milestone_id), None)
        in_milestone = held_of(target) if target and target["status"] in FUNDED else 0
        from_milestone = min(release, in_milestone)
        refund_from_milestone = min(refund, in_milestone - from_milestone)
        if target is not None and in_milestone:
            for column, moved in (
                ("releasedAmount", from_milestone),
                ("refundedAmount", refund_from_milestone),
            ):
                target[column] = money(cents(target[column]) + moved)
            if in_milestone == from_milestone + refund_from_milestone:
                released = cents(target["releasedAmount"]) > 0
                target["status"] = "RELEASED" if released else "REFUNDED"
        escrow["available"] -= release - from_milestone + refund - refund_from_milestone
        escrow["held"] -= release + refund
        escrow["totalReleased"] += release
        escrow["totalRefunded"] += refund
        return expected, escrow

    def expect_ended(self, before: JSON, after: JSON, rest: int) -> None:
        """Ending: a pending change request declined; the `rest` still held (after what the
        ending paid or gave back) is asked back by a refund request to the freelancer."""
        assert after["endedAt"] is not None
        refund = after["pendingRefundRequest"]
        if rest:
            assert refund is not None and cents(refund["amount"]) == rest, (
                f"step {self.step}: the rest {rest} is not asked back: {refund}"
            )
            self.refund_requests[refund["id"]] = after["id"]
        else:
            assert refund is None, f"step {self.step}: nothing left, yet {refund}"
        pending = before["pendingChangeRequest"]
        if pending is not None:
            closed = [cr for cr in after["changeRequests"] if cr["id"] == pending["id"]]
            assert closed and closed[0]["status"] == "DECLINED", f"step {self.step}: {closed}"
            assert closed[0]["responseMessage"] == CONTRACT_ENDED_MESSAGE, closed

    # ------------------------------------------------------------------ drawing targets

    def draw_role(self, data: st.DataObject, proper: tuple[str, ...]) -> str:
        choice = data.draw(st.integers(0, 9), label="role")
        if choice < 8:
            return data.draw(st.sampled_from(proper), label="proper role")
        if choice == 8:
            others = [role for role in PARTIES if role not in proper]
            return others[0] if others else "outsider"
        return data.draw(st.sampled_from(["outsider", "member"]), label="stranger")

    def missing_ids(self, type_name: str) -> list[str]:
        other_type = "Contract" if type_name != "Contract" else "Milestone"
        candidates = [missing_id(type_name), MALFORMED_ID, missing_id(other_type)]
        if type_name == "Contract":
            candidates.append(self.user_ids["client"])
        else:
            candidates.append(self.contracts[0])
        if type_name == "Milestone":
            candidates += self.deleted[-3:]
        return candidates

    def draw_contract(self, data: st.DataObject) -> tuple[str, str | None]:
        """(the contractId to send, the contract it names or None)."""
        choice = data.draw(st.integers(0, 14), label="contract pick")
        if choice == 14:
            return data.draw(st.sampled_from(self.missing_ids("Contract"))), None
        open_ones = [cid for cid in self.contracts if not is_ended(self.snaps[cid])]
        pool = open_ones if open_ones and choice < 12 else self.contracts
        contract_id = data.draw(st.sampled_from(pool), label="contract")
        return contract_id, contract_id

    def draw_milestone(
        self, data: st.DataObject, prefer: Callable[[JSON, JSON], bool] | None = None
    ) -> tuple[str, str | None, JSON | None] | None:
        """(the milestoneId to send, its contract or None when it names nothing, milestone).

        Preferred milestones (those the action could succeed on) are drawn most often."""
        everything = [
            (m["id"], cid, m) for cid in self.contracts for m in self.snaps[cid]["milestones"]
        ]
        preferred = [
            item for item in everything if prefer is None or prefer(item[2], self.snaps[item[1]])
        ]
        choice = data.draw(st.integers(0, 19), label="milestone pick")
        if not everything or choice == 19:
            return data.draw(st.sampled_from(self.missing_ids("Milestone"))), None, None
        pool = preferred if preferred and choice < 15 else everything
        # draw ids (not the milestones) so that a failing example prints readably
        ref = data.draw(st.sampled_from([item[0] for item in pool]), label="milestone")
        return next(item for item in pool if item[0] == ref)

    def new_milestone(
        self, position: int, title: str, description: Any, due: Any, amount: int
    ) -> JSON:
        return {
            "id": None,
            "position": position,
            "title": title,
            "description": description,
            "dueDate": due,
            "amount": money(amount),
            "status": "UPCOMING",
            "fundedAmount": "0.00",
            "releasedAmount": "0.00",
            "refundedAmount": "0.00",
        }

    # ------------------------------------------------------------------ createContract

    def create_contract_as(
        self,
        *,
        title: str,
        currency: str | None,
        title_ok: bool = True,
        freelancer: str = "freelancer",
    ) -> str | None:
        freelancer_id = {
            "freelancer": self.user_ids["freelancer"],
            "self": self.user_ids["client"],
            "missing": missing_id("User"),
        }[freelancer]
        input_: JSON = {
            "title": title,
            "freelancerId": freelancer_id,
            "clientTeamId": self.client_team,
        }
        if currency is not None:
            input_["currency"] = currency
        bad = set() if title_ok else {"title"}
        if freelancer != "freelancer":
            bad.add("freelancerId")
        self.step += 1
        step = f"step {self.step}: client createContract({json.dumps(input_)})"
        listed_before = self.gql("client", CONTRACTS_QUERY)["contracts"]["edges"]
        payload = self.mutate("client", "createContract", input_)
        listed_after = self.gql("client", CONTRACTS_QUERY)["contracts"]["edges"]
        if bad:
            errors = payload["userErrors"]
            assert errors and payload["contract"] is None, f"{step}: accepted: {payload}"
            assert {e["code"] for e in errors} == {"VALIDATION"}, f"{step}: {errors}"
            assert {e["field"] for e in errors} == bad, f"{step}: {errors}"
            assert listed_after == listed_before, f"{step}: a refusal created a contract"
            return None
        assert payload["userErrors"] == [], f"{step}: refused: {payload['userErrors']}"
        contract = payload["contract"]
        # An offer: the machine plays accepted contracts, so the freelancer accepts at once
        # (offers themselves are played by the offer tests).
        assert contract["title"] == title and contract["status"] == "OFFERED", contract
        assert contract["currency"] == (currency or "USD"), contract
        assert contract["viewerRole"] == "CLIENT" and contract["endedAt"] is None, contract
        assert contract["client"]["id"] == self.user_ids["client"], contract
        assert contract["freelancer"]["id"] == self.user_ids["freelancer"], contract
        assert contract["milestones"] == [], contract
        assert set(contract["escrow"].values()) == {"0.00"}, contract
        assert len(listed_after) == len(listed_before) + 1, step
        assert listed_after[0]["node"]["id"] == contract["id"], f"{step}: newest first"
        accepted = self.mutate("freelancer", "acceptContract", {"contractId": contract["id"]})
        assert accepted["userErrors"] == [], f"{step}: {accepted['userErrors']}"
        assert accepted["contract"]["status"] == "ACTIVE", accepted
        self.contracts.append(contract["id"])
        snap = self.refresh(contract["id"])
        kinds = [e["kind"] for e in snap["events"]]
        assert kinds == ["CONTRACT_OFFERED", "CONTRACT_ACCEPTED"], snap["events"]
        assert snap["events"][0]["actor"]["id"] == self.user_ids["client"]
        return str(contract["id"])

    def seed_milestones(self, data: st.DataObject, contract_id: str, least: int) -> None:
        for _ in range(data.draw(st.integers(least, least + 2), label="milestones to add")):
            self.add_drawn(data, "client", contract_id, contract_id, valid_only=True)

    @initialize(data=st.data())
    def first_contract(self, data: st.DataObject) -> None:
        contract_id = self.create_contract_as(title="Website redesign", currency=None)
        assert contract_id is not None
        self.seed_milestones(data, contract_id, 1)
        # Some examples start with a change request sent, or a milestone funded, submitted or
        # with a refund asked: the rules that need one (answers, submit, reject, approve,
        # refunds) are then reachable from the first step, not only after a lucky sequence.
        start = data.draw(
            st.sampled_from(
                [
                    "upcoming",
                    "change requested",
                    "funded",
                    "submitted",
                    "refund asked",
                    "disputed",
                    "in mediation",
                    "in mediation",
                ]
            ),
            label="start",
        )
        first = self.snaps[contract_id]["milestones"][0]["id"]
        if start in ("funded", "submitted", "refund asked", "disputed", "in mediation"):
            self.activate("client", {"milestoneId": first})
        if start == "change requested":
            self.request_milestone_changes(data)
        if start == "submitted":
            self.submit_milestone(data)
        if start == "refund asked":
            self.request_escrow_refund(data)
        if start in ("disputed", "in mediation"):
            self.act(
                "freelancer",
                "submitMilestone",
                {"milestoneId": first},
                contract_id=contract_id,
                possible=frozenset({None}),
                kinds=["MILESTONE_SUBMITTED"],
            )
            self.open_dispute_with("freelancer", {"milestoneId": first})
        if start == "in mediation":
            dispute = self.snaps[contract_id]["openDispute"]
            self.act(
                "client",
                "respondToDispute",
                {"disputeId": dispute["id"], "decision": "REJECT"},
                contract_id=contract_id,
                possible=frozenset({None}),
                kinds=["DISPUTE_ESCALATED"],
            )
            self.mediated.add(contract_id)

    @precondition(
        lambda self: (
            len(self.contracts) < 5
            and sum(not is_ended(self.snaps[cid]) for cid in self.contracts) < 2
        )
    )
    @rule(data=st.data())
    @counted
    def create_contract(self, data: st.DataObject) -> None:
        title, title_ok = data.draw(title_inputs())
        currency = data.draw(st.sampled_from([None, "USD", "EUR"]))
        freelancer = data.draw(st.sampled_from(["freelancer"] * 8 + ["self", "missing"]))
        contract_id = self.create_contract_as(
            title=title, currency=currency, title_ok=title_ok, freelancer=freelancer
        )
        if contract_id is not None:
            self.seed_milestones(data, contract_id, 0)

    # ------------------------------------------------------------------ upcoming milestones

    @rule(data=st.data())
    @counted
    def add_milestone(self, data: st.DataObject) -> None:
        role = self.draw_role(data, ("client",))
        contract_ref, contract_id = self.draw_contract(data)
        self.add_drawn(data, role, contract_ref, contract_id)

    def add_drawn(
        self,
        data: st.DataObject,
        role: str,
        contract_ref: str,
        contract_id: str | None,
        valid_only: bool = False,
    ) -> None:
        if valid_only:
            title, title_ok = data.draw(st.sampled_from(TITLES)), True
        else:
            title, title_ok = data.draw(title_inputs())
        amount_input, amount = data.draw(amount_inputs(valid_only))
        input_: JSON = {"contractId": contract_ref, "title": title, "amount": amount_input}
        bad: set[str] = set()
        if not title_ok:
            bad.add("title")
        if amount is None:
            bad.add("amount")
        description = data.draw(st.sampled_from([None, *DESCRIPTIONS]))
        if description is not None:
            input_["description"] = description
        due: str | None = None
        if data.draw(st.booleans()):
            due, due_ok = data.draw(st.sampled_from(DATES)), True
            if not valid_only:
                due, due_ok = data.draw(date_inputs())
            input_["dueDate"] = due
            if not due_ok:
                bad.add("dueDate")
        snap = self.snaps.get(contract_id) if contract_id else None

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            assert amount is not None
            expected = [view(m) for m in before["milestones"]]
            expected.append(self.new_milestone(len(expected) + 1, title, description, due, amount))
            expected[-1]["id"] = payload["milestone"]["id"]
            self.expect(before, after, milestones=expected)
            assert after["events"][-1]["milestone"]["id"] == payload["milestone"]["id"]

        self.act(
            role,
            "addMilestone",
            input_,
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", role == "outsider" or contract_id is None, False),
                ("FORBIDDEN", role != "client", False),
                ("VALIDATION", bool(bad), False),
                ("CONTRACT_ENDED", is_ended(snap), False),
                ("CHANGE_REQUEST_PENDING", has_pending_change(snap), False),
            ),
            kinds=["MILESTONE_ADDED"],
            on_success=success,
            not_found_field="contractId",
            bad_fields=bad,
        )

    @precondition(lambda self: self.exists(("UPCOMING",)))
    @rule(data=st.data())
    @counted
    def edit_milestone(self, data: st.DataObject) -> None:
        role = self.draw_role(data, ("client",))
        drawn = self.draw_milestone(data, changeable)
        if drawn is None:
            return
        ref, contract_id, target = drawn
        input_: JSON = {"milestoneId": ref}
        bad: set[str] = set()
        changes: JSON = {}
        fields = data.draw(
            st.sets(st.sampled_from(["title", "description", "dueDate", "amount"]), min_size=1)
        )
        if "title" in fields:
            title, ok = data.draw(title_inputs())
            input_["title"] = changes["title"] = title
            if not ok:
                bad.add("title")
        if "description" in fields:
            input_["description"] = changes["description"] = data.draw(
                st.sampled_from([None, *DESCRIPTIONS])
            )
        if "dueDate" in fields:
            due, ok = data.draw(date_inputs()) if data.draw(st.booleans()) else (None, True)
            input_["dueDate"] = changes["dueDate"] = due
            if not ok:
                bad.add("dueDate")
        if "amount" in fields:
            amount_input, amount = data.draw(amount_inputs())
            input_["amount"] = amount_input
            if amount is None:
                bad.add("amount")
            else:
                changes["amount"] = money(amount)
        version_conflict = False
        if target is not None and data.draw(st.booleans()):
            stale = data.draw(st.booleans())
            input_["expectedVersion"] = target["version"] + (7 if stale else 0)
            version_conflict = stale
        snap = self.snaps.get(contract_id) if contract_id else None

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            assert target is not None
            expected = [view(m) for m in before["milestones"]]
            for m in expected:
                if m["id"] == target["id"]:
                    m.update(changes)
            self.expect(before, after, milestones=expected)
            edited = next(m for m in after["milestones"] if m["id"] == target["id"])
            assert edited["version"] > target["version"], f"step {self.step}: version unchanged"
            assert after["events"][-1]["milestone"]["id"] == target["id"]

        self.act(
            role,
            "editMilestone",
            input_,
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", role == "outsider" or contract_id is None, False),
                ("FORBIDDEN", role != "client", False),
                ("VALIDATION", bool(bad), False),
                ("CONTRACT_ENDED", is_ended(snap), False),
                (
                    "MILESTONE_NOT_UPCOMING",
                    target is not None and target["status"] != "UPCOMING",
                    False,
                ),
                ("CHANGE_REQUEST_PENDING", has_pending_change(snap), False),
                ("VERSION_CONFLICT", version_conflict, False),
            ),
            kinds=["MILESTONE_EDITED"],
            on_success=success,
            not_found_field="milestoneId",
            bad_fields=bad,
        )

    @precondition(lambda self: self.exists(("UPCOMING",)))
    @rule(data=st.data())
    @counted
    def delete_milestone(self, data: st.DataObject) -> None:
        role = self.draw_role(data, ("client",))
        drawn = self.draw_milestone(data, changeable)
        if drawn is None:
            return
        ref, contract_id, target = drawn
        snap = self.snaps.get(contract_id) if contract_id else None

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            assert target is not None
            assert payload["deletedMilestoneId"] == target["id"]
            expected = [view(m) for m in before["milestones"] if m["id"] != target["id"]]
            for position, m in enumerate(expected, start=1):
                m["position"] = position
            self.expect(before, after, milestones=expected)
            self.deleted.append(target["id"])

        self.act(
            role,
            "deleteMilestone",
            {"milestoneId": ref},
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", role == "outsider" or contract_id is None, False),
                ("FORBIDDEN", role != "client", False),
                ("CONTRACT_ENDED", is_ended(snap), False),
                (
                    "MILESTONE_NOT_UPCOMING",
                    target is not None and target["status"] != "UPCOMING",
                    False,
                ),
                ("CHANGE_REQUEST_PENDING", has_pending_change(snap), False),
            ),
            kinds=["MILESTONE_DELETED"],
            on_success=success,
            not_found_field="milestoneId",
        )

    # ------------------------------------------------------------------ funding and paying

    def idempotency(self, role: str, mutation: str, input_: JSON) -> tuple[bool, JSON | None, bool]:
        """(conflict, payload to replay, replay-or-conflict) for a keyed call."""
        key = input_.get("idempotencyKey")
        if key is None or role != "client" or (mutation, key) not in self.idempotent:
            return False, None, False
        first_input, first_payload = self.idempotent[(mutation, key)]
        if first_input == input_:
            return False, first_payload, False
        differing = {
            k for k in first_input.keys() | input_.keys() if first_input.get(k) != input_.get(k)
        }
        if differing == {"releaseAmount"}:
            # "all of it" left out or spelled out: whether that is the same input is not said
            funded = cents(first_payload["milestone"]["fundedAmount"])
            amounts = {first_input.get("releaseAmount"), input_.get("releaseAmount")}
            if amounts == {None, money(funded)}:
                return False, first_payload, True
        return True, None, False

    def activate(self, role: str, input_: JSON) -> None:
        ref = input_["milestoneId"]
        contract_id, target = self.locate(ref)
        snap = self.snaps.get(contract_id) if contract_id else None
        conflict, replay, ambiguous = self.idempotency(role, "activateMilestone", input_)
        key = input_.get("idempotencyKey")

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            assert target is not None
            amount = cents(target["amount"])
            escrow = escrow_cents(before)
            deposit = max(0, amount - escrow["available"])
            escrow["totalFunded"] += deposit
            escrow["held"] += deposit
            escrow["available"] -= amount - deposit
            expected = [view(m) for m in before["milestones"]]
            for m in expected:
                if m["id"] == target["id"]:
                    m.update(status="ACTIVE", fundedAmount=money(amount))
            self.expect(before, after, milestones=expected, escrow=escrow)
            assert after["events"][-1]["milestone"]["id"] == target["id"]

        payload = self.act(
            role,
            "activateMilestone",
            input_,
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", role == "outsider" or contract_id is None, False),
                ("FORBIDDEN", role != "client", False),
                ("IDEMPOTENCY_CONFLICT", conflict, False),
                ("CONTRACT_ENDED", is_ended(snap), False),
                (
                    "MILESTONE_NOT_UPCOMING",
                    target is not None and target["status"] != "UPCOMING",
                    False,
                ),
                ("REFUND_REQUEST_PENDING", has_pending_refund(snap), True),
                ("CHANGE_REQUEST_PENDING", has_pending_change(snap), False),
                ("ANOTHER_MILESTONE_ACTIVE", active_of(snap) is not None, False),
            ),
            kinds=["MILESTONE_ACTIVATED"],
            on_success=success,
            not_found_field="milestoneId",
            replay=replay,
            replay_or_conflict=ambiguous,
        )
        if payload is not None and key is not None:
            self.idempotent[("activateMilestone", key)] = (input_, payload)

    @precondition(lambda self: self.exists(("UPCOMING",)))
    @rule(data=st.data())
    @counted
    def activate_milestone(self, data: st.DataObject) -> None:
        role = self.draw_role(data, ("client",))
        drawn = self.draw_milestone(data, activatable)
        if drawn is None:
            return
        ref, _, _ = drawn
        input_: JSON = {"milestoneId": ref}
        key = data.draw(st.sampled_from([None, None, *IDEMPOTENCY_KEYS]))
        if key is not None:
            input_["idempotencyKey"] = key
        self.activate(role, input_)
        self.maybe_repeat(data, "activateMilestone", key)

    def maybe_repeat(self, data: st.DataObject, mutation: str, key: str | None) -> None:
        """Sometimes the same key again at once (a client retrying a lost answer): so that
        `repeat_keyed_call` runs on every draw of examples, not only when the draw picks it."""
        if (mutation, key) in self.idempotent and data.draw(st.booleans(), label="retry at once"):
            self.repeat_keyed_call(data)

    def approve(self, role: str, input_: JSON) -> None:
        ref = input_["milestoneId"]
        contract_id, target = self.locate(ref)
        snap = self.snaps.get(contract_id) if contract_id else None
        conflict, replay, ambiguous = self.idempotency(role, "approveMilestone", input_)
        key = input_.get("idempotencyKey")
        end = input_["endContract"]
        release_input = input_.get("releaseAmount")
        funded = cents(target["fundedAmount"]) if target is not None else 0
        release: int | None = funded
        badly_formed = False
        if release_input is not None:
            try:
                release = cents(release_input)
            except AssertionError:
                release, badly_formed = None, True
            if release == 0:
                release, badly_formed = None, True
        too_much = release is not None and release > funded
        is_funded = target is not None and target["status"] in FUNDED
        # Ending after the release asks back what is left (`available` then).
        leftover = 0
        if snap is not None and release is not None and is_funded:
            leftover = escrow_cents(snap)["available"] + funded - release
        bonus_input = input_.get("bonusAmount")
        bonus = 0
        if bonus_input is not None:
            try:
                bonus = cents(bonus_input)
            except AssertionError:
                bonus = 0
            badly_formed = badly_formed or bonus == 0

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            assert target is not None and release is not None
            escrow = escrow_cents(before)
            escrow["totalReleased"] += release
            escrow["held"] -= release
            escrow["available"] += funded - release
            escrow["totalFunded"] += bonus
            escrow["totalReleased"] += bonus
            escrow["totalBonus"] += bonus
            expected = [view(m) for m in before["milestones"]]
            for m in expected:
                if m["id"] == target["id"]:
                    m.update(status="RELEASED", releasedAmount=money(release))
            if end:
                self.expect_ended(before, after, leftover)
            self.expect(
                before,
                after,
                milestones=expected,
                escrow=escrow,
                status="ENDED" if end else None,
                pending_change=None if end else True,
                pending_refund=False if end else True,
            )
            assert after["events"][len(before["events"])]["milestone"]["id"] == target["id"]

        kinds = ["MILESTONE_APPROVED", *(["BONUS_PAID"] if bonus else [])]
        kinds += ["CONTRACT_ENDED"] if end else []
        kinds += ["REFUND_REQUESTED"] if end and leftover else []
        payload = self.act(
            role,
            "approveMilestone",
            input_,
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", role == "outsider" or contract_id is None, False),
                ("FORBIDDEN", role != "client", False),
                ("IDEMPOTENCY_CONFLICT", conflict, False),
                ("VALIDATION", badly_formed or (too_much and is_funded), False),
                ("VALIDATION", too_much, True),
                ("CONTRACT_ENDED", is_ended(snap), False),
                ("MILESTONE_NOT_ACTIVE", not is_funded, False),
                ("REFUND_REQUEST_PENDING", has_pending_refund(snap), False),
                ("DISPUTE_OPEN", has_open_dispute(snap), False),
            ),
            kinds=kinds,
            on_success=success,
            not_found_field="milestoneId",
            maybe_bad_fields={"releaseAmount", "bonusAmount"},
            replay=replay,
            replay_or_conflict=ambiguous,
        )
        if payload is not None and key is not None:
            self.idempotent[("approveMilestone", key)] = (input_, payload)

    @precondition(lambda self: self.exists(FUNDED))
    @rule(data=st.data())
    @counted
    def approve_milestone(self, data: st.DataObject) -> None:
        role = self.draw_role(data, ("client",))
        drawn = self.draw_milestone(data, payable)
        if drawn is None:
            return
        ref, _, target = drawn
        funded = cents(target["fundedAmount"]) if target is not None else 0
        releases: list[str | None] = [None, None, None, "0.01"]
        if funded:
            releases += [money(funded), money(max(1, funded // 2))]
            if funded > 1:
                releases += [money(funded - 1)] * 2
        if data.draw(st.integers(0, 5), label="bad release") == 5:
            releases = ["0", "1.234", "-1.00", "50.00", money(funded + 1)]
        input_: JSON = {
            "milestoneId": ref,
            "endContract": data.draw(st.sampled_from([False] * 5 + [True])),
        }
        release = data.draw(st.sampled_from(releases))
        if release is not None:
            input_["releaseAmount"] = release
        bonus = data.draw(st.sampled_from([None] * 6 + ["10.00", "0.01", "0"]), label="bonus")
        if bonus is not None:
            input_["bonusAmount"] = bonus
        key = data.draw(st.sampled_from([None, None, *IDEMPOTENCY_KEYS]))
        if key is not None:
            input_["idempotencyKey"] = key
        self.approve(role, input_)
        self.maybe_repeat(data, "approveMilestone", key)

    @precondition(lambda self: bool(self.idempotent))
    @rule(data=st.data())
    @counted
    def repeat_keyed_call(self, data: st.DataObject) -> None:
        """The same key again: the same input (a replay) or another one (a conflict)."""
        mutation, key = data.draw(st.sampled_from(sorted(self.idempotent)))
        first_input = self.idempotent[(mutation, key)][0]
        input_ = dict(first_input)
        variant = data.draw(st.sampled_from(["same", "same", "same", "other", "freelancer"]))
        role = "freelancer" if variant == "freelancer" else "client"
        if variant == "other":
            if mutation == "approveMilestone" and data.draw(st.booleans()):
                input_["endContract"] = not input_["endContract"]
            else:
                others = [
                    m["id"]
                    for cid in self.contracts
                    for m in self.snaps[cid]["milestones"]
                    if m["id"] != input_["milestoneId"]
                ]
                if not others:
                    return
                input_["milestoneId"] = data.draw(st.sampled_from(others))
        if mutation == "activateMilestone":
            self.activate(role, input_)
        else:
            self.approve(role, input_)

    @precondition(lambda self: self.exists(FUNDED))
    @rule(data=st.data())
    @counted
    def work_on_funded_milestone(self, data: st.DataObject) -> None:
        """While a milestone is funded, its own actions are drawn more often than the rest."""
        actions = [
            self.submit_milestone,
            self.reject_submission,
            self.approve_milestone,
            self.approve_milestone,
            self.request_escrow_refund,
            self.send_bonus,
            self.time_passes,
            self.open_dispute,
        ]
        if self.disputes:
            actions.append(self.respond_to_dispute)
        if self.mediated:
            actions.append(self.resolve_dispute)
        if self.refund_requests:
            actions.append(self.respond_to_refund_request)
        if self.idempotent:  # a keyed call is repeated while its milestone's money is live
            actions.append(self.repeat_keyed_call)
        data.draw(st.sampled_from(actions), label="action")(data)

    @counted
    def time_passes(self, data: st.DataObject | None = None) -> None:
        """The clock moves past every deadline: each one acts once, by itself (a pending refund
        request first: it pauses the review of the submitted milestone). Drawn among the
        funded milestone's actions, like `send_bonus`."""
        self.step += 1
        before = {cid: self.snaps[cid] for cid in self.contracts}
        clock.advance(dt.timedelta(days=15))
        self.loop.run_until_complete(self._deadlines_act())
        for cid in self.contracts:
            old, new = before[cid], self.refresh(cid)
            active, refund, dispute = (
                active_of(old),
                old["pendingRefundRequest"],
                old["openDispute"],
            )
            expected, escrow = [view(m) for m in old["milestones"]], escrow_cents(old)
            kinds: list[str] = []
            if dispute is not None:
                if dispute["status"] == "AWAITING_CLIENT":  # in mediation: it waits
                    expected, escrow = self.expect_moved(
                        old,
                        (dispute["milestone"] or {}).get("id"),
                        release=cents(dispute["amount"]),
                        refund=0,
                    )
                    kinds = ["DISPUTE_AUTO_RESOLVED"]
            elif refund is not None:
                expected, escrow = self.expect_moved(
                    old,
                    (refund["milestone"] or {}).get("id"),
                    release=0,
                    refund=cents(refund["amount"]),
                )
                kinds = ["REFUND_AUTO_ACCEPTED"]
            elif active is not None and active["status"] == "SUBMITTED" and not is_ended(old):
                expected, escrow = self.expect_moved(
                    old, active["id"], release=held_of(active), refund=0
                )
                kinds = ["MILESTONE_AUTO_RELEASED"]
            if kinds:
                OUTCOMES[f"deadline: {kinds[0]}"] += 1
            still_open = dispute if dispute and dispute["status"] == "IN_MEDIATION" else None
            self.expect(
                old,
                new,
                milestones=expected,
                escrow=escrow,
                pending_refund=None,
                open_dispute=(still_open or {}).get("id"),
            )
            added = new["events"][len(old["events"]) :]
            assert [event["kind"] for event in added] == kinds, f"step {self.step}: {added}"
            assert all(event["actor"] is None for event in added), added
        self.maybe_cross_check()

    async def _deadlines_act(self) -> None:
        """Until nothing is due (the app's own scheduler may be acting on some meanwhile)."""
        for _ in range(100):
            if not await deadlines.due_contracts(clock.now()):
                return
            await deadlines.act_on_due()
            await asyncio.sleep(0.01)
        raise AssertionError("deadlines still due after 100 rounds")

    def exists(self, statuses: tuple[str, ...]) -> bool:
        """Whether some milestone has one of these statuses (so the rule is worth drawing)."""
        return any(
            m["status"] in statuses for snap in self.snaps.values() for m in snap["milestones"]
        )

    def locate(self, milestone_id: str) -> tuple[str | None, JSON | None]:
        for cid in self.contracts:
            for m in self.snaps[cid]["milestones"]:
                if m["id"] == milestone_id:
                    return cid, m
        return None, None

    def move_milestone(
        self,
        data: st.DataObject,
        *,
        role_allowed: str,
        pick: Callable[[JSON, JSON], bool],
        mutation: str,
        from_status: str,
        to_status: str,
        wrong_status: str,
        kind: str,
    ) -> None:
        """A one-party action taking a milestone from `from_status` to `to_status`."""
        role = self.draw_role(data, (role_allowed,))
        drawn = self.draw_milestone(data, pick)
        if drawn is None:
            return
        ref, contract_id, target = drawn
        snap = self.snaps.get(contract_id) if contract_id else None

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            assert target is not None
            expected = [view(m) for m in before["milestones"]]
            for m in expected:
                if m["id"] == target["id"]:
                    m["status"] = to_status
            self.expect(before, after, milestones=expected)

        self.act(
            role,
            mutation,
            {"milestoneId": ref},
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", role == "outsider" or contract_id is None, False),
                ("FORBIDDEN", role != role_allowed, False),
                ("CONTRACT_ENDED", is_ended(snap), False),
                (
                    wrong_status,
                    target is not None and target["status"] != from_status,
                    False,
                ),
                ("REFUND_REQUEST_PENDING", has_pending_refund(snap), False),
                ("DISPUTE_OPEN", has_open_dispute(snap), False),
            ),
            kinds=[kind],
            on_success=success,
            not_found_field="milestoneId",
        )

    @precondition(lambda self: self.exists(("ACTIVE",)))
    @rule(data=st.data())
    @counted
    def submit_milestone(self, data: st.DataObject) -> None:
        self.move_milestone(
            data,
            role_allowed="freelancer",
            pick=submittable,
            mutation="submitMilestone",
            from_status="ACTIVE",
            to_status="SUBMITTED",
            wrong_status="MILESTONE_NOT_ACTIVE",
            kind="MILESTONE_SUBMITTED",
        )

    @precondition(lambda self: self.exists(("SUBMITTED",)))
    @rule(data=st.data())
    @counted
    def reject_submission(self, data: st.DataObject) -> None:
        self.move_milestone(
            data,
            role_allowed="client",
            pick=rejectable,
            mutation="rejectSubmission",
            from_status="SUBMITTED",
            to_status="ACTIVE",
            wrong_status="MILESTONE_NOT_SUBMITTED",
            kind="SUBMISSION_REJECTED",
        )

    @precondition(lambda self: self.exists(FUNDED))
    @rule(data=st.data())
    @counted
    def request_escrow_refund(self, data: st.DataObject) -> None:
        role = self.draw_role(data, ("client",))
        drawn = self.draw_milestone(data, payable)
        if drawn is None:
            return
        ref, contract_id, target = drawn
        message, message_ok = data.draw(message_inputs())
        input_: JSON = {"milestoneId": ref}
        if message is not None:
            input_["message"] = message
        snap = self.snaps.get(contract_id) if contract_id else None

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            assert target is not None and contract_id is not None
            request = payload["refundRequest"]
            assert request["status"] == "PENDING" and request["milestone"]["id"] == target["id"]
            assert request["amount"] == target["fundedAmount"], request
            assert request["message"] == message, request
            self.expect(before, after, pending_refund=request["id"])
            self.refund_requests[request["id"]] = contract_id
            event = after["events"][-1]
            assert event["refundRequest"]["id"] == request["id"], event
            assert event["milestone"]["id"] == target["id"], event

        self.act(
            role,
            "requestEscrowRefund",
            input_,
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", role == "outsider" or contract_id is None, False),
                ("FORBIDDEN", role != "client", False),
                ("VALIDATION", not message_ok, False),
                ("CONTRACT_ENDED", is_ended(snap), False),
                (
                    "MILESTONE_NOT_ACTIVE",
                    target is not None and target["status"] not in FUNDED,
                    False,
                ),
                ("REFUND_REQUEST_PENDING", has_pending_refund(snap), False),
                ("DISPUTE_OPEN", has_open_dispute(snap), False),
            ),
            kinds=["REFUND_REQUESTED"],
            on_success=success,
            not_found_field="milestoneId",
            bad_fields=set() if message_ok else {"message"},
        )

    @precondition(lambda self: bool(self.refund_requests))
    @rule(data=st.data())
    @counted
    def respond_to_refund_request(self, data: st.DataObject) -> None:
        role = self.draw_role(data, ("freelancer",))
        pending = [
            snap["pendingRefundRequest"]["id"]
            for snap in self.snaps.values()
            if snap["pendingRefundRequest"] is not None
        ]
        choice = data.draw(st.integers(0, 9))
        if not pending and not self.refund_requests and choice > 2:
            return  # nothing to answer: only sometimes try a made-up id
        if pending and choice < 8:
            ref = data.draw(st.sampled_from(pending))
        elif self.refund_requests and choice < 9:
            ref = data.draw(st.sampled_from(sorted(self.refund_requests)))
        else:
            ref = data.draw(st.sampled_from(self.missing_ids("RefundRequest")))
        contract_id = self.refund_requests.get(ref)
        snap = self.snaps.get(contract_id) if contract_id else None
        is_pending = snap is not None and (snap["pendingRefundRequest"] or {}).get("id") == ref
        decision = data.draw(st.sampled_from(["ACCEPT", "DECLINE"]))
        message, message_ok = data.draw(message_inputs())
        input_: JSON = {"refundRequestId": ref, "decision": decision}
        if message is not None:
            input_["message"] = message

        declined_on_ended = decision == "DECLINE" and is_ended(snap) and is_pending

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            request = before["pendingRefundRequest"]
            assert payload["refundRequest"]["id"] == ref
            assert payload["refundRequest"]["status"] == PAST[decision]
            assert payload["refundRequest"]["responseMessage"] == message
            if decision == "DECLINE":
                self.expect(before, after, pending_refund=None)
                return
            milestone_id = (request["milestone"] or {}).get("id")
            expected, escrow = self.expect_moved(
                before, milestone_id, release=0, refund=cents(request["amount"])
            )
            self.expect(before, after, milestones=expected, escrow=escrow, pending_refund=None)

        self.act(
            role,
            "respondToRefundRequest",
            input_,
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", role == "outsider" or contract_id is None, False),
                ("FORBIDDEN", role != "freelancer", False),
                ("VALIDATION", not message_ok or declined_on_ended, False),
                # A pending one is answered even on an ended contract (its escrow's rest).
                ("CONTRACT_ENDED", is_ended(snap) and not is_pending, False),
                ("NOT_PENDING", not is_pending, False),
            ),
            kinds=["REFUND_ACCEPTED" if decision == "ACCEPT" else "REFUND_DECLINED"],
            on_success=success,
            not_found_field="refundRequestId",
            bad_fields=(set() if message_ok else {"message"})
            | ({"decision"} if declined_on_ended else set()),
        )

    # ------------------------------------------------------------------ ending

    @rule(data=st.data())
    @counted
    def end_contract(self, data: st.DataObject) -> None:
        role = self.draw_role(data, PARTIES)
        contract_ref, contract_id = self.draw_contract(data)
        snap = self.snaps.get(contract_id) if contract_id else None
        would_end = (
            snap is not None
            and not is_ended(snap)
            and not has_pending_refund(snap)
            and not has_open_dispute(snap)
        )
        if (
            would_end
            and role != "outsider"
            and not data.draw(st.sampled_from([False] * 7 + [True]), label="end")
        ):
            # ending is final: keep it rarer than the rest, and do something else instead
            self.add_drawn(data, "client", contract_ref, contract_id)
            return
        held = escrow_cents(snap)["held"] if snap is not None else 0
        pays: list[str | None] = [None, None, "0", "0.00"]
        if held:
            pays += [money(held), money(max(1, held // 2)), "0.01"]
        if data.draw(st.integers(0, 5), label="bad pay") == 5:
            pays = ["-1.00", "1.234", money(held + 1)]
        pay_input = data.draw(st.sampled_from(pays), label="payAmount")
        input_: JSON = {"contractId": contract_ref}
        if pay_input is not None:
            input_["payAmount"] = pay_input
        pay = parse_zero_or_more(pay_input)
        bad_pay = pay is None or pay > held or (role == "freelancer" and pay > 0)
        active = active_of(snap)
        by_client = role == "client"
        rest = held - (pay or 0) if by_client else 0

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            assert pay is not None
            expected, escrow = self.expect_moved(
                before,
                (active or {}).get("id"),
                release=pay if by_client else 0,
                refund=0 if by_client else held,
            )
            self.expect_ended(before, after, rest)
            self.expect(
                before,
                after,
                milestones=expected,
                escrow=escrow,
                status="ENDED",
                pending_change=None,
                pending_refund=False,
            )
            refund = after["pendingRefundRequest"]
            if refund is not None:
                still = next((m for m in expected if m["id"] == (active or {}).get("id")), None)
                holds = still is not None and still["status"] in FUNDED
                assert (refund["milestone"] or {}).get("id") == (
                    still["id"] if holds and still else None
                ), f"step {self.step}: {refund} for {still}"
                OUTCOMES["endContract: the rest asked back"] += 1

        self.act(
            role,
            "endContract",
            input_,
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", role == "outsider" or contract_id is None, False),
                ("FORBIDDEN", role == "member", False),
                ("VALIDATION", bad_pay, False),
                ("CONTRACT_ENDED", is_ended(snap), False),
                ("REFUND_REQUEST_PENDING", has_pending_refund(snap), False),
                ("DISPUTE_OPEN", has_open_dispute(snap), False),
            ),
            kinds=["CONTRACT_ENDED", *(["REFUND_REQUESTED"] if rest else [])],
            on_success=success,
            not_found_field="contractId",
            bad_fields={"payAmount"} if bad_pay else None,
        )

    @counted
    def send_bonus(self, data: st.DataObject) -> None:
        """Drawn among the funded milestone's actions (a rule of its own would take steps
        from the rarer ones)."""
        role = self.draw_role(data, ("client",))
        contract_ref, contract_id = self.draw_contract(data)
        snap = self.snaps.get(contract_id) if contract_id else None
        amount_input, amount = data.draw(amount_inputs())
        input_: JSON = {"contractId": contract_ref, "amount": amount_input}
        if data.draw(st.booleans(), label="bonus message"):
            input_["message"] = data.draw(st.sampled_from(MESSAGES))

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            assert amount is not None
            escrow = escrow_cents(before)
            escrow["totalFunded"] += amount
            escrow["totalReleased"] += amount
            escrow["totalBonus"] += amount
            self.expect(before, after, escrow=escrow)

        self.act(
            role,
            "sendBonus",
            input_,
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", role == "outsider" or contract_id is None, False),
                ("FORBIDDEN", role != "client", False),
                ("VALIDATION", amount is None, False),
                ("CONTRACT_ENDED", is_ended(snap), False),
            ),
            kinds=["BONUS_PAID"],
            on_success=success,
            not_found_field="contractId",
            bad_fields={"amount"} if amount is None else None,
        )

    # ------------------------------------------------------------------ change requests

    @rule(data=st.data())
    @counted
    def request_milestone_changes(self, data: st.DataObject) -> None:
        role = self.draw_role(data, ("freelancer",))
        contract_ref, contract_id = self.draw_contract(data)
        snap = self.snaps.get(contract_id) if contract_id else None
        own = snap["milestones"] if snap is not None else []
        foreign = [
            m["id"]
            for cid in self.contracts
            if cid != contract_id
            for m in self.snaps[cid]["milestones"]
        ]
        # most requests are well formed; a sloppy one may hold any mistake
        sloppy = data.draw(st.integers(0, 3), label="sloppy") == 3
        count = data.draw(st.sampled_from([0, 1, 2, 3] if sloppy else [2, 3, 1, 2, 3]))
        changes: list[JSON] = []  # what is sent
        model: list[JSON] = []  # what it means: kind, target, fields as the API shows them
        bad: set[str] = set()
        maybe_bad: set[str] = set()
        not_upcoming = False
        targeted: set[str] = set()
        if count == 0:
            bad.add("changes")
        for index in range(count):
            at = f"changes.{index}"
            kind = data.draw(st.sampled_from(["ADD", "EDIT", "DELETE"]))
            free = [m for m in own if m["status"] == "UPCOMING" and m["id"] not in targeted]
            if not sloppy and not free:
                kind = "ADD"
            change: JSON = {"kind": kind}
            meaning: JSON = {
                "kind": kind,
                "target": None,
                "title": None,
                "description": None,
                "dueDate": None,
                "amount": None,
            }
            mistake = sloppy and data.draw(st.integers(0, 2), label="mistake") == 2
            if kind == "ADD":
                fields = {"title", "amount"} | data.draw(
                    st.sets(st.sampled_from(["description", "dueDate"]))
                )
                if mistake and data.draw(st.booleans()):
                    fields.discard(data.draw(st.sampled_from(["title", "amount"])))
                    bad.add(f"{at}.{'title' if 'title' not in fields else 'amount'}")
                elif mistake and own:
                    change["milestoneId"] = data.draw(st.sampled_from([m["id"] for m in own]))
                    bad.add(f"{at}.milestoneId")
            else:
                fields = set()
                if kind == "EDIT":
                    fields = data.draw(
                        st.sets(
                            st.sampled_from(["title", "description", "dueDate", "amount"]),
                            min_size=1,
                        )
                    )
                choice = data.draw(st.integers(1, 4)) if mistake else 0
                if choice == 4:
                    bad.add(f"{at}.milestoneId")  # left out
                elif choice == 1 and foreign:
                    change["milestoneId"] = data.draw(st.sampled_from(foreign))
                    bad.add(f"{at}.milestoneId")
                elif choice == 2:
                    change["milestoneId"] = data.draw(
                        st.sampled_from(self.missing_ids("Milestone"))
                    )
                    bad.add(f"{at}.milestoneId")
                elif own:
                    pool = free if free and choice == 0 else own
                    target_id = data.draw(st.sampled_from([m["id"] for m in pool]))
                    target = next(m for m in pool if m["id"] == target_id)
                    change["milestoneId"] = meaning["target"] = target["id"]
                    if target["id"] in targeted:
                        bad.add(f"{at}.milestoneId")
                    elif target["status"] != "UPCOMING":
                        maybe_bad.add(f"{at}.milestoneId")
                        not_upcoming = True
                    targeted.add(target["id"])
                else:
                    bad.add(f"{at}.milestoneId")
            if "title" in fields:
                title, ok = (
                    data.draw(title_inputs())
                    if sloppy
                    else (data.draw(st.sampled_from(TITLES)), True)
                )
                change["title"] = meaning["title"] = title
                if not ok:
                    bad.add(f"{at}.title")
            if "description" in fields:
                change["description"] = meaning["description"] = data.draw(
                    st.sampled_from(DESCRIPTIONS)
                )
            if "dueDate" in fields:
                due, ok = (
                    data.draw(date_inputs())
                    if sloppy
                    else (data.draw(st.sampled_from(DATES)), True)
                )
                change["dueDate"] = meaning["dueDate"] = due
                if not ok:
                    bad.add(f"{at}.dueDate")
            if "amount" in fields:
                amount_input, amount = data.draw(amount_inputs(valid_only=not sloppy))
                change["amount"] = amount_input
                if amount is None:
                    bad.add(f"{at}.amount")
                else:
                    meaning["amount"] = money(amount)
            changes.append(change)
            model.append(meaning)
        message, message_ok = data.draw(message_inputs())
        if not message_ok:
            bad.add("message")
        input_: JSON = {"contractId": contract_ref, "changes": changes}
        if message is not None:
            input_["message"] = message

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            assert contract_id is not None
            request = payload["changeRequest"]
            assert request["status"] == "PENDING" and request["message"] == message, request
            assert len(request["changes"]) == len(model), request
            for got, want in zip(request["changes"], model, strict=True):
                assert got["kind"] == want["kind"], (got, want)
                assert (got["milestone"] or {}).get("id") == want["target"], (got, want)
                for key in ("title", "description", "dueDate", "amount"):
                    assert got[key] == want[key], (key, got, want)
            self.expect(before, after, pending_change=request["id"])
            self.change_requests[request["id"]] = (contract_id, model)
            assert after["events"][-1]["changeRequest"]["id"] == request["id"]

        self.act(
            role,
            "requestMilestoneChanges",
            input_,
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", role == "outsider" or contract_id is None, False),
                ("FORBIDDEN", role != "freelancer", False),
                ("VALIDATION", bool(bad), False),
                ("VALIDATION", bool(maybe_bad), True),
                ("CONTRACT_ENDED", is_ended(snap), False),
                ("MILESTONE_NOT_UPCOMING", not_upcoming, False),
                ("CHANGE_REQUEST_PENDING", has_pending_change(snap), False),
            ),
            kinds=["CHANGE_REQUEST_SUBMITTED"],
            on_success=success,
            not_found_field="contractId",
            bad_fields=bad,
            maybe_bad_fields=maybe_bad,
        )

    def draw_change_request(
        self, data: st.DataObject, pending_share: int = 8
    ) -> tuple[str, str | None, bool] | None:
        """(changeRequestId to send, its contract or None, whether it is pending)."""
        pending = [
            snap["pendingChangeRequest"]["id"]
            for snap in self.snaps.values()
            if snap["pendingChangeRequest"] is not None
        ]
        choice = data.draw(st.integers(0, 9))
        if not pending and not self.change_requests and choice > 2:
            return None  # nothing to answer: only sometimes try a made-up id
        if pending and choice < pending_share:
            ref = data.draw(st.sampled_from(pending))
        elif self.change_requests and choice < 9:
            ref = data.draw(st.sampled_from(sorted(self.change_requests)))
        else:
            ref = data.draw(st.sampled_from(self.missing_ids("ChangeRequest")))
        contract_id = self.change_requests[ref][0] if ref in self.change_requests else None
        snap = self.snaps.get(contract_id) if contract_id else None
        is_pending = snap is not None and (snap["pendingChangeRequest"] or {}).get("id") == ref
        return ref, contract_id, is_pending

    @precondition(lambda self: bool(self.change_requests))
    @rule(data=st.data())
    @counted
    def respond_to_change_request(self, data: st.DataObject) -> None:
        role = self.draw_role(data, ("client",))
        drawn = self.draw_change_request(data)
        if drawn is None:
            return
        ref, contract_id, is_pending = drawn
        snap = self.snaps.get(contract_id) if contract_id else None
        decision = data.draw(st.sampled_from(["ACCEPT", "ACCEPT", "ACCEPT", "DECLINE"]))
        message, message_ok = data.draw(message_inputs())
        input_: JSON = {"changeRequestId": ref, "decision": decision}
        if message is not None:
            input_["message"] = message

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            request = payload["changeRequest"]
            assert request["id"] == ref and request["status"] == PAST[decision], request
            assert request["responseMessage"] == message, request
            assert request["respondedAt"] is not None, request
            if decision == "DECLINE":
                self.expect(before, after, pending_change=None)
                return
            model = self.change_requests[ref][1]
            expected = [view(m) for m in before["milestones"]]
            by_id = {m["id"]: m for m in expected}
            removed: set[str] = set()
            added: list[JSON] = []
            for change in model:
                if change["kind"] == "EDIT":
                    for key in ("title", "description", "dueDate", "amount"):
                        if change[key] is not None:
                            by_id[change["target"]][key] = change[key]
                elif change["kind"] == "DELETE":
                    removed.add(change["target"])
                else:
                    added.append(
                        self.new_milestone(
                            0,
                            change["title"],
                            change["description"],
                            change["dueDate"],
                            cents(change["amount"]),
                        )
                    )
            expected = [m for m in expected if m["id"] not in removed] + added
            for position, m in enumerate(expected, start=1):
                m["position"] = position
            self.expect(before, after, milestones=expected, pending_change=None)
            self.deleted += sorted(removed)
            new_ids = [m["id"] for m in after["milestones"][len(expected) - len(added) :]]
            assert not set(new_ids) & set(by_id), f"step {self.step}: ADD reused an id"
            add_targets = [
                (c["milestone"] or {}).get("id") for c in request["changes"] if c["kind"] == "ADD"
            ]
            assert add_targets == new_ids, (
                f"step {self.step}: accepted ADD changes name {add_targets}, created {new_ids}"
            )

        self.act(
            role,
            "respondToChangeRequest",
            input_,
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", role == "outsider" or contract_id is None, False),
                ("FORBIDDEN", role != "client", False),
                ("VALIDATION", not message_ok, False),
                ("CONTRACT_ENDED", is_ended(snap), False),
                ("NOT_PENDING", not is_pending, False),
            ),
            kinds=[f"CHANGE_REQUEST_{PAST[decision]}"],
            on_success=success,
            not_found_field="changeRequestId",
            bad_fields=set() if message_ok else {"message"},
        )

    @precondition(lambda self: bool(self.change_requests))
    @rule(data=st.data())
    @counted
    def work_on_change_requests(self, data: st.DataObject) -> None:
        """Once a change request was sent, its answers are drawn more often (and through a
        second rule, so that hypothesis disabling one rule in an example leaves the other)."""
        actions = [
            self.respond_to_change_request,
            self.withdraw_change_request,
            self.request_milestone_changes,
        ]
        data.draw(st.sampled_from(actions), label="action")(data)

    @precondition(lambda self: bool(self.change_requests))
    @rule(data=st.data())
    @counted
    def withdraw_change_request(self, data: st.DataObject) -> None:
        role = self.draw_role(data, ("freelancer",))
        drawn = self.draw_change_request(data, pending_share=4)
        if drawn is None:
            return
        ref, contract_id, is_pending = drawn
        snap = self.snaps.get(contract_id) if contract_id else None

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            request = payload["changeRequest"]
            assert request["id"] == ref and request["status"] == "WITHDRAWN", request
            self.expect(before, after, pending_change=None)

        self.act(
            role,
            "withdrawChangeRequest",
            {"changeRequestId": ref},
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", role == "outsider" or contract_id is None, False),
                ("FORBIDDEN", role != "freelancer", False),
                ("CONTRACT_ENDED", is_ended(snap), False),
                ("NOT_PENDING", not is_pending, False),
            ),
            kinds=["CHANGE_REQUEST_WITHDRAWN"],
            on_success=success,
            not_found_field="changeRequestId",
        )

    # ------------------------------------------------------------------ disputes

    def dispute_of(self, ref: str) -> tuple[str | None, JSON | None, int]:
        """(its contract, the dispute while it is open, its amount) of a dispute id."""
        contract_id, amount = self.disputes.get(ref, (None, 0))
        snap = self.snaps.get(contract_id) if contract_id else None
        open_one = snap["openDispute"] if snap is not None else None
        return contract_id, open_one if (open_one or {}).get("id") == ref else None, amount

    def open_dispute_with(self, role: str, input_: JSON, message_ok: bool = True) -> None:
        """The freelancer disputes `refundRequestId` or `milestoneId` (exactly one)."""
        refund_ref = input_.get("refundRequestId")
        if refund_ref is not None:
            contract_id = self.refund_requests.get(refund_ref)
            snap = self.snaps.get(contract_id) if contract_id else None
            pending = (snap or {}).get("pendingRefundRequest") or {}
            not_disputable = pending.get("id") != refund_ref
            target_milestone = (pending.get("milestone") or {}).get("id")
            amount = cents(pending["amount"]) if not not_disputable else 0
            field = "refundRequestId"
        else:
            contract_id, target = self.locate(input_["milestoneId"])
            snap = self.snaps.get(contract_id) if contract_id else None
            not_disputable = (
                target is None or snap is None or not disputable(target, snap)
            ) and not has_open_dispute(snap)
            target_milestone = (target or {}).get("id")
            amount = held_of(target)
            field = "milestoneId"

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            assert contract_id is not None
            dispute = payload["dispute"]
            assert dispute["status"] == "AWAITING_CLIENT", dispute
            assert cents(dispute["amount"]) == amount, (dispute, amount)
            assert (dispute["milestone"] or {}).get("id") == target_milestone, dispute
            if refund_ref is not None:
                assert dispute["refundRequest"] == {"id": refund_ref, "status": "DISPUTED"}
            else:
                assert dispute["refundRequest"] is None, dispute
            self.expect(before, after, pending_refund=None, open_dispute=dispute["id"])
            self.disputes[dispute["id"]] = (contract_id, amount)
            assert after["events"][-1]["milestone"] == (
                {"id": target_milestone} if target_milestone else None
            )

        self.act(
            role,
            "openDispute",
            input_,
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", role == "outsider" or contract_id is None, False),
                ("FORBIDDEN", role != "freelancer", False),
                ("VALIDATION", not message_ok, False),
                ("DISPUTE_OPEN", has_open_dispute(snap), False),
                ("NOT_DISPUTABLE", not_disputable, False),
            ),
            kinds=["DISPUTE_OPENED"],
            on_success=success,
            not_found_field=field,
            bad_fields=set() if message_ok else {"message"},
        )

    @precondition(lambda self: self.exists(FUNDED) or bool(self.refund_requests))
    @rule(data=st.data())
    @counted
    def open_dispute(self, data: st.DataObject) -> None:
        role = self.draw_role(data, ("freelancer",))
        message, message_ok = data.draw(message_inputs())
        pending = [
            snap["pendingRefundRequest"]["id"]
            for snap in self.snaps.values()
            if snap["pendingRefundRequest"] is not None
        ]
        choice = data.draw(st.integers(0, 9), label="dispute what")
        input_: JSON
        if pending and choice < 5:
            input_ = {"refundRequestId": data.draw(st.sampled_from(pending))}
        elif self.refund_requests and choice == 9:
            input_ = {"refundRequestId": data.draw(st.sampled_from(sorted(self.refund_requests)))}
        else:
            drawn = self.draw_milestone(data, disputable)
            if drawn is None:
                return
            input_ = {"milestoneId": drawn[0]}
        if message is not None:
            input_["message"] = message
        self.open_dispute_with(role, input_, message_ok)

    def draw_dispute(self, data: st.DataObject, status: str) -> str:
        """An open dispute in `status` mostly, else any dispute seen, else a made-up id."""
        wanted = [
            snap["openDispute"]["id"]
            for snap in self.snaps.values()
            if snap["openDispute"] is not None and snap["openDispute"]["status"] == status
        ]
        choice = data.draw(st.integers(0, 9), label="dispute pick")
        if wanted and choice < 8:
            return str(data.draw(st.sampled_from(wanted), label="dispute"))
        if self.disputes and choice < 9:
            return str(data.draw(st.sampled_from(sorted(self.disputes)), label="dispute"))
        return str(data.draw(st.sampled_from(self.missing_ids("Dispute"))))

    def draw_dispute_role(self, data: st.DataObject, proper: str) -> str:
        others = [role for role in (*PARTIES, "outsider", MEDIATOR) if role != proper]
        return str(data.draw(st.sampled_from([proper] * 6 + others), label="role"))

    def not_found_for(self, role: str, contract_id: str | None) -> bool:
        """A stranger, an unknown id, or a mediator on a room no dispute took to mediation."""
        return (
            role == "outsider"
            or contract_id is None
            or (role == MEDIATOR and contract_id not in self.mediated)
        )

    @precondition(lambda self: bool(self.disputes))
    @rule(data=st.data())
    @counted
    def respond_to_dispute(self, data: st.DataObject) -> None:
        role = self.draw_dispute_role(data, "client")
        ref = self.draw_dispute(data, "AWAITING_CLIENT")
        contract_id, dispute, amount = self.dispute_of(ref)
        awaiting = dispute is not None and dispute["status"] == "AWAITING_CLIENT"
        decision = data.draw(st.sampled_from(["ACCEPT", "ACCEPT", "REJECT"]))
        message, message_ok = data.draw(message_inputs())
        input_: JSON = {"disputeId": ref, "decision": decision}
        if message is not None:
            input_["message"] = message

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            assert dispute is not None and contract_id is not None
            if decision == "REJECT":
                assert payload["dispute"]["status"] == "IN_MEDIATION"
                self.expect(before, after)
                self.mediated.add(contract_id)
                return
            assert payload["dispute"]["status"] == "RESOLVED"
            resolution = payload["dispute"]["resolution"]
            assert resolution["kind"] == "CLIENT_ACCEPTED", resolution
            assert resolution["decidedBy"] == {"id": self.user_ids["client"]}, resolution
            assert cents(resolution["releasedAmount"]) == amount, resolution
            expected, escrow = self.expect_moved(
                before, (dispute["milestone"] or {}).get("id"), release=amount, refund=0
            )
            self.expect(before, after, milestones=expected, escrow=escrow, open_dispute=None)

        self.act(
            role,
            "respondToDispute",
            input_,
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", self.not_found_for(role, contract_id), False),
                ("FORBIDDEN", role != "client", False),
                ("VALIDATION", not message_ok, False),
                ("NOT_PENDING", not awaiting, False),
            ),
            kinds=["DISPUTE_ACCEPTED" if decision == "ACCEPT" else "DISPUTE_ESCALATED"],
            on_success=success,
            not_found_field="disputeId",
            bad_fields=set() if message_ok else {"message"},
        )
        # Sometimes the mediator decides at once: so that `resolve_dispute` runs on every draw of
        # examples, not only when the draw picks it while a dispute is in mediation.
        if self.mediated and data.draw(st.booleans(), label="mediator decides at once"):
            self.resolve_dispute(data)

    @precondition(lambda self: bool(self.mediated))
    @rule(data=st.data())
    @counted
    def resolve_dispute(self, data: st.DataObject) -> None:
        role = self.draw_dispute_role(data, MEDIATOR)
        ref = self.draw_dispute(data, "IN_MEDIATION")
        contract_id, dispute, amount = self.dispute_of(ref)
        in_mediation = dispute is not None and dispute["status"] == "IN_MEDIATION"
        releases = ["0", "0.00", money(amount), money(amount // 2), "0.01"]
        if data.draw(st.integers(0, 5), label="bad release") == 5:
            releases = ["-1.00", "1.234", money(amount + 1)]
        release_input = data.draw(st.sampled_from(releases), label="releaseAmount")
        release = parse_zero_or_more(release_input)
        bad_release = release is None or release > amount
        message, message_ok = data.draw(message_inputs())
        input_: JSON = {"disputeId": ref, "releaseAmount": release_input}
        if message is not None:
            input_["message"] = message
        bad = ({"releaseAmount"} if bad_release else set()) | (set() if message_ok else {"message"})

        def success(before: JSON, after: JSON, payload: JSON) -> None:
            assert dispute is not None and release is not None
            resolution = payload["dispute"]["resolution"]
            assert resolution["kind"] == "MEDIATOR_DECIDED", resolution
            assert resolution["decidedBy"] == {"id": self.user_ids[MEDIATOR]}, resolution
            assert (cents(resolution["releasedAmount"]), cents(resolution["refundedAmount"])) == (
                release,
                amount - release,
            ), resolution
            expected, escrow = self.expect_moved(
                before,
                (dispute["milestone"] or {}).get("id"),
                release=release,
                refund=amount - release,
            )
            self.expect(before, after, milestones=expected, escrow=escrow, open_dispute=None)

        self.act(
            role,
            "resolveDispute",
            input_,
            contract_id=contract_id,
            possible=outcomes(
                ("NOT_FOUND", self.not_found_for(role, contract_id), False),
                ("FORBIDDEN", role != MEDIATOR, False),
                ("VALIDATION", bool(bad), False),
                ("NOT_PENDING", not in_mediation, False),
            ),
            kinds=["DISPUTE_RESOLVED"],
            on_success=success,
            not_found_field="disputeId",
            bad_fields=bad,
        )

    # ------------------------------------------------------------------ what each party sees

    def views_agree(self) -> None:
        """The freelancer and the client team's member see what the client sees; the outsider
        sees nothing."""
        for cid in self.contracts:
            as_client = dict(self.snaps[cid])
            as_freelancer = self.read(cid, "freelancer")
            assert as_client.pop("viewerRole") == "CLIENT"
            assert as_freelancer.pop("viewerRole") == "FREELANCER"
            assert as_freelancer == as_client, diff(as_client, as_freelancer)
            as_member = self.read(cid, "member")
            assert as_member.pop("viewerRole") == "CLIENT"
            assert as_member == as_client, diff(as_client, as_member)
            hidden = self.gql("outsider", OUTSIDER_CONTRACT_QUERY, {"id": cid})
            assert hidden == {"contract": None, "node": None}, hidden
            for m in self.snaps[cid]["milestones"]:
                assert self.gql("outsider", NODE_QUERY, {"id": m["id"]}) == {"node": None}
        for ref in [*self.refund_requests, *self.change_requests, *self.disputes]:
            assert self.gql("outsider", NODE_QUERY, {"id": ref}) == {"node": None}
        assert self.gql("outsider", CONTRACTS_QUERY) == {"contracts": {"edges": []}}
        # A mediator sees, read-only, the rooms a dispute took to mediation; nothing else.
        for cid in self.contracts:
            if cid in self.mediated:
                as_mediator = self.read(cid, MEDIATOR)
                assert as_mediator.pop("viewerRole") == "MEDIATOR"
                as_client = dict(self.snaps[cid])
                as_client.pop("viewerRole")
                assert as_mediator == as_client, diff(as_client, as_mediator)
            else:
                hidden = self.gql(MEDIATOR, OUTSIDER_CONTRACT_QUERY, {"id": cid})
                assert hidden == {"contract": None, "node": None}, hidden
        assert self.gql(MEDIATOR, CONTRACTS_QUERY) == {"contracts": {"edges": []}}

    def notifications_match_events(self) -> None:
        """Each event is one notification for the other party, and none for anyone else."""
        for role in (*ROLES, MEDIATOR):
            me = self.user_ids[role]
            expected: Counter[tuple[str, str]] = Counter()
            # The client team's member is on the client's side: told of what the freelancer
            # (and nobody: a deadline; a mediator) did, never of the client's own actions.
            side = self.user_ids["client"] if role == "member" else me
            for cid in self.contracts:
                for event in self.snaps[cid]["events"]:
                    if role == MEDIATOR:
                        # Every mediator is told of each dispute sent to mediation.
                        if event["kind"] == "DISPUTE_ESCALATED":
                            expected[(cid, event["kind"])] += 1
                    # Nobody's action (a deadline acted): both parties are told.
                    elif role != "outsider" and (
                        event["actor"] is None or event["actor"]["id"] not in (me, side)
                    ):
                        expected[(cid, event["kind"])] += 1
            got: Counter[tuple[str, str]] = Counter()
            after: str | None = None
            while True:
                page = self.gql(role, NOTIFICATIONS_QUERY, {"after": after})["notifications"]
                for edge in page["edges"]:
                    node = edge["node"]
                    assert edge["cursor"] == node["cursor"], edge
                    assert (node["actor"] or {}).get("id") != me, f"{role} notified of own action"
                    got[(node["contract"]["id"], node["kind"])] += 1
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
            assert got == expected, (
                f"{role}: notifications {sorted(got.items())}\nexpected {sorted(expected.items())}"
            )


def same_event(before: JSON, after: JSON) -> bool:
    """The same logged event (a milestone it names may since have been deleted)."""
    if after["milestone"] is None and before["milestone"] is not None:
        after = {**after, "milestone": before["milestone"]}
    return before == after


def diff(before: JSON, after: JSON) -> str:
    lines = []
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) != after.get(key):
            lines.append(
                f"  {key}: {json.dumps(before.get(key))}\n    -> {json.dumps(after.get(key))}"
            )
    return "\n".join(lines)


STATEFUL_SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    # The same examples on every run, so that "every rule ran" (below) is a property of the
    # code, not of the draw; MILESTONES_STATEFUL_RANDOM=1 explores new ones (while developing).
    derandomize=os.environ.get("MILESTONES_STATEFUL_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    # MILESTONES_STATEFUL_SHRINK=0: report the first failure as found (quicker while debugging)
    phases=[phase for phase in Phase if phase is not Phase.explain]
    if os.environ.get("MILESTONES_STATEFUL_SHRINK", "1") != "0"
    else [Phase.explicit, Phase.reuse, Phase.generate],
)


def test_workflow_state_machine() -> None:
    url = test_database_url()
    require_service(postgres_unavailable(url) if is_postgres_url(url) else None)
    OUTCOMES.clear()
    RULES_RUN.clear()
    try:
        run_state_machine_as_test(WorkflowMachine, settings=STATEFUL_SETTINGS)
    finally:
        # what the run exercised (shown with `pytest -s`, or on failure)
        print("\n".join(f"{count:6d}  {name}" for name, count in sorted(OUTCOMES.items())))
        print("\n".join(f"{count:6d}  rule {name}" for name, count in sorted(RULES_RUN.items())))
    # A rule that became unreachable fails here, not silently.
    rules = [name for name, value in vars(WorkflowMachine).items() if hasattr(value, RULE_MARKER)]
    assert len(rules) >= 20, rules
    too_rare = {name: RULES_RUN[name] for name in rules if RULES_RUN[name] < MIN_RULE_RUNS}
    assert not too_rare, f"rules that ran fewer than {MIN_RULE_RUNS} times: {too_rare}"
