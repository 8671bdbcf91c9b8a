"""The rules are pure: they answer "would this be refused, and why" over state already loaded."""

from __future__ import annotations

from milestones.domain import rules
from milestones.domain.access import Role, role_among, role_refusal
from milestones.domain.errors import ErrorCode
from milestones.models import ChangeRequest, Contract, Milestone, RefundRequest
from milestones.models.enums import (
    ChangeRequestStatus,
    ContractStatus,
    MilestoneStatus,
    RefundRequestStatus,
)


def _contract(status: ContractStatus = ContractStatus.ACTIVE) -> Contract:
    return Contract(id=1, title="T", client_id=1, freelancer_id=2, status=status, event_seq=0)


def _milestone(status: MilestoneStatus, version: int = 1) -> Milestone:
    return Milestone(
        id=7, contract_id=1, position=1, title="M", amount=100, status=status, version=version
    )


def _room(
    contract: Contract | None = None,
    *,
    change: int | None = None,
    refund: int | None = None,
    funded: int | None = None,
) -> rules.RoomState:
    return rules.RoomState(contract or _contract(), change, refund, funded)


def _code(problem: object) -> ErrorCode | None:
    return getattr(problem, "code", None)


def test_activation_answers_in_the_contracts_order() -> None:
    upcoming = _milestone(MilestoneStatus.UPCOMING)
    assert rules.activate_refusal(_room(), upcoming) is None
    ended = _room(_contract(ContractStatus.ENDED), change=3, funded=8)
    assert _code(rules.activate_refusal(ended, upcoming)) is ErrorCode.CONTRACT_ENDED
    active = _milestone(MilestoneStatus.ACTIVE)
    assert (
        _code(rules.activate_refusal(_room(change=3), active)) is ErrorCode.MILESTONE_NOT_UPCOMING
    )
    both = _room(change=3, funded=8)
    assert _code(rules.activate_refusal(both, upcoming)) is ErrorCode.CHANGE_REQUEST_PENDING
    funded = _room(funded=8)
    assert _code(rules.activate_refusal(funded, upcoming)) is ErrorCode.ANOTHER_MILESTONE_ACTIVE


def test_a_pending_refund_request_freezes_the_active_milestone() -> None:
    active = _milestone(MilestoneStatus.ACTIVE)
    submitted = _milestone(MilestoneStatus.SUBMITTED)
    pending = _room(refund=5)
    assert _code(rules.submit_refusal(pending, active)) is ErrorCode.REFUND_REQUEST_PENDING
    assert _code(rules.approve_refusal(pending, submitted)) is ErrorCode.REFUND_REQUEST_PENDING
    assert (
        _code(rules.reject_submission_refusal(pending, submitted))
        is ErrorCode.REFUND_REQUEST_PENDING
    )
    assert _code(rules.request_refund_refusal(pending, active)) is ErrorCode.REFUND_REQUEST_PENDING
    assert rules.approve_refusal(_room(), submitted) is None


def test_each_milestone_action_needs_its_status() -> None:
    upcoming = _milestone(MilestoneStatus.UPCOMING)
    released = _milestone(MilestoneStatus.RELEASED)
    assert _code(rules.submit_refusal(_room(), upcoming)) is ErrorCode.MILESTONE_NOT_ACTIVE
    active = _milestone(MilestoneStatus.ACTIVE)
    assert _code(rules.reject_submission_refusal(_room(), active)) is (
        ErrorCode.MILESTONE_NOT_SUBMITTED
    )
    assert _code(rules.approve_refusal(_room(), released)) is ErrorCode.MILESTONE_NOT_ACTIVE
    assert _code(rules.edit_milestone_refusal(_room(), active)) is ErrorCode.MILESTONE_NOT_UPCOMING
    assert _code(rules.delete_milestone_refusal(_room(), released)) is (
        ErrorCode.MILESTONE_NOT_UPCOMING
    )


def test_an_edit_checks_the_version_last() -> None:
    upcoming = _milestone(MilestoneStatus.UPCOMING, version=3)
    assert rules.edit_milestone_refusal(_room(), upcoming, 3) is None
    assert _code(rules.edit_milestone_refusal(_room(), upcoming, 2)) is ErrorCode.VERSION_CONFLICT
    assert _code(rules.edit_milestone_refusal(_room(change=1), upcoming, 2)) is (
        ErrorCode.CHANGE_REQUEST_PENDING
    )


def test_not_pending_is_one_rule_for_both_kinds_of_request() -> None:
    contract = _contract()
    for request in (
        ChangeRequest(id=1, contract_id=1, requested_by_id=2, status=ChangeRequestStatus.ACCEPTED),
        RefundRequest(
            id=1,
            contract_id=1,
            milestone_id=7,
            requested_by_id=1,
            amount=5,
            status=RefundRequestStatus.DECLINED,
        ),
    ):
        assert _code(rules.answer_refusal(contract, request)) is ErrorCode.NOT_PENDING
    pending = ChangeRequest(
        id=1, contract_id=1, requested_by_id=2, status=ChangeRequestStatus.PENDING
    )
    assert rules.answer_refusal(contract, pending) is None
    ended = _contract(ContractStatus.ENDED)
    assert _code(rules.answer_refusal(ended, pending)) is ErrorCode.CONTRACT_ENDED


def test_release_is_at_most_what_the_milestone_holds() -> None:
    assert rules.release_within_funded(None, 100) is None
    assert rules.release_within_funded(100, 100) is None
    problem = rules.release_within_funded(101, 100)
    assert problem is not None
    assert (problem.code, problem.field) == (ErrorCode.VALIDATION, "release_amount")


def test_ending_waits_for_the_funded_milestone() -> None:
    assert rules.end_contract_refusal(_room()) is None
    assert _code(rules.end_contract_refusal(_room(funded=3))) is ErrorCode.FUNDS_IN_ESCROW


def test_change_requests_concern_upcoming_milestones_before_anything_pending() -> None:
    active = _milestone(MilestoneStatus.ACTIVE)
    problem = rules.request_changes_refusal(_room(change=1), [(2, active)])
    assert problem is not None
    assert (problem.code, problem.field) == (
        ErrorCode.MILESTONE_NOT_UPCOMING,
        "changes.2.milestone_id",
    )
    assert _code(rules.request_changes_refusal(_room(change=1))) is ErrorCode.CHANGE_REQUEST_PENDING


def test_who_is_a_party_is_one_rule_for_ids_and_subs() -> None:
    assert role_among(1, 1, 2) is Role.CLIENT
    assert role_among("fred", "cleo", "fred") is Role.FREELANCER
    assert role_among(3, 1, 2) is None
    assert role_refusal(Role.CLIENT, Role.CLIENT, "x") is None
    assert role_refusal(Role.FREELANCER, None, "x") is None
    forbidden = role_refusal(Role.FREELANCER, Role.CLIENT, "activate milestones")
    assert forbidden is not None and forbidden.code is ErrorCode.FORBIDDEN


def test_an_offer_is_answered_once() -> None:
    for refusal in (rules.accept_contract_refusal, rules.decline_contract_refusal):
        assert refusal(_contract(ContractStatus.OFFERED)) is None
        for answered in (ContractStatus.ACTIVE, ContractStatus.ENDED, ContractStatus.DECLINED):
            assert _code(refusal(_contract(answered))) is ErrorCode.NOT_PENDING, answered


def test_money_and_work_wait_for_acceptance_and_the_contract_state_comes_first() -> None:
    offered = _room(_contract(ContractStatus.OFFERED))
    upcoming = _milestone(MilestoneStatus.UPCOMING)
    not_accepted = ErrorCode.CONTRACT_NOT_ACCEPTED
    # A milestone state that would refuse too: the contract's state answers first.
    assert _code(rules.activate_refusal(offered, upcoming)) is not_accepted
    for refusal in (
        rules.submit_refusal,
        rules.reject_submission_refusal,
        rules.approve_refusal,
        rules.request_refund_refusal,
    ):
        assert _code(refusal(offered, upcoming)) is not_accepted, refusal
    assert _code(rules.send_bonus_refusal(offered)) is not_accepted
    assert _code(rules.request_changes_refusal(offered)) is not_accepted
    # Preparing milestones is allowed on an offer.
    assert rules.add_milestone_refusal(offered) is None
    assert rules.edit_milestone_refusal(offered, upcoming) is None
    assert rules.delete_milestone_refusal(offered, upcoming) is None


def test_a_declined_offer_is_final_like_an_ended_contract() -> None:
    declined = _room(_contract(ContractStatus.DECLINED))
    upcoming = _milestone(MilestoneStatus.UPCOMING)
    assert _code(rules.add_milestone_refusal(declined)) is ErrorCode.CONTRACT_ENDED
    assert _code(rules.activate_refusal(declined, upcoming)) is ErrorCode.CONTRACT_ENDED
    for role in (Role.CLIENT, Role.FREELANCER):
        assert _code(rules.end_contract_refusal(declined, role)) is ErrorCode.CONTRACT_ENDED


def test_only_the_client_ends_an_offer_by_withdrawing_it() -> None:
    offered = _room(_contract(ContractStatus.OFFERED))
    assert rules.end_contract_refusal(offered, Role.CLIENT) is None
    assert (
        _code(rules.end_contract_refusal(offered, Role.FREELANCER))
        is ErrorCode.CONTRACT_NOT_ACCEPTED
    )
    assert rules.end_contract_refusal(_room(), Role.FREELANCER) is None


def test_an_offer_by_email_waits_for_its_person() -> None:
    assert role_among(5, 1, None) is None
    assert role_among(None, 1, None) is None
    assert role_among(1, 1, None) is Role.CLIENT
    assert role_among("fred", "cleo", "fred") is Role.FREELANCER
