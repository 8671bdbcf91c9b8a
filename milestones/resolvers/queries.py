"""Query root: the viewer's own things only; anyone else's are null."""

from __future__ import annotations

from typing import Annotated

import strawberry
from tortoise.expressions import Q

from milestones import ids
from milestones.domain.access import may_see
from milestones.domain.submissions import visible_attachment, visible_submission
from milestones.models import ChangeRequest as ChangeRequestModel
from milestones.models import Contract as ContractModel
from milestones.models import ContractEvent as ContractEventModel
from milestones.models import Notification as NotificationModel
from milestones.models import RefundRequest as RefundRequestModel
from milestones.models import User as UserModel
from milestones.models import WebhookDelivery as WebhookDeliveryModel
from milestones.models import WebhookEndpoint as WebhookEndpointModel
from milestones.resolvers.mapping import milestone_type
from milestones.resolvers.pagination import contracts_page, notifications_page
from milestones.resolvers.viewer import require_viewer
from milestones.schema.arguments import After, First
from milestones.schema.context import Info
from milestones.schema.enums import ContractStatus
from milestones.schema.relay import Connection
from milestones.schema.types import (
    Attachment,
    ChangeRequest,
    Contract,
    ContractEvent,
    Node,
    Notification,
    NotificationConnection,
    RefundRequest,
    Submission,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)


async def _party_contract(info: Info, contract_pk: int | None) -> ContractModel | None:
    if contract_pk is None:
        return None
    viewer = require_viewer(info)
    contract: ContractModel | None = await info.context.loaders.contract.load(contract_pk)
    if contract is None or not may_see(viewer, contract):
        return None
    return contract


async def _visible_user(viewer: UserModel, pk: int) -> UserModel | None:
    if pk == viewer.id:
        return viewer
    shares_contract = await ContractModel.filter(
        Q(client_id=viewer.id, freelancer_id=pk) | Q(client_id=pk, freelancer_id=viewer.id)
    ).exists()
    return await UserModel.get_or_none(id=pk) if shares_contract else None


async def resolve_node(info: Info, global_id: str) -> Node | None:
    viewer = require_viewer(info)
    decoded = ids.decode_any(global_id)
    if decoded is None:
        return None
    type_name, pk = decoded
    loaders = info.context.loaders
    if type_name == "User":
        user = await _visible_user(viewer, pk)
        return User.of(user) if user is not None else None
    if type_name == "Contract":
        contract = await _party_contract(info, pk)
        return Contract.of(contract, viewer.id) if contract is not None else None
    if type_name == "Milestone":
        milestone = await loaders.milestone.load(pk)
        if milestone is None or milestone.deleted_at is not None:
            return None
        if await _party_contract(info, milestone.contract_id) is None:
            return None
        return await milestone_type(info, milestone)
    if type_name == "ChangeRequest":
        change_request = await ChangeRequestModel.get_or_none(id=pk)
        if change_request is None or not await _party_contract(info, change_request.contract_id):
            return None
        return ChangeRequest.of(change_request)
    if type_name == "RefundRequest":
        refund_request = await RefundRequestModel.get_or_none(id=pk)
        if refund_request is None or not await _party_contract(info, refund_request.contract_id):
            return None
        return RefundRequest.of(refund_request)
    if type_name == "Submission":
        submission = await visible_submission(viewer, pk)
        return Submission.of(submission) if submission is not None else None
    if type_name == "Attachment":
        attachment = await visible_attachment(viewer, pk)
        return Attachment.of(attachment) if attachment is not None else None
    if type_name == "ContractEvent":
        event = await ContractEventModel.get_or_none(id=pk)
        if event is None or not await _party_contract(info, event.contract_id):
            return None
        return ContractEvent.of(event)
    if type_name == "Notification":
        notification = await NotificationModel.get_or_none(id=pk, recipient_id=viewer.id)
        return Notification.of(notification) if notification is not None else None
    if type_name == "WebhookEndpoint":
        endpoint = await WebhookEndpointModel.get_or_none(id=pk, owner_id=viewer.id)
        return WebhookEndpoint.of(endpoint) if endpoint is not None else None
    if type_name == "WebhookDelivery":
        delivery = await WebhookDeliveryModel.get_or_none(id=pk, endpoint__owner_id=viewer.id)
        if delivery is None:
            return None
        notification = await NotificationModel.get(id=delivery.notification_id)
        return WebhookDelivery.of(delivery, Notification.of(notification))
    return None


ANY_ID = "A global ID, as any object's `id` gives it."


@strawberry.type(
    description="What the viewer may read: their own contracts, notifications and identity. "
    "Every field needs a bearer token."
)
class Query:
    @strawberry.field(
        description="Any object by its global ID, if the viewer may see it; null otherwise "
        "(never a hint that it exists)."
    )
    async def node(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description=ANY_ID)]
    ) -> Node | None:
        return await resolve_node(info, id)

    @strawberry.field(description="The viewer, as their token names them.")
    def me(self, info: Info) -> User:
        return User.of(require_viewer(info))

    @strawberry.field(description="The viewer's contracts, newest first.")
    async def contracts(
        self,
        info: Info,
        first: First = 20,
        after: After = None,
        status: Annotated[
            ContractStatus | None,
            strawberry.argument(description="Only the contracts in this status; omitted: all."),
        ] = None,
    ) -> Connection[Contract]:
        viewer = require_viewer(info)
        return await contracts_page(viewer, first, after, status)

    @strawberry.field(description="A contract the viewer is party to, else null.")
    async def contract(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The contract's ID.")],
    ) -> Contract | None:
        viewer = require_viewer(info)
        contract = await _party_contract(info, ids.decode(id, "Contract"))
        return Contract.of(contract, viewer.id) if contract is not None else None

    @strawberry.field(description="The viewer's notifications, newest first.")
    async def notifications(
        self,
        info: Info,
        first: First = 20,
        after: After = None,
        unread_only: Annotated[
            bool | None,
            strawberry.argument(description="Only the unread ones (`readAt` null)."),
        ] = False,
    ) -> NotificationConnection:
        viewer = require_viewer(info)
        return await notifications_page(viewer, first, after, bool(unread_only))
