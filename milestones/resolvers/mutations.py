"""Mutation root: each field parses its input into a command, runs one domain action, and
maps the outcome (or the refusal) to its payload."""

from __future__ import annotations

import dataclasses
import functools

import strawberry
from strawberry import UNSET

from milestones.domain import (
    bonuses,
    change_requests,
    commands,
    contracts,
    disputes,
    milestones,
    notification_settings,
    notifications,
    refunds,
    teams,
    webhooks,
)
from milestones.domain.errors import Validation
from milestones.domain.outcome import Outcome
from milestones.domain.values import OMITTED, Omitted
from milestones.models import Team as TeamModel
from milestones.models import WebhookEndpoint as WebhookEndpointModel
from milestones.models.enums import EventKind
from milestones.resolvers import parse
from milestones.resolvers.mapping import contract_type, global_id, perform
from milestones.schema.arguments import MutationInput
from milestones.schema.context import Info
from milestones.schema.enums import ChangeKind, Decision, DisputeDecision
from milestones.schema.inputs import (
    AcceptContractInput,
    ActivateMilestoneInput,
    AddMilestoneInput,
    AddTeamMemberInput,
    ApproveMilestoneInput,
    ChangeTeamMemberRoleInput,
    CreateContractInput,
    CreateTeamInput,
    CreateWebhookEndpointInput,
    DeclineContractInput,
    DeleteMilestoneInput,
    DeleteWebhookEndpointInput,
    EditMilestoneInput,
    EndContractInput,
    MarkNotificationsReadInput,
    MilestoneChangeInput,
    OpenDisputeInput,
    RejectSubmissionInput,
    RemoveTeamMemberInput,
    RequestEscrowRefundInput,
    RequestMilestoneChangesInput,
    ResolveDisputeInput,
    RespondToChangeRequestInput,
    RespondToDisputeInput,
    RespondToRefundRequestInput,
    SendBonusInput,
    SubmitMilestoneInput,
    UpdateNotificationSettingsInput,
    UpdateWebhookEndpointInput,
    WithdrawChangeRequestInput,
)
from milestones.schema.payloads import (
    BonusPayload,
    ChangeRequestPayload,
    ContractPayload,
    CreateWebhookEndpointPayload,
    DeleteMilestonePayload,
    DeleteWebhookEndpointPayload,
    DisputePayload,
    MarkNotificationsReadPayload,
    MilestonePayload,
    RefundRequestPayload,
    TeamPayload,
    UpdateNotificationSettingsPayload,
    UpdateWebhookEndpointPayload,
)
from milestones.schema.types import (
    ChangeRequest,
    Dispute,
    Notification,
    NotificationSettings,
    RefundRequest,
    Team,
    WebhookEndpoint,
    milestone_of,
)


async def _contract_payload(outcome: Outcome, info: Info) -> ContractPayload:
    return ContractPayload(contract=await contract_type(info, outcome.contract))


async def _bonus_payload(outcome: Outcome, info: Info) -> BonusPayload:
    return BonusPayload(contract=await contract_type(info, outcome.contract))


async def _milestone_payload(outcome: Outcome, info: Info) -> MilestonePayload:
    assert outcome.milestone is not None
    return MilestonePayload(
        milestone=await milestone_of(info, outcome.milestone),
        contract=await contract_type(info, outcome.contract),
    )


async def _deleted_payload(outcome: Outcome, info: Info) -> DeleteMilestonePayload:
    assert outcome.milestone is not None
    return DeleteMilestonePayload(
        deleted_milestone_id=global_id("Milestone", outcome.milestone.id),
        contract=await contract_type(info, outcome.contract),
    )


async def _refund_payload(outcome: Outcome, info: Info) -> RefundRequestPayload:
    assert outcome.refund_request is not None
    milestone = outcome.milestone
    return RefundRequestPayload(
        refund_request=RefundRequest.of(outcome.refund_request),
        milestone=await milestone_of(info, milestone) if milestone is not None else None,
        contract=await contract_type(info, outcome.contract),
    )


async def _dispute_payload(outcome: Outcome, info: Info) -> DisputePayload:
    assert outcome.dispute is not None
    return DisputePayload(
        dispute=Dispute.of(outcome.dispute),
        contract=await contract_type(info, outcome.contract),
    )


async def _change_request_payload(outcome: Outcome, info: Info) -> ChangeRequestPayload:
    assert outcome.change_request is not None
    return ChangeRequestPayload(
        change_request=ChangeRequest.of(outcome.change_request),
        contract=await contract_type(info, outcome.contract),
    )


async def _marked_payload(
    marked: notifications.MarkedRead, info: Info
) -> MarkNotificationsReadPayload:
    return MarkNotificationsReadPayload(
        count=len(marked.notifications),
        notifications=[Notification.of(row) for row in marked.notifications],
        unread_count=marked.unread_count,
    )


async def _team_payload(team: TeamModel, info: Info) -> TeamPayload:
    return TeamPayload(team=Team.of(team))


def _team_id(raw: object) -> int | None:
    return parse.node_id(raw, "Team")


def _milestone_id(raw: object) -> int | None:
    return parse.node_id(raw, "Milestone")


def _contract_id(raw: object) -> int | None:
    return parse.node_id(raw, "Contract")


def _change(index: int, change: MilestoneChangeInput, errors: Validation) -> commands.Change:
    """One change of a request; its shape (what each kind takes) is checked here."""
    prefix = f"changes.{index}."
    edit = commands.MilestoneEdit()
    if change.kind is not ChangeKind.DELETE:
        edit = parse.milestone_edit(
            errors,
            prefix,
            title_=change.title,
            description=change.description,
            due_date=change.due_date,
            amount_=change.amount,
        )
    given_id = parse.optional(change.milestone_id) is not None
    values: dict[str, object] = {
        "title": change.title,
        "description": change.description,
        "due_date": change.due_date,
        "amount": change.amount,
    }
    if change.kind is ChangeKind.DELETE:
        for name, value in values.items():
            if parse.optional(value) is not None:
                errors.add(f"{prefix}{name}", "A DELETE change takes only milestoneId.")
    elif change.kind is ChangeKind.ADD:
        if given_id:
            errors.add(f"{prefix}milestone_id", "An ADD change creates a new milestone.")
        if change.title is strawberry.UNSET:
            errors.add(f"{prefix}title", "Title is required.")
        if change.amount is strawberry.UNSET:
            errors.add(f"{prefix}amount", "Amount is required.")
    elif not parse.sent(*values.values()):
        errors.add(prefix.rstrip("."), "An EDIT change must change at least one field.")
    return commands.Change(
        kind=change.kind,
        milestone_id=_milestone_id(change.milestone_id) if given_id else None,
        edit=edit,
    )


@strawberry.type(
    description="What the viewer may do. Each mutation takes one `input` and returns a payload: "
    "the objects it acted on, or null and `userErrors` when refused (a refusal changes "
    "nothing). Every mutation needs a bearer token."
)
class Mutation:
    @strawberry.mutation(
        description="Offer a contract to a freelancer (status OFFERED, event CONTRACT_OFFERED); "
        "the viewer becomes its client. The freelancer party answers with acceptContract or "
        "declineContract. Refuses VALIDATION (title; exactly one of freelancerId, an existing "
        "user other than the viewer, and freelancerEmail, an address other than the "
        "viewer's; currency)."
    )
    async def create_contract(
        self, info: Info, input: MutationInput[CreateContractInput]
    ) -> ContractPayload:
        errors = Validation()
        by_id = parse.optional(input.freelancer_id) is not None
        by_email = parse.optional(input.freelancer_email) is not None
        to_team = parse.optional(input.freelancer_team_id) is not None
        if by_id + by_email + to_team != 1:
            errors.add(
                "freelancer_id",
                "Give exactly one of freelancerId, freelancerEmail or freelancerTeamId.",
            )
        command = commands.CreateContract(
            title=parse.title(input.title, "title", errors),
            freelancer_id=parse.node_id(input.freelancer_id, "User") if by_id else None,
            freelancer_email=(
                parse.freelancer_email(input.freelancer_email, "freelancer_email", errors)
                if by_email and not by_id
                else None
            ),
            currency=parse.currency(input.currency, "currency", errors),
            client_team_id=parse.team_scope(input.client_team_id),
            freelancer_team_id=(
                parse.team_scope(input.freelancer_team_id) if to_team and not by_id else None
            ),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info, ContractPayload, contracts.create_contract, command, _contract_payload
        )

    @strawberry.mutation(
        description="Freelancer party: accept an offer; the contract becomes ACTIVE (event "
        "CONTRACT_ACCEPTED, the client is notified). Refuses NOT_FOUND, FORBIDDEN (the "
        "client), NOT_PENDING (already accepted, declined or withdrawn)."
    )
    async def accept_contract(
        self, info: Info, input: MutationInput[AcceptContractInput]
    ) -> ContractPayload:
        errors = Validation()
        command = commands.AcceptContract(
            contract_id=_contract_id(input.contract_id),
            message=parse.text(input.message, "message", errors),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info, ContractPayload, contracts.accept_contract, command, _contract_payload
        )

    @strawberry.mutation(
        description="Freelancer party: decline an offer; the contract becomes DECLINED, final "
        "(event CONTRACT_DECLINED, the client is notified). Refuses NOT_FOUND, FORBIDDEN "
        "(the client), NOT_PENDING (already accepted, declined or withdrawn)."
    )
    async def decline_contract(
        self, info: Info, input: MutationInput[DeclineContractInput]
    ) -> ContractPayload:
        errors = Validation()
        command = commands.DeclineContract(
            contract_id=_contract_id(input.contract_id),
            message=parse.text(input.message, "message", errors),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info, ContractPayload, contracts.decline_contract, command, _contract_payload
        )

    @strawberry.mutation(
        description="Client: add an upcoming milestone at the end. Refuses FORBIDDEN (freelancer), "
        "CONTRACT_ENDED, CHANGE_REQUEST_PENDING, VALIDATION."
    )
    async def add_milestone(
        self, info: Info, input: MutationInput[AddMilestoneInput]
    ) -> MilestonePayload:
        errors = Validation()
        command = commands.AddMilestone(
            contract_id=_contract_id(input.contract_id),
            title=parse.title(input.title, "title", errors),
            description=parse.text(input.description, "description", errors),
            due_date=parse.date(input.due_date, "due_date", errors),
            amount=parse.amount(input.amount, "amount", errors),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info, MilestonePayload, milestones.add_milestone, command, _milestone_payload
        )

    @strawberry.mutation(
        description="Client: edit an upcoming milestone; omitted fields stay. Refuses FORBIDDEN, "
        "CONTRACT_ENDED, MILESTONE_NOT_UPCOMING, CHANGE_REQUEST_PENDING, "
        "VERSION_CONFLICT, VALIDATION."
    )
    async def edit_milestone(
        self, info: Info, input: MutationInput[EditMilestoneInput]
    ) -> MilestonePayload:
        errors = Validation()
        edit = parse.milestone_edit(
            errors,
            "",
            title_=input.title,
            description=input.description,
            due_date=input.due_date,
            amount_=input.amount,
        )
        if not parse.sent(input.title, input.description, input.due_date, input.amount):
            errors.add(None, "Give at least one of title, description, dueDate or amount.")
        command = commands.EditMilestone(
            milestone_id=_milestone_id(input.milestone_id),
            edit=edit,
            expected_version=parse.expected_version(input.expected_version, errors),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info, MilestonePayload, milestones.edit_milestone, command, _milestone_payload
        )

    @strawberry.mutation(
        description="Client: delete an upcoming milestone; later positions close the gap. Refuses "
        "FORBIDDEN, CONTRACT_ENDED, MILESTONE_NOT_UPCOMING, CHANGE_REQUEST_PENDING."
    )
    async def delete_milestone(
        self, info: Info, input: MutationInput[DeleteMilestoneInput]
    ) -> DeleteMilestonePayload:
        errors = Validation()
        command = commands.DeleteMilestone(
            milestone_id=_milestone_id(input.milestone_id),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info, DeleteMilestonePayload, milestones.delete_milestone, command, _deleted_payload
        )

    @strawberry.mutation(
        description="Client: fund an upcoming milestone into escrow (the contract's `available` "
        "money first, a deposit for the rest); it becomes ACTIVE. Safe to retry with "
        "the same `idempotencyKey`. Refuses FORBIDDEN, CONTRACT_ENDED, CONTRACT_NOT_ACCEPTED, "
        "MILESTONE_NOT_UPCOMING, ANOTHER_MILESTONE_ACTIVE, CHANGE_REQUEST_PENDING, "
        "IDEMPOTENCY_CONFLICT."
    )
    async def activate_milestone(
        self, info: Info, input: MutationInput[ActivateMilestoneInput]
    ) -> MilestonePayload:
        errors = Validation()
        command = commands.ActivateMilestone(
            milestone_id=_milestone_id(input.milestone_id),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info, MilestonePayload, milestones.activate_milestone, command, _milestone_payload
        )

    @strawberry.mutation(
        description="Freelancer: submit the work of the ACTIVE milestone for the client's review; "
        "it becomes SUBMITTED and `Milestone.submissions` gains the submission, with its "
        "message and files (`attachments`: send them as a GraphQL multipart request). Refuses "
        "FORBIDDEN, CONTRACT_ENDED, CONTRACT_NOT_ACCEPTED, MILESTONE_NOT_ACTIVE, "
        "REFUND_REQUEST_PENDING, DISPUTE_OPEN, VALIDATION."
    )
    async def submit_milestone(
        self, info: Info, input: MutationInput[SubmitMilestoneInput]
    ) -> MilestonePayload:
        errors = Validation()
        command = commands.SubmitMilestone(
            milestone_id=_milestone_id(input.milestone_id),
            message=parse.text(input.message, "message", errors),
            attachments=parse.attachments(input.attachments, "attachments", errors),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info, MilestonePayload, milestones.submit_milestone, command, _milestone_payload
        )

    @strawberry.mutation(
        description="Client: send a submission back; the milestone is ACTIVE again and keeps its "
        "money. Refuses FORBIDDEN, CONTRACT_ENDED, CONTRACT_NOT_ACCEPTED, MILESTONE_NOT_SUBMITTED, "
        "REFUND_REQUEST_PENDING."
    )
    async def reject_submission(
        self, info: Info, input: MutationInput[RejectSubmissionInput]
    ) -> MilestonePayload:
        errors = Validation()
        command = commands.RejectSubmission(
            milestone_id=_milestone_id(input.milestone_id),
            message=parse.text(input.message, "message", errors),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info, MilestonePayload, milestones.reject_submission, command, _milestone_payload
        )

    @strawberry.mutation(
        description="Client: approve an ACTIVE or SUBMITTED milestone and release all of its funds "
        "or `releaseAmount` of them to the freelancer; it becomes RELEASED and the "
        "rest becomes the contract's `available` money. With `endContract: true` the "
        "contract ends after it. Safe to retry with the same `idempotencyKey`. Refuses "
        "FORBIDDEN, CONTRACT_ENDED, CONTRACT_NOT_ACCEPTED, MILESTONE_NOT_ACTIVE, "
        "REFUND_REQUEST_PENDING, IDEMPOTENCY_CONFLICT, VALIDATION."
    )
    async def approve_milestone(
        self, info: Info, input: MutationInput[ApproveMilestoneInput]
    ) -> MilestonePayload:
        errors = Validation()
        release = parse.optional(input.release_amount)
        bonus = parse.optional(input.bonus_amount)
        command = commands.ApproveMilestone(
            milestone_id=_milestone_id(input.milestone_id),
            end_contract=input.end_contract,
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            message=parse.text(input.message, "message", errors),
            release_amount=(
                None if release is None else parse.amount(release, "release_amount", errors)
            ),
            bonus_amount=None if bonus is None else parse.amount(bonus, "bonus_amount", errors),
            problems=errors.found,
        )
        return await perform(
            info, MilestonePayload, milestones.approve_milestone, command, _milestone_payload
        )

    @strawberry.mutation(
        description="Client: pay the freelancer a bonus, deposited and released at once."
    )
    async def send_bonus(self, info: Info, input: MutationInput[SendBonusInput]) -> BonusPayload:
        errors = Validation()
        command = commands.SendBonus(
            contract_id=_contract_id(input.contract_id),
            amount=parse.amount(input.amount, "amount", errors),
            message=parse.text(input.message, "message", errors),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(info, BonusPayload, bonuses.send_bonus, command, _bonus_payload)

    @strawberry.mutation(
        description="Client: ask for the ACTIVE or SUBMITTED milestone's funds back; the "
        "freelancer answers with `respondToRefundRequest`. Refuses FORBIDDEN, "
        "CONTRACT_ENDED, CONTRACT_NOT_ACCEPTED, MILESTONE_NOT_ACTIVE, REFUND_REQUEST_PENDING."
    )
    async def request_escrow_refund(
        self, info: Info, input: MutationInput[RequestEscrowRefundInput]
    ) -> RefundRequestPayload:
        errors = Validation()
        command = commands.RequestEscrowRefund(
            milestone_id=_milestone_id(input.milestone_id),
            message=parse.text(input.message, "message", errors),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info, RefundRequestPayload, refunds.request_escrow_refund, command, _refund_payload
        )

    @strawberry.mutation(
        description="Freelancer: answer a pending refund request. ACCEPT: the milestone becomes "
        "REFUNDED and its funds go back to the client; DECLINE: nothing changes. "
        "Refuses FORBIDDEN, NOT_PENDING."
    )
    async def respond_to_refund_request(
        self, info: Info, input: MutationInput[RespondToRefundRequestInput]
    ) -> RefundRequestPayload:
        errors = Validation()
        command = commands.RespondToRefundRequest(
            refund_request_id=parse.node_id(input.refund_request_id, "RefundRequest"),
            accept=input.decision is Decision.ACCEPT,
            message=parse.text(input.message, "message", errors),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info, RefundRequestPayload, refunds.respond_to_refund_request, command, _refund_payload
        )

    @strawberry.mutation(
        description="Either party: end the contract. Upcoming milestones stay as they are "
        "(frozen) and a pending change request is DECLINED. Money still held: the client pays "
        "`payAmount` to the freelancer at once (the active milestone's funds first) and the "
        "rest becomes a refund request to the freelancer; the freelancer ending gives it all "
        "back to the client at once. On an offer, the client withdraws it (DECLINED, event "
        "CONTRACT_DECLINED). Refuses CONTRACT_ENDED, CONTRACT_NOT_ACCEPTED (the freelancer on "
        "an offer: accept or decline it), REFUND_REQUEST_PENDING, DISPUTE_OPEN, VALIDATION "
        "(payAmount above `escrow.held`, or from the freelancer)."
    )
    async def end_contract(
        self, info: Info, input: MutationInput[EndContractInput]
    ) -> ContractPayload:
        errors = Validation()
        pay = parse.optional(input.pay_amount)
        command = commands.EndContract(
            contract_id=_contract_id(input.contract_id),
            message=parse.text(input.message, "message", errors),
            pay_amount=0 if pay is None else parse.amount(pay, "pay_amount", errors, zero=True),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info, ContractPayload, contracts.end_contract, command, _contract_payload
        )

    @strawberry.mutation(
        description="Freelancer: dispute a pending refund request (instead of answering it) or "
        "the active milestone after a submission (the client withholds payment). Its money is "
        "frozen until the client answers, a mediator decides, or `respondBy` passes. Refuses "
        "FORBIDDEN, NOT_DISPUTABLE, DISPUTE_OPEN (one open dispute per contract), VALIDATION."
    )
    async def open_dispute(
        self, info: Info, input: MutationInput[OpenDisputeInput]
    ) -> DisputePayload:
        errors = Validation()
        refund_raw = parse.optional(input.refund_request_id)
        milestone_raw = parse.optional(input.milestone_id)
        if (refund_raw is None) == (milestone_raw is None):
            errors.add("milestone_id", "Give exactly one of refundRequestId and milestoneId.")
        command = commands.OpenDispute(
            refund_request_id=(
                parse.node_id(refund_raw, "RefundRequest") if refund_raw is not None else None
            ),
            milestone_id=_milestone_id(milestone_raw) if milestone_raw is not None else None,
            message=parse.text(input.message, "message", errors),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        if refund_raw is not None and command.refund_request_id is None:
            # An id that names no refund request: NOT_FOUND, as for any other id.
            command = dataclasses.replace(command, refund_request_id=-1)
        if milestone_raw is not None and command.milestone_id is None:
            command = dataclasses.replace(command, milestone_id=-1)
        return await perform(info, DisputePayload, disputes.open_dispute, command, _dispute_payload)

    @strawberry.mutation(
        description="Client: answer a dispute awaiting you. ACCEPT: the disputed amount goes to "
        "the freelancer; REJECT: a mediator decides (mediators are notified). Refuses "
        "FORBIDDEN, NOT_PENDING (not awaiting the client any more)."
    )
    async def respond_to_dispute(
        self, info: Info, input: MutationInput[RespondToDisputeInput]
    ) -> DisputePayload:
        errors = Validation()
        command = commands.RespondToDispute(
            dispute_id=parse.node_id(input.dispute_id, "Dispute"),
            accept=input.decision is DisputeDecision.ACCEPT,
            message=parse.text(input.message, "message", errors),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info, DisputePayload, disputes.respond_to_dispute, command, _dispute_payload
        )

    @strawberry.mutation(
        description="Mediator: decide a dispute in mediation. `releaseAmount` (0 to the "
        "disputed amount) goes to the freelancer, the rest back to the client. Refuses "
        "FORBIDDEN (a party), NOT_PENDING (not in mediation), VALIDATION."
    )
    async def resolve_dispute(
        self, info: Info, input: MutationInput[ResolveDisputeInput]
    ) -> DisputePayload:
        errors = Validation()
        command = commands.ResolveDispute(
            dispute_id=parse.node_id(input.dispute_id, "Dispute"),
            release_amount=parse.amount(input.release_amount, "release_amount", errors, zero=True),
            message=parse.text(input.message, "message", errors),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info, DisputePayload, disputes.resolve_dispute, command, _dispute_payload
        )

    @strawberry.mutation(
        description="Freelancer: propose one or more changes (add, edit, delete) to the upcoming "
        "milestones, for the client to accept or decline as a whole. Refuses "
        "FORBIDDEN, CONTRACT_ENDED, CONTRACT_NOT_ACCEPTED, CHANGE_REQUEST_PENDING, "
        "MILESTONE_NOT_UPCOMING, VALIDATION (`changes.<index>.<field>`)."
    )
    async def request_milestone_changes(
        self, info: Info, input: MutationInput[RequestMilestoneChangesInput]
    ) -> ChangeRequestPayload:
        errors = Validation()
        message = parse.text(input.message, "message", errors)
        if not input.changes:
            errors.add("changes", "A change request needs at least one change.")
        if len(input.changes) > change_requests.MAX_CHANGES:
            errors.add(
                "changes", f"A change request holds at most {change_requests.MAX_CHANGES} changes."
            )
        command = commands.RequestMilestoneChanges(
            contract_id=_contract_id(input.contract_id),
            changes=tuple(_change(i, change, errors) for i, change in enumerate(input.changes)),
            message=message,
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info,
            ChangeRequestPayload,
            change_requests.request_milestone_changes,
            command,
            _change_request_payload,
        )

    @strawberry.mutation(
        description="Client: answer the pending change request. ACCEPT applies all its changes at "
        "once; DECLINE changes nothing. Refuses FORBIDDEN, NOT_PENDING, "
        "CONTRACT_ENDED."
    )
    async def respond_to_change_request(
        self, info: Info, input: MutationInput[RespondToChangeRequestInput]
    ) -> ChangeRequestPayload:
        errors = Validation()
        command = commands.RespondToChangeRequest(
            change_request_id=parse.node_id(input.change_request_id, "ChangeRequest"),
            accept=input.decision is Decision.ACCEPT,
            message=parse.text(input.message, "message", errors),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info,
            ChangeRequestPayload,
            change_requests.respond_to_change_request,
            command,
            _change_request_payload,
        )

    @strawberry.mutation(
        description="Freelancer: take back a pending change request; nothing changes. Refuses "
        "FORBIDDEN, NOT_PENDING."
    )
    async def withdraw_change_request(
        self, info: Info, input: MutationInput[WithdrawChangeRequestInput]
    ) -> ChangeRequestPayload:
        errors = Validation()
        command = commands.WithdrawChangeRequest(
            change_request_id=parse.node_id(input.change_request_id, "ChangeRequest"),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info,
            ChangeRequestPayload,
            change_requests.withdraw_change_request,
            command,
            _change_request_payload,
        )

    @strawberry.mutation(
        description="Mark some (`ids`) or all of the viewer's notifications read. Returns those it "
        "marked and the unread count after, so a client cache follows without a "
        "refetch. Refuses NOT_FOUND (an id that is not the viewer's notification), "
        "VALIDATION (neither ids nor all, more than 100 ids)."
    )
    async def mark_notifications_read(
        self, info: Info, input: MutationInput[MarkNotificationsReadInput]
    ) -> MarkNotificationsReadPayload:
        errors = Validation()
        mark_all = bool(parse.optional(input.all))
        raw_ids = parse.optional(input.ids)
        listed = list(raw_ids) if isinstance(raw_ids, list) else []
        if not mark_all and not listed:
            errors.add("ids", "Give the notification ids to mark read, or all: true.")
        elif not mark_all and len(listed) > notifications.MAX_IDS:
            errors.add("ids", f"At most {notifications.MAX_IDS} ids at once.")
        command = commands.MarkNotificationsRead(
            ids=tuple(
                parse.node_id(raw, "Notification")
                for raw in ([] if mark_all else listed[: notifications.MAX_IDS])
            ),
            all=mark_all,
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info,
            MarkNotificationsReadPayload,
            notifications.mark_notifications_read,
            command,
            _marked_payload,
        )

    @strawberry.mutation(
        description="Change which notifications the viewer gets by email: all off "
        "(`emailEnabled: false`) or some kinds muted. Email only: in-app and live "
        "notifications are never muted. Refuses VALIDATION (an explicit null)."
    )
    async def update_notification_settings(
        self, info: Info, input: MutationInput[UpdateNotificationSettingsInput]
    ) -> UpdateNotificationSettingsPayload:
        errors = Validation()
        enabled: bool | Omitted = OMITTED
        if input.email_enabled is None:
            errors.add("email_enabled", "true or false; omit it to leave it as it is.")
        elif input.email_enabled is not UNSET:
            enabled = bool(input.email_enabled)
        muted: tuple[EventKind, ...] | Omitted = OMITTED
        if input.muted_email_kinds is None:
            errors.add("muted_email_kinds", "A list of kinds ([] mutes none); omit it to keep it.")
        elif input.muted_email_kinds is not UNSET:
            muted = tuple(sorted({EventKind(kind) for kind in input.muted_email_kinds}))
        command = commands.UpdateNotificationSettings(
            email_enabled=enabled,
            muted_email_kinds=muted,
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )

        async def present(
            settings: notification_settings.NotificationSettings, info: Info
        ) -> UpdateNotificationSettingsPayload:
            return UpdateNotificationSettingsPayload(
                notification_settings=NotificationSettings.of(settings)
            )

        return await perform(
            info,
            UpdateNotificationSettingsPayload,
            notification_settings.update_notification_settings,
            command,
            present,
        )

    @strawberry.mutation(
        description="Send the viewer's notifications of some kinds to a URL; the signing "
        "secret is in the payload, this once (and again in a replay with the same "
        "idempotencyKey)."
    )
    async def create_webhook_endpoint(
        self, info: Info, input: MutationInput[CreateWebhookEndpointInput]
    ) -> CreateWebhookEndpointPayload:
        production = info.context.settings.is_production
        errors = Validation()
        command = commands.CreateWebhookEndpoint(
            url=parse.webhook_url(input.url, "url", errors, production=production),
            kinds=parse.event_kinds(input.kinds, "kinds", errors),
            contract_id=parse.contract_scope(input.contract_id),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )

        async def present(
            created: webhooks.CreatedEndpoint, info: Info
        ) -> CreateWebhookEndpointPayload:
            return CreateWebhookEndpointPayload(
                webhook_endpoint=WebhookEndpoint.of(created.endpoint), secret=created.secret
            )

        create = functools.partial(webhooks.create_webhook_endpoint, production=production)
        return await perform(info, CreateWebhookEndpointPayload, create, command, present)

    @strawberry.mutation(description="Change a webhook endpoint's URL, kinds or contract.")
    async def update_webhook_endpoint(
        self, info: Info, input: MutationInput[UpdateWebhookEndpointInput]
    ) -> UpdateWebhookEndpointPayload:
        production = info.context.settings.is_production
        errors = Validation()
        command = commands.UpdateWebhookEndpoint(
            id=parse.node_id(input.id, "WebhookEndpoint"),
            url=(
                OMITTED
                if input.url is UNSET
                else parse.webhook_url(input.url, "url", errors, production=production)
            ),
            kinds=OMITTED
            if input.kinds is UNSET
            else parse.event_kinds(input.kinds, "kinds", errors),
            contract_id=(
                OMITTED if input.contract_id is UNSET else parse.contract_scope(input.contract_id)
            ),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )

        async def present(
            endpoint: WebhookEndpointModel, info: Info
        ) -> UpdateWebhookEndpointPayload:
            return UpdateWebhookEndpointPayload(webhook_endpoint=WebhookEndpoint.of(endpoint))

        update = functools.partial(webhooks.update_webhook_endpoint, production=production)
        return await perform(info, UpdateWebhookEndpointPayload, update, command, present)

    @strawberry.mutation(description="Delete a webhook endpoint; pending deliveries are dropped.")
    async def delete_webhook_endpoint(
        self, info: Info, input: MutationInput[DeleteWebhookEndpointInput]
    ) -> DeleteWebhookEndpointPayload:
        errors = Validation()
        command = commands.DeleteWebhookEndpoint(
            id=parse.node_id(input.id, "WebhookEndpoint"),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )

        async def present(pk: int, info: Info) -> DeleteWebhookEndpointPayload:
            return DeleteWebhookEndpointPayload(
                deleted_webhook_endpoint_id=global_id("WebhookEndpoint", pk)
            )

        return await perform(
            info, DeleteWebhookEndpointPayload, webhooks.delete_webhook_endpoint, command, present
        )

    @strawberry.mutation(description="Start a team; the viewer becomes its first OWNER.")
    async def create_team(self, info: Info, input: MutationInput[CreateTeamInput]) -> TeamPayload:
        errors = Validation()
        command = commands.CreateTeam(
            name=parse.name(input.name, "name", errors),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(info, TeamPayload, teams.create_team, command, _team_payload)

    @strawberry.mutation(
        description="OWNER or ADMIN: add someone by email. Refuses NOT_FOUND (not in the "
        "team), FORBIDDEN (a MEMBER), VALIDATION (email, or already a member)."
    )
    async def add_team_member(
        self, info: Info, input: MutationInput[AddTeamMemberInput]
    ) -> TeamPayload:
        errors = Validation()
        command = commands.AddTeamMember(
            team_id=_team_id(input.team_id),
            email=parse.email(input.email, "email", errors),
            role=input.role,
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(info, TeamPayload, teams.add_team_member, command, _team_payload)

    @strawberry.mutation(
        description="OWNER or ADMIN: change a member's role. Refuses NOT_FOUND (not in the "
        "team, or no such member), FORBIDDEN (a MEMBER), VALIDATION (demoting the last OWNER)."
    )
    async def change_team_member_role(
        self, info: Info, input: MutationInput[ChangeTeamMemberRoleInput]
    ) -> TeamPayload:
        errors = Validation()
        command = commands.ChangeTeamMemberRole(
            team_id=_team_id(input.team_id),
            email=parse.email(input.email, "email", errors),
            role=input.role,
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(
            info, TeamPayload, teams.change_team_member_role, command, _team_payload
        )

    @strawberry.mutation(
        description="OWNER or ADMIN: remove a member; their access to the team's contracts "
        "ends at once (open subscriptions end with an `error`). Refuses NOT_FOUND (not in the "
        "team, or no such member), FORBIDDEN (a MEMBER), VALIDATION (the last OWNER)."
    )
    async def remove_team_member(
        self, info: Info, input: MutationInput[RemoveTeamMemberInput]
    ) -> TeamPayload:
        errors = Validation()
        command = commands.RemoveTeamMember(
            team_id=_team_id(input.team_id),
            email=parse.email(input.email, "email", errors),
            idempotency_key=parse.idempotency_key(input.idempotency_key, errors),
            problems=errors.found,
        )
        return await perform(info, TeamPayload, teams.remove_team_member, command, _team_payload)
