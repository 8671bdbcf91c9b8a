"""Query root: the viewer's own things only; anyone else's are null."""

from __future__ import annotations

from typing import Annotated

import strawberry
from tortoise.expressions import Q, Subquery

from milestones import ids
from milestones.domain.access import Access, visible_contracts
from milestones.domain.submissions import visible_attachment, visible_submission
from milestones.models import ChangeRequest as ChangeRequestModel
from milestones.models import Contract as ContractModel
from milestones.models import ContractEvent as ContractEventModel
from milestones.models import Dispute as DisputeModel
from milestones.models import Notification as NotificationModel
from milestones.models import RefundRequest as RefundRequestModel
from milestones.models import TeamMember as TeamMemberModel
from milestones.models import User as UserModel
from milestones.models import WebhookDelivery as WebhookDeliveryModel
from milestones.models import WebhookEndpoint as WebhookEndpointModel
from milestones.models.enums import DisputeResolutionKind
from milestones.models.enums import DisputeStatus as StoredDisputeStatus
from milestones.resolvers.pagination import contracts_page, notifications_page
from milestones.resolvers.viewer import require_viewer
from milestones.schema.arguments import After, First
from milestones.schema.context import Info
from milestones.schema.enums import ContractStatus, DisputeStatus
from milestones.schema.relay import Connection
from milestones.schema.types import (
    Attachment,
    ChangeRequest,
    Contract,
    ContractEvent,
    Dispute,
    Node,
    Notification,
    NotificationConnection,
    RefundRequest,
    Submission,
    Team,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    disputes_page,
    load_team,
    milestone_of,
    viewer_access,
)


async def _party_contract(info: Info, contract_pk: int | None) -> ContractModel | None:
    found = await _party_contract_access(info, contract_pk)
    return found[0] if found is not None else None


async def _party_contract_access(
    info: Info, contract_pk: int | None
) -> tuple[ContractModel, Access] | None:
    """The contract and the viewer's access to it, if they are on one of its sides."""
    if contract_pk is None:
        return None
    require_viewer(info)
    contract: ContractModel | None = await info.context.loaders.contract.load(contract_pk)
    if contract is None:
        return None
    access = await viewer_access(info, contract)
    return (contract, access) if access is not None else None


async def _visible_disputes(info: Info, viewer: UserModel) -> Q:
    """The disputes of the viewer's own contracts (as a person or a team member); for a
    mediator also every dispute in mediation or decided by a mediator."""
    memberships = await info.context.loaders.memberships.load(viewer.id)
    theirs = ContractModel.filter(visible_contracts(viewer.id, list(memberships)))
    own = Q(contract_id__in=Subquery(theirs.values("id")))
    if not viewer.is_mediator:
        return own
    mediated = Q(status=StoredDisputeStatus.IN_MEDIATION) | Q(
        resolution_kind=DisputeResolutionKind.MEDIATOR_DECIDED
    )
    return Q(own, mediated, join_type=Q.OR)


async def _visible_team(info: Info, viewer: UserModel, pk: int) -> Team | None:
    """A team its members see, and so does anyone on a contract with it."""
    if await TeamMemberModel.exists(team_id=pk, user_id=viewer.id):
        return await load_team(info, pk)
    memberships = await info.context.loaders.memberships.load(viewer.id)
    shares_contract = await ContractModel.filter(
        visible_contracts(viewer.id, list(memberships)),
        Q(client_team_id=pk) | Q(freelancer_team_id=pk),
    ).exists()
    return await load_team(info, pk) if shares_contract else None


async def _visible_user(info: Info, viewer: UserModel, pk: int) -> UserModel | None:
    """Someone the viewer meets: on one of their contracts (a person party, or a member of a
    team party), or in one of their teams."""
    if pk == viewer.id:
        return viewer
    memberships = await info.context.loaders.memberships.load(viewer.id)
    theirs = await TeamMemberModel.filter(user_id=pk).values_list("team_id", flat=True)
    teams = [int(team) for team in theirs]  # type: ignore[call-overload]
    meets = bool(set(teams) & set(memberships))
    if not meets:
        with_them = Q(client_id=pk) | Q(freelancer_id=pk)
        if teams:
            with_them |= Q(client_team_id__in=teams) | Q(freelancer_team_id__in=teams)
        meets = await ContractModel.filter(
            visible_contracts(viewer.id, list(memberships)), with_them
        ).exists()
    return await UserModel.get_or_none(id=pk) if meets else None


async def resolve_node(info: Info, global_id: str) -> Node | None:
    viewer = require_viewer(info)
    decoded = ids.decode_any(global_id)
    if decoded is None:
        return None
    type_name, pk = decoded
    loaders = info.context.loaders
    if type_name == "User":
        user = await _visible_user(info, viewer, pk)
        return User.of(user) if user is not None else None
    if type_name == "Contract":
        found = await _party_contract_access(info, pk)
        return Contract.of(found[0], viewer.id, found[1]) if found is not None else None
    if type_name == "Team":
        return await _visible_team(info, viewer, pk)
    if type_name == "Milestone":
        milestone = await loaders.milestone.load(pk)  # a deleted one too: history names it
        if milestone is None:
            return None
        if await _party_contract(info, milestone.contract_id) is None:
            return None
        return await milestone_of(info, milestone)
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
    if type_name == "Dispute":
        dispute = await DisputeModel.get_or_none(id=pk)
        if dispute is None or not await _party_contract(info, dispute.contract_id):
            return None
        return Dispute.of(dispute)
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
        found = await _party_contract_access(info, ids.decode(id, "Contract"))
        return Contract.of(found[0], viewer.id, found[1]) if found is not None else None

    @strawberry.field(
        description="Disputes, newest first: those of the viewer's contracts; a mediator sees "
        "every dispute in mediation or decided by a mediator as well."
    )
    async def disputes(
        self,
        info: Info,
        status: Annotated[
            DisputeStatus | None,
            strawberry.argument(description="Only the disputes in this status; omitted: all."),
        ] = None,
        first: First = 20,
        after: After = None,
    ) -> Connection[Dispute]:
        viewer = require_viewer(info)
        return await disputes_page(
            first,
            after,
            visible_to=await _visible_disputes(info, viewer),
            status=StoredDisputeStatus(status.value) if status is not None else None,
        )

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
