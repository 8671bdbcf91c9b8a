"""Mutation root: each field reads its input, calls one domain action, maps the outcome."""

from __future__ import annotations

import strawberry

from milestones.domain import (
    change_requests,
    contracts,
    milestones,
    notifications,
    refunds,
    webhooks,
)
from milestones.domain.change_requests import ChangeInput
from milestones.domain.contracts import ContractOutcome
from milestones.domain.milestones import MilestoneOutcome
from milestones.models import User
from milestones.models import WebhookEndpoint as WebhookEndpointModel
from milestones.resolvers.mapping import (
    contract_type,
    given,
    global_id,
    milestone_type,
    optional,
    perform,
    replayed_types,
)
from milestones.resolvers.viewer import require_viewer
from milestones.schema.context import Info
from milestones.schema.enums import Decision
from milestones.schema.inputs import (
    ActivateMilestoneInput,
    AddMilestoneInput,
    ApproveMilestoneInput,
    CreateContractInput,
    CreateWebhookEndpointInput,
    DeleteMilestoneInput,
    DeleteWebhookEndpointInput,
    EditMilestoneInput,
    EndContractInput,
    MarkNotificationsReadInput,
    RejectSubmissionInput,
    RequestEscrowRefundInput,
    RequestMilestoneChangesInput,
    RespondToChangeRequestInput,
    RespondToRefundRequestInput,
    SubmitMilestoneInput,
    UpdateWebhookEndpointInput,
    WithdrawChangeRequestInput,
)
from milestones.schema.payloads import (
    ChangeRequestPayload,
    ContractPayload,
    CreateWebhookEndpointPayload,
    DeleteMilestonePayload,
    DeleteWebhookEndpointPayload,
    MarkNotificationsReadPayload,
    MilestonePayload,
    RefundRequestPayload,
    UpdateWebhookEndpointPayload,
)
from milestones.schema.types import ChangeRequest, RefundRequest, WebhookEndpoint


async def _contract_payload(outcome: ContractOutcome, info: Info) -> ContractPayload:
    return ContractPayload(contract=await contract_type(info, outcome.contract))


async def _milestone_payload(outcome: MilestoneOutcome, info: Info) -> MilestonePayload:
    if outcome.replayed is not None:
        milestone, contract = replayed_types(outcome.replayed, require_viewer(info))
        return MilestonePayload(milestone=milestone, contract=contract)
    return MilestonePayload(
        milestone=await milestone_type(info, outcome.milestone),
        contract=await contract_type(info, outcome.contract),
    )


async def _deleted_payload(outcome: MilestoneOutcome, info: Info) -> DeleteMilestonePayload:
    return DeleteMilestonePayload(
        deleted_milestone_id=global_id("Milestone", outcome.milestone.id),
        contract=await contract_type(info, outcome.contract),
    )


async def _refund_payload(outcome: refunds.RefundOutcome, info: Info) -> RefundRequestPayload:
    return RefundRequestPayload(
        refund_request=RefundRequest.of(outcome.refund_request),
        milestone=await milestone_type(info, outcome.milestone),
        contract=await contract_type(info, outcome.contract),
    )


async def _change_request_payload(
    outcome: change_requests.ChangeRequestOutcome, info: Info
) -> ChangeRequestPayload:
    return ChangeRequestPayload(
        change_request=ChangeRequest.of(outcome.change_request),
        contract=await contract_type(info, outcome.contract),
    )


def _accepts(decision: Decision) -> bool:
    return decision is Decision.ACCEPT


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Start a contract; the viewer becomes its client.")
    async def create_contract(self, info: Info, input: CreateContractInput) -> ContractPayload:
        async def act(viewer: User) -> ContractOutcome:
            return await contracts.create_contract(
                viewer, input.title, input.freelancer_id, optional(input.currency)
            )

        return await perform(info, ContractPayload, act, _contract_payload)

    @strawberry.mutation(description="Client: add an upcoming milestone at the end.")
    async def add_milestone(self, info: Info, input: AddMilestoneInput) -> MilestonePayload:
        async def act(viewer: User) -> MilestoneOutcome:
            return await milestones.add_milestone(
                viewer,
                input.contract_id,
                input.title,
                optional(input.description),
                optional(input.due_date),
                input.amount,
            )

        return await perform(info, MilestonePayload, act, _milestone_payload)

    @strawberry.mutation(description="Client: edit an upcoming milestone.")
    async def edit_milestone(self, info: Info, input: EditMilestoneInput) -> MilestonePayload:
        async def act(viewer: User) -> MilestoneOutcome:
            return await milestones.edit_milestone(
                viewer,
                input.milestone_id,
                title=given(input.title),
                description=given(input.description),
                due_date=given(input.due_date),
                amount=given(input.amount),
                expected_version=given(input.expected_version),
            )

        return await perform(info, MilestonePayload, act, _milestone_payload)

    @strawberry.mutation(description="Client: delete an upcoming milestone.")
    async def delete_milestone(
        self, info: Info, input: DeleteMilestoneInput
    ) -> DeleteMilestonePayload:
        async def act(viewer: User) -> MilestoneOutcome:
            return await milestones.delete_milestone(viewer, input.milestone_id)

        return await perform(info, DeleteMilestonePayload, act, _deleted_payload)

    @strawberry.mutation(description="Client: fund an upcoming milestone into escrow.")
    async def activate_milestone(
        self, info: Info, input: ActivateMilestoneInput
    ) -> MilestonePayload:
        async def act(viewer: User) -> MilestoneOutcome:
            return await milestones.activate_milestone(
                viewer, input.milestone_id, optional(input.idempotency_key)
            )

        return await perform(info, MilestonePayload, act, _milestone_payload)

    @strawberry.mutation(description="Freelancer: submit work on the active milestone.")
    async def submit_milestone(self, info: Info, input: SubmitMilestoneInput) -> MilestonePayload:
        async def act(viewer: User) -> MilestoneOutcome:
            return await milestones.submit_milestone(
                viewer, input.milestone_id, optional(input.message)
            )

        return await perform(info, MilestonePayload, act, _milestone_payload)

    @strawberry.mutation(description="Client: send a submission back; the milestone stays active.")
    async def reject_submission(self, info: Info, input: RejectSubmissionInput) -> MilestonePayload:
        async def act(viewer: User) -> MilestoneOutcome:
            return await milestones.reject_submission(
                viewer, input.milestone_id, optional(input.message)
            )

        return await perform(info, MilestonePayload, act, _milestone_payload)

    @strawberry.mutation(
        description="Client: release all or part of the funds; the rest becomes available."
    )
    async def approve_milestone(self, info: Info, input: ApproveMilestoneInput) -> MilestonePayload:
        async def act(viewer: User) -> MilestoneOutcome:
            return await milestones.approve_milestone(
                viewer,
                input.milestone_id,
                end_contract=input.end_contract,
                release_amount=optional(input.release_amount),
                idempotency_key=optional(input.idempotency_key),
                message=optional(input.message),
            )

        return await perform(info, MilestonePayload, act, _milestone_payload)

    @strawberry.mutation(description="Client: ask for the active milestone's funds back.")
    async def request_escrow_refund(
        self, info: Info, input: RequestEscrowRefundInput
    ) -> RefundRequestPayload:
        async def act(viewer: User) -> refunds.RefundOutcome:
            return await refunds.request_escrow_refund(
                viewer, input.milestone_id, optional(input.message)
            )

        return await perform(info, RefundRequestPayload, act, _refund_payload)

    @strawberry.mutation(description="Freelancer: accept (refund) or decline a refund request.")
    async def respond_to_refund_request(
        self, info: Info, input: RespondToRefundRequestInput
    ) -> RefundRequestPayload:
        async def act(viewer: User) -> refunds.RefundOutcome:
            return await refunds.respond_to_refund_request(
                viewer, input.refund_request_id, _accepts(input.decision), optional(input.message)
            )

        return await perform(info, RefundRequestPayload, act, _refund_payload)

    @strawberry.mutation(description="Either party: end the contract; available funds go back.")
    async def end_contract(self, info: Info, input: EndContractInput) -> ContractPayload:
        async def act(viewer: User) -> ContractOutcome:
            return await contracts.end_contract(viewer, input.contract_id, optional(input.message))

        return await perform(info, ContractPayload, act, _contract_payload)

    @strawberry.mutation(description="Freelancer: propose changes to upcoming milestones.")
    async def request_milestone_changes(
        self, info: Info, input: RequestMilestoneChangesInput
    ) -> ChangeRequestPayload:
        changes = [
            ChangeInput(
                kind=change.kind,
                milestone_id=given(change.milestone_id),
                title=given(change.title),
                description=given(change.description),
                due_date=given(change.due_date),
                amount=given(change.amount),
            )
            for change in input.changes
        ]

        async def act(viewer: User) -> change_requests.ChangeRequestOutcome:
            return await change_requests.request_milestone_changes(
                viewer, input.contract_id, changes, optional(input.message)
            )

        return await perform(info, ChangeRequestPayload, act, _change_request_payload)

    @strawberry.mutation(description="Client: accept (apply all changes) or decline.")
    async def respond_to_change_request(
        self, info: Info, input: RespondToChangeRequestInput
    ) -> ChangeRequestPayload:
        async def act(viewer: User) -> change_requests.ChangeRequestOutcome:
            return await change_requests.respond_to_change_request(
                viewer, input.change_request_id, _accepts(input.decision), optional(input.message)
            )

        return await perform(info, ChangeRequestPayload, act, _change_request_payload)

    @strawberry.mutation(description="Freelancer: withdraw a pending change request.")
    async def withdraw_change_request(
        self, info: Info, input: WithdrawChangeRequestInput
    ) -> ChangeRequestPayload:
        async def act(viewer: User) -> change_requests.ChangeRequestOutcome:
            return await change_requests.withdraw_change_request(viewer, input.change_request_id)

        return await perform(info, ChangeRequestPayload, act, _change_request_payload)

    @strawberry.mutation(description="Mark some (ids) or all of the viewer's notifications read.")
    async def mark_notifications_read(
        self, info: Info, input: MarkNotificationsReadInput
    ) -> MarkNotificationsReadPayload:
        async def act(viewer: User) -> int:
            ids = optional(input.ids)
            return await notifications.mark_notifications_read(
                viewer, list(ids) if isinstance(ids, list) else None, bool(optional(input.all))
            )

        async def present(count: int, info: Info) -> MarkNotificationsReadPayload:
            return MarkNotificationsReadPayload(count=count)

        return await perform(info, MarkNotificationsReadPayload, act, present)

    @strawberry.mutation(
        description="Send the viewer's notifications of some kinds to a URL; the signing "
        "secret is in the payload, this once."
    )
    async def create_webhook_endpoint(
        self, info: Info, input: CreateWebhookEndpointInput
    ) -> CreateWebhookEndpointPayload:
        production = info.context.settings.is_production

        async def act(viewer: User) -> webhooks.CreatedEndpoint:
            return await webhooks.create_webhook_endpoint(
                viewer, input.url, input.kinds, optional(input.contract_id), production=production
            )

        async def present(
            created: webhooks.CreatedEndpoint, info: Info
        ) -> CreateWebhookEndpointPayload:
            return CreateWebhookEndpointPayload(
                webhook_endpoint=WebhookEndpoint.of(created.endpoint), secret=created.secret
            )

        return await perform(info, CreateWebhookEndpointPayload, act, present)

    @strawberry.mutation(description="Change a webhook endpoint's URL, kinds or contract.")
    async def update_webhook_endpoint(
        self, info: Info, input: UpdateWebhookEndpointInput
    ) -> UpdateWebhookEndpointPayload:
        production = info.context.settings.is_production

        async def act(viewer: User) -> WebhookEndpointModel:
            return await webhooks.update_webhook_endpoint(
                viewer,
                input.id,
                url=given(input.url),
                kinds=given(input.kinds),
                contract_id=given(input.contract_id),
                production=production,
            )

        async def present(
            endpoint: WebhookEndpointModel, info: Info
        ) -> UpdateWebhookEndpointPayload:
            return UpdateWebhookEndpointPayload(webhook_endpoint=WebhookEndpoint.of(endpoint))

        return await perform(info, UpdateWebhookEndpointPayload, act, present)

    @strawberry.mutation(description="Delete a webhook endpoint; pending deliveries are dropped.")
    async def delete_webhook_endpoint(
        self, info: Info, input: DeleteWebhookEndpointInput
    ) -> DeleteWebhookEndpointPayload:
        async def act(viewer: User) -> int:
            return await webhooks.delete_webhook_endpoint(viewer, input.id)

        async def present(pk: int, info: Info) -> DeleteWebhookEndpointPayload:
            return DeleteWebhookEndpointPayload(
                deleted_webhook_endpoint_id=global_id("WebhookEndpoint", pk)
            )

        return await perform(info, DeleteWebhookEndpointPayload, act, present)
