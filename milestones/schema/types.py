"""The object types of the contract room."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import Private
from strawberry.types.nodes import SelectedField, Selection
from tortoise.expressions import Q

from milestones import ids
from milestones.domain.abilities import (
    ContractAbilities,
    MilestoneAbilities,
    contract_abilities,
    milestone_abilities,
)
from milestones.domain.access import (
    Access,
    Role,
    remembered_access,
    shown_freelancer_id,
    standing,
)
from milestones.domain.escrow import Escrow as EscrowTotals
from milestones.domain.escrow import LedgerSummary, MilestoneMoney
from milestones.domain.notification_settings import (
    NotificationSettings as StoredNotificationSettings,
)
from milestones.domain.notification_settings import (
    notification_settings as stored_notification_settings,
)
from milestones.domain.notifications import unread_count as unread_notifications
from milestones.domain.values import cents_to_decimal
from milestones.models import enums as stored
from milestones.schema.arguments import After, First
from milestones.schema.context import Info
from milestones.schema.enums import (
    ChangeKind,
    ChangeRequestStatus,
    ContractRole,
    ContractStatus,
    DisputeResolutionKind,
    DisputeStatus,
    EventKind,
    MilestoneField,
    MilestoneStatus,
    RefundRequestStatus,
    SubmissionOutcome,
    TeamRole,
)
from milestones.schema.relay import Connection, after_position, connection, page_size

if TYPE_CHECKING:
    from milestones.models import Milestone as MilestoneModel


@strawberry.interface(description="An object with a global ID.")
class Node:
    id: strawberry.ID = strawberry.field(
        description="The object's global ID: opaque, stable; `node(id:)` finds it again."
    )


@strawberry.type(description="A party to contracts; created from token claims on first sight.")
class User(Node):
    pk: Private[int]
    name: str | None = strawberry.field(
        description="The name from the user's token (`name` claim), if any."
    )
    email: str | None = strawberry.field(
        description="The email address from the user's token (`email` claim), if any; notification "
        "emails go there."
    )

    @strawberry.field(
        description="The viewer's webhook endpoints, oldest first (on `me`; empty on anyone else)."
    )
    async def webhook_endpoints(self, info: Info) -> list[WebhookEndpoint]:
        from milestones.models import WebhookEndpoint as WebhookEndpointModel

        viewer = info.context.viewer
        if viewer is None or viewer.id != self.pk:
            return []
        rows = await WebhookEndpointModel.filter(owner_id=self.pk).order_by("id")
        return [WebhookEndpoint.of(row) for row in rows]

    @strawberry.field(
        description="The teams the viewer is a member of, oldest membership first (on `me`; "
        "empty on anyone else)."
    )
    async def teams(self, info: Info) -> list[Team]:
        from milestones.domain.teams import teams_of

        viewer = info.context.viewer
        if viewer is None or viewer.id != self.pk:
            return []
        return [Team.of(team) for team in await teams_of(self.pk)]

    @strawberry.field(
        description="The viewer's email settings (on `me`; null on anyone else). They govern "
        "email only: in-app and live notifications are never muted."
    )
    async def notification_settings(self, info: Info) -> NotificationSettings | None:
        viewer = info.context.viewer
        if viewer is None or viewer.id != self.pk:
            return None
        return NotificationSettings.of(await stored_notification_settings(self.pk))

    @classmethod
    def of(cls, user: object) -> User:
        from milestones.models import User as UserModel

        assert isinstance(user, UserModel)
        return cls(
            id=strawberry.ID(ids.encode("User", user.id)),
            pk=user.id,
            name=user.name,
            email=user.email,
        )


@strawberry.type(
    description="An agency or a client company: a party to contracts through its members."
)
class Team(Node):
    pk: Private[int]
    name: str = strawberry.field(description="The team's name, 1 to 200 characters.")

    @strawberry.field(description="Its members (and people invited by email), oldest first.")
    async def members(self, info: Info) -> list[TeamMember]:
        rows = await info.context.loaders.members_of_team.load(self.pk)
        return [TeamMember.of(row) for row in rows]

    @classmethod
    def of(cls, team: object) -> Team:
        from milestones.models import Team as TeamModel

        assert isinstance(team, TeamModel)
        return cls(id=strawberry.ID(ids.encode("Team", team.id)), pk=team.id, name=team.name)


@strawberry.type(description="A person in a team, named by email until they sign in.")
class TeamMember:
    user_pk: Private[int | None]
    email: str | None = strawberry.field(
        description="The address they were added by (trimmed, lower case); the creator's "
        "token email for the team's first owner, null if their token had none."
    )
    role: TeamRole = strawberry.field(description="What they may do in the team and its rooms.")

    @strawberry.field(
        description="The user this member is, once a token with their email has been seen; "
        "null until then."
    )
    async def user(self, info: Info) -> User | None:
        if self.user_pk is None:
            return None
        return await load_user(info, self.user_pk)

    @classmethod
    def of(cls, member: object) -> TeamMember:
        from milestones.models import TeamMember as TeamMemberModel

        assert isinstance(member, TeamMemberModel)
        return cls(user_pk=member.user_id, email=member.email, role=member.role)


async def load_team(info: Info, pk: int | None) -> Team | None:
    if pk is None:
        return None
    team = await info.context.loaders.team.load(pk)
    return Team.of(team) if team is not None else None


@strawberry.type(
    description="Which notifications a person gets by email. In-app and live notifications "
    "(and webhooks, which choose their own kinds) are never muted."
)
class NotificationSettings:
    email_enabled: bool = strawberry.field(
        description="false: no notification emails at all (also set by the one-click "
        "unsubscribe link in every email)."
    )
    muted_email_kinds: list[EventKind] = strawberry.field(
        description="Kinds of notification never emailed (while emailEnabled is true, the "
        "other kinds are)."
    )

    @classmethod
    def of(cls, settings: StoredNotificationSettings) -> NotificationSettings:
        return cls(
            email_enabled=settings.email_enabled,
            muted_email_kinds=list(settings.muted_email_kinds),
        )


@strawberry.type(description="Money held for a contract; every figure derives from its ledger.")
class Escrow:
    held: Decimal = strawberry.field(
        description="Money in escrow now: the active milestone's unreleased funds plus "
        "`available`. held = totalFunded - totalReleased - totalRefunded."
    )
    available: Decimal = strawberry.field(
        description="Money in escrow that no milestone holds (left over from a partial release): "
        "it pays for the next milestone first, or goes back to the client when the "
        "contract ends."
    )
    total_funded: Decimal = strawberry.field(
        description="All the client ever deposited into this contract's escrow."
    )
    total_released: Decimal = strawberry.field(description="All that went to the freelancer.")
    total_refunded: Decimal = strawberry.field(description="All that went back to the client.")
    total_bonus: Decimal = strawberry.field(
        description="Bonuses paid: part of totalFunded and of totalReleased, never held."
    )

    @classmethod
    def of(cls, totals: EscrowTotals) -> Escrow:
        return cls(
            held=cents_to_decimal(totals.held),
            available=cents_to_decimal(totals.available),
            total_funded=cents_to_decimal(totals.funded),
            total_released=cents_to_decimal(totals.released),
            total_refunded=cents_to_decimal(totals.refunded),
            total_bonus=cents_to_decimal(totals.bonus),
        )


FLAG = (
    "True exactly when `{mutation}`, sent now by the viewer with valid input, would not be "
    "refused for the viewer's role or the state of the contract{extra}."
)


@strawberry.type(
    description="What the viewer could do to this milestone now: each flag is decided by the "
    "same rules as its mutation (all false once the milestone is DELETED)."
)
class MilestoneViewerCan:
    edit: bool = strawberry.field(description=FLAG.format(mutation="editMilestone", extra=""))
    delete: bool = strawberry.field(description=FLAG.format(mutation="deleteMilestone", extra=""))
    activate: bool = strawberry.field(
        description=FLAG.format(mutation="activateMilestone", extra="")
    )
    submit: bool = strawberry.field(description=FLAG.format(mutation="submitMilestone", extra=""))
    approve: bool = strawberry.field(description=FLAG.format(mutation="approveMilestone", extra=""))
    reject_submission: bool = strawberry.field(
        description=FLAG.format(mutation="rejectSubmission", extra="")
    )
    request_refund: bool = strawberry.field(
        description=FLAG.format(mutation="requestEscrowRefund", extra="")
    )
    open_dispute: bool = strawberry.field(
        description=FLAG.format(mutation="openDispute", extra=" (with this `milestoneId`)")
    )

    @classmethod
    def of(cls, abilities: MilestoneAbilities) -> MilestoneViewerCan:
        return cls(**{name: getattr(abilities, name) for name in abilities.__slots__})


@strawberry.type(
    description="What the viewer could do in this contract now: each flag is decided by the "
    "same rules as its mutation."
)
class ContractViewerCan:
    add_milestone: bool = strawberry.field(
        description=FLAG.format(mutation="addMilestone", extra="")
    )
    request_changes: bool = strawberry.field(
        description=FLAG.format(mutation="requestMilestoneChanges", extra=" (e.g. with one ADD)")
    )
    respond_to_change_request: bool = strawberry.field(
        description=FLAG.format(
            mutation="respondToChangeRequest", extra=" (naming the pending change request)"
        )
    )
    withdraw_change_request: bool = strawberry.field(
        description=FLAG.format(
            mutation="withdrawChangeRequest", extra=" (naming the pending change request)"
        )
    )
    end_contract: bool = strawberry.field(description=FLAG.format(mutation="endContract", extra=""))
    send_bonus: bool = strawberry.field(description=FLAG.format(mutation="sendBonus", extra=""))
    accept_contract: bool = strawberry.field(
        description=FLAG.format(mutation="acceptContract", extra="")
    )
    open_dispute: bool = strawberry.field(
        description=FLAG.format(
            mutation="openDispute",
            extra=" (on the pending refund request or the active milestone)",
        )
    )

    @classmethod
    def of(cls, abilities: ContractAbilities) -> ContractViewerCan:
        return cls(**{name: getattr(abilities, name) for name in abilities.__slots__})


# A milestone's fields read from its contract's ledger (`LedgerSummary`), by GraphQL name.
MONEY_FIELDS = frozenset({"fundedAmount", "releasedAmount", "refundedAmount"})
# What a Milestone carries when none of them is asked for: never shown.
UNASKED_MONEY = MilestoneMoney()


def asks_for(info: Info, names: frozenset[str]) -> bool:
    """Whether the current field's selection names a field of `names` anywhere beneath it,
    fragments included. Conservative: @skip and @include are not judged (a skipped field
    counts as asked), nor the types fragments apply to."""
    stack: list[Selection] = list(info.selected_fields)
    while stack:
        selection = stack.pop()
        if isinstance(selection, SelectedField) and selection.name in names:
            return True
        stack.extend(selection.selections)
    return False


async def milestone_money(
    info: Info, contract_pk: int, milestone_pks: list[int]
) -> LedgerSummary | None:
    """The contract's money for these milestones (`loaders.money`), or None when reading it
    would cost a statement and the selection shows none of it."""
    loaders = info.context.loaders
    checked = loaders.checked_money(contract_pk, milestone_pks)
    if checked is not None:  # an action's payload: known already (the walk costs ~25 us)
        return checked
    if not asks_for(info, MONEY_FIELDS):
        return None
    return await loaders.ledger.load(contract_pk)


def money_in(ledger: LedgerSummary | None, milestone_pk: int) -> MilestoneMoney:
    """A milestone's money from `milestone_money`'s answer."""
    return ledger.of(milestone_pk) if ledger is not None else UNASKED_MONEY


async def milestone_of(info: Info, milestone: MilestoneModel) -> Milestone:
    """The Milestone of a stored row, its money read only when the selection shows it."""
    ledger = await milestone_money(info, milestone.contract_id, [milestone.id])
    return Milestone.of(milestone, money_in(ledger, milestone.id))


@strawberry.type(description="A piece of work and its payment.")
class Milestone(Node):
    pk: Private[int]
    contract_pk: Private[int]
    row: Private[object]  # the stored milestone, as the rules read it
    position: int = strawberry.field(
        description="Its place in the contract, from 1, contiguous: a delete closes the gap, an "
        "add appends. 0 once DELETED: it left the order (the others closed the gap)."
    )
    title: str = strawberry.field(description="What the work is, 1 to 200 characters.")
    description: str | None = strawberry.field(
        description="The work in more words, if the client gave any."
    )
    due_date: dt.date | None = strawberry.field(
        description="When the work is due, if set (a calendar date)."
    )
    amount: Decimal = strawberry.field(
        description="What the milestone pays, in the contract's currency."
    )
    status: MilestoneStatus = strawberry.field(
        description="Where it stands: UPCOMING, ACTIVE, SUBMITTED, RELEASED, REFUNDED, or "
        "DELETED (then only history points at it)."
    )
    funded_amount: Decimal = strawberry.field(
        description="Money put in escrow for it when it was activated (0 while UPCOMING)."
    )
    released_amount: Decimal = strawberry.field(
        description="Money of it released to the freelancer."
    )
    refunded_amount: Decimal = strawberry.field(description="Money of it refunded to the client.")
    version: int = strawberry.field(
        description="Goes up by one on every change; pass it as `expectedVersion` to "
        "`editMilestone` to refuse a lost update (VERSION_CONFLICT)."
    )
    created_at: dt.datetime = strawberry.field(description="When it was added.")
    updated_at: dt.datetime = strawberry.field(description="When it last changed.")
    activated_at: dt.datetime | None = strawberry.field(description="When it was funded.")
    submitted_at: dt.datetime | None = strawberry.field(
        description="When work was last submitted on it."
    )
    review_deadline: dt.datetime | None = strawberry.field(
        description="While SUBMITTED: unless the client approves or rejects by then (and no "
        "refund request or dispute is pending), all it holds is released to the freelancer."
    )
    released_at: dt.datetime | None = strawberry.field(description="When it was released.")
    deleted_at: dt.datetime | None = strawberry.field(
        description="When it was deleted (status DELETED); null otherwise."
    )

    @strawberry.field(description="The contract it belongs to.")
    async def contract(self, info: Info) -> Contract:
        return await load_contract(info, self.contract_pk)

    @strawberry.field(
        description="What the viewer could do to it now (the same rules as the mutations)."
    )
    async def viewer_can(self, info: Info) -> MilestoneViewerCan:
        from milestones.models import Milestone as MilestoneModel

        assert isinstance(self.row, MilestoneModel)
        room = await info.context.loaders.room_state.load(self.contract_pk)
        role = await viewer_access(info, room.contract)
        return MilestoneViewerCan.of(milestone_abilities(role, room, self.row))

    @strawberry.field(
        description="Every submission of work on it, oldest first, with its message, files and "
        "outcome."
    )
    async def submissions(self, info: Info) -> list[Submission]:
        rows = await info.context.loaders.submissions_of_milestone.load(self.pk)
        return [Submission.of(row) for row in rows]

    @classmethod
    def of(cls, milestone: object, money: MilestoneMoney) -> Milestone:
        from milestones.models import Milestone as MilestoneModel

        assert isinstance(milestone, MilestoneModel)
        return cls(
            id=strawberry.ID(ids.encode("Milestone", milestone.id)),
            pk=milestone.id,
            contract_pk=milestone.contract_id,
            row=milestone,
            # A deleted milestone keeps the position it had, which another may hold now.
            position=0 if milestone.deleted_at is not None else milestone.position,
            title=milestone.title,
            description=milestone.description,
            due_date=milestone.due_date,
            amount=cents_to_decimal(milestone.amount),
            status=(
                stored.MilestoneStatus.DELETED
                if milestone.deleted_at is not None
                else milestone.status
            ),
            funded_amount=cents_to_decimal(money.funded),
            released_amount=cents_to_decimal(money.released),
            refunded_amount=cents_to_decimal(money.refunded),
            version=milestone.version,
            created_at=milestone.created_at,
            updated_at=milestone.updated_at,
            activated_at=milestone.activated_at,
            submitted_at=milestone.submitted_at,
            review_deadline=milestone.review_deadline,
            released_at=milestone.released_at,
            deleted_at=milestone.deleted_at,
        )


@strawberry.type(description="Work the freelancer submitted on a milestone (`submitMilestone`).")
class Submission(Node):
    pk: Private[int]
    message: str | None = strawberry.field(
        description="What the freelancer wrote with it, if anything."
    )
    submitted_at: dt.datetime = strawberry.field(description="When it was submitted.")
    outcome: SubmissionOutcome = strawberry.field(
        description="PENDING until the client approves or rejects it or the review deadline "
        "releases the milestone."
    )
    response_message: str | None = strawberry.field(
        description="What the client wrote when rejecting (or approving) it, if anything."
    )
    responded_at: dt.datetime | None = strawberry.field(
        description="When its outcome was decided; null while PENDING."
    )

    @strawberry.field(description="Its files, in the order they were sent.")
    async def attachments(self, info: Info) -> list[Attachment]:
        rows = await info.context.loaders.attachments_of_submission.load(self.pk)
        return [Attachment.of(row) for row in rows]

    @classmethod
    def of(cls, submission: object) -> Submission:
        from milestones.models import Submission as SubmissionModel

        assert isinstance(submission, SubmissionModel)
        return cls(
            id=strawberry.ID(ids.encode("Submission", submission.id)),
            pk=submission.id,
            message=submission.message,
            submitted_at=submission.submitted_at,
            outcome=submission.outcome,
            response_message=submission.response_message,
            responded_at=submission.responded_at,
        )


@strawberry.type(description="A file sent with a submission.")
class Attachment(Node):
    filename: str = strawberry.field(
        description="The file's name as it was sent (its last path segment, at most 255 "
        "characters)."
    )
    content_type: str = strawberry.field(
        description="The media type it was sent with (application/octet-stream when none)."
    )
    size: int = strawberry.field(description="Its size in bytes.")
    sha256: str = strawberry.field(description="The SHA-256 of its bytes, lowercase hex.")
    url: str = strawberry.field(
        description="Where to download it: `/attachments/<id>`, GET with the same bearer "
        "token; for the room's parties only (anyone else gets 404)."
    )

    @classmethod
    def of(cls, attachment: object) -> Attachment:
        from milestones.models import Attachment as AttachmentModel

        assert isinstance(attachment, AttachmentModel)
        global_id = ids.encode("Attachment", attachment.id)
        return cls(
            id=strawberry.ID(global_id),
            filename=attachment.filename,
            content_type=attachment.content_type,
            size=attachment.size,
            sha256=attachment.sha256,
            url=f"/attachments/{global_id}",
        )


@strawberry.type(description="One proposed change: add, edit or delete an upcoming milestone.")
class MilestoneChange:
    milestone_pk: Private[int | None]
    kind: ChangeKind = strawberry.field(description="ADD a milestone, EDIT one or DELETE one.")
    title: str | None = strawberry.field(
        description="The new title (ADD, or EDIT when it changes)."
    )
    description: str | None = strawberry.field(
        description="The new description (ADD, or EDIT when it changes)."
    )
    due_date: dt.date | None = strawberry.field(
        description="The new due date (ADD, or EDIT when it changes)."
    )
    amount: Decimal | None = strawberry.field(
        description="The new amount (ADD, or EDIT when it changes)."
    )
    changed_fields: list[MilestoneField] = strawberry.field(
        description="The fields it sets: an ADD lists those it gives a value (always TITLE and "
        "AMOUNT), an EDIT those it names (a field listed with a null value is cleared), a "
        "DELETE none. A field not listed stays as it is."
    )

    @strawberry.field(
        description="The milestone it edits or deletes, or the one an accepted ADD created."
    )
    async def milestone(self, info: Info) -> Milestone | None:
        if self.milestone_pk is None:
            return None
        return await load_milestone(info, self.milestone_pk, include_deleted=True)


def changed_fields(change: object) -> list[MilestoneField]:
    """What a stored change sets: title and amount are never cleared, so a value there means
    the change names them; description and due date say whether it names them."""
    from milestones.models import MilestoneChange as Model

    assert isinstance(change, Model)
    if change.kind is stored.ChangeKind.DELETE:
        return []
    adding = change.kind is stored.ChangeKind.ADD
    named = {
        MilestoneField.TITLE: change.title is not None,
        MilestoneField.DESCRIPTION: change.description is not None
        if adding
        else change.sets_description,
        MilestoneField.DUE_DATE: change.due_date is not None if adding else change.sets_due_date,
        MilestoneField.AMOUNT: change.amount is not None,
    }
    return [field for field, listed in named.items() if listed]


@strawberry.type(description="The freelancer's proposal to change upcoming milestones.")
class ChangeRequest(Node):
    pk: Private[int]
    contract_pk: Private[int]
    requested_by_pk: Private[int]
    status: ChangeRequestStatus = strawberry.field(
        description="PENDING until the client accepts or declines it, or the freelancer withdraws "
        "it."
    )
    message: str | None = strawberry.field(description="What the freelancer wrote with it.")
    created_at: dt.datetime = strawberry.field(description="When the freelancer sent it.")
    responded_at: dt.datetime | None = strawberry.field(
        description="When it was accepted, declined or withdrawn; null while PENDING."
    )
    response_message: str | None = strawberry.field(
        description='What the client wrote with the answer (or "The contract ended.").'
    )

    @strawberry.field(description="The contract whose milestones it changes.")
    async def contract(self, info: Info) -> Contract:
        return await load_contract(info, self.contract_pk)

    @strawberry.field(description="The freelancer who sent it.")
    async def requested_by(self, info: Info) -> User:
        return await load_user(info, self.requested_by_pk)

    @strawberry.field(description="Its changes, in the order given; all apply at once on ACCEPT.")
    async def changes(self, info: Info) -> list[MilestoneChange]:
        rows = await info.context.loaders.changes_of_request.load(self.pk)
        return [
            MilestoneChange(
                milestone_pk=row.milestone_id,
                kind=row.kind,
                title=row.title,
                description=row.description,
                due_date=row.due_date,
                amount=cents_to_decimal(row.amount) if row.amount is not None else None,
                changed_fields=changed_fields(row),
            )
            for row in rows
        ]

    @classmethod
    def of(cls, change_request: object) -> ChangeRequest:
        from milestones.models import ChangeRequest as Model

        assert isinstance(change_request, Model)
        return cls(
            id=strawberry.ID(ids.encode("ChangeRequest", change_request.id)),
            pk=change_request.id,
            contract_pk=change_request.contract_id,
            requested_by_pk=change_request.requested_by_id,
            status=change_request.status,
            message=change_request.message,
            created_at=change_request.created_at,
            responded_at=change_request.responded_at,
            response_message=change_request.response_message,
        )


@strawberry.type(description="The client's request to have the active milestone refunded.")
class RefundRequest(Node):
    pk: Private[int]
    contract_pk: Private[int]
    milestone_pk: Private[int | None]
    requested_by_pk: Private[int]
    status: RefundRequestStatus = strawberry.field(
        description="PENDING until the freelancer accepts or declines it (or disputes it)."
    )
    amount: Decimal = strawberry.field(
        description="The money asked back: what the milestone holds in escrow (when the client "
        "ends a contract: all the money still held)."
    )
    message: str | None = strawberry.field(description="What the client wrote with it.")
    created_at: dt.datetime = strawberry.field(description="When the client asked.")
    responded_at: dt.datetime | None = strawberry.field(
        description="When the freelancer answered; null while PENDING."
    )
    response_message: str | None = strawberry.field(
        description="What the freelancer wrote with the answer."
    )
    respond_by: dt.datetime | None = strawberry.field(
        description="Unanswered by then, the refund is accepted."
    )

    @strawberry.field(description="The contract.")
    async def contract(self, info: Info) -> Contract:
        return await load_contract(info, self.contract_pk)

    @strawberry.field(
        description="The milestone whose money is asked back; null when an ended contract asks "
        "back only its `available` money."
    )
    async def milestone(self, info: Info) -> Milestone | None:
        return await load_concerned_milestone(info, self.milestone_pk)

    @strawberry.field(description="The client who asked.")
    async def requested_by(self, info: Info) -> User:
        return await load_user(info, self.requested_by_pk)

    @classmethod
    def of(cls, refund_request: object) -> RefundRequest:
        from milestones.models import RefundRequest as Model

        assert isinstance(refund_request, Model)
        return cls(
            id=strawberry.ID(ids.encode("RefundRequest", refund_request.id)),
            pk=refund_request.id,
            contract_pk=refund_request.contract_id,
            milestone_pk=refund_request.milestone_id,
            requested_by_pk=refund_request.requested_by_id,
            status=refund_request.status,
            amount=cents_to_decimal(refund_request.amount),
            message=refund_request.message,
            created_at=refund_request.created_at,
            responded_at=refund_request.responded_at,
            response_message=refund_request.response_message,
            respond_by=refund_request.respond_by,
        )


MOVED_AMOUNT = (
    "The money the action moved, in the contract's currency; null when it moved none. "
    "MILESTONE_ACTIVATED: funded into escrow (the available balance pays first, the client "
    "deposits the rest); MILESTONE_APPROVED, MILESTONE_AUTO_RELEASED: released to the "
    "freelancer (a bonus paid with an approval is its own BONUS_PAID); REFUND_ACCEPTED, "
    "REFUND_AUTO_ACCEPTED: refunded to the client; REFUND_REQUESTED: asked back; BONUS_PAID: "
    "the bonus; CONTRACT_ENDED: what ending moved at once (the client's `payAmount`, or all "
    "that was held given back when the freelancer ends); DISPUTE_OPENED: the disputed amount; "
    "DISPUTE_ESCALATED: the amount in mediation; DISPUTE_ACCEPTED, DISPUTE_RESOLVED, "
    "DISPUTE_AUTO_RESOLVED: released to the freelancer (the rest went back to the client: "
    "`Dispute.resolution`). Money of the contract's available balance (left over from a "
    "partial release) is attributed to the milestone it was left over from, when it all came "
    "from one: the event's `milestone`."
)


@strawberry.type(description="An entry of the contract room's log.")
class ContractEvent(Node):
    contract_pk: Private[int]
    actor_pk: Private[int | None]
    milestone_pk: Private[int | None]
    change_request_pk: Private[int | None]
    refund_request_pk: Private[int | None]
    dispute_pk: Private[int | None]
    cursor: str = strawberry.field(
        description="Its place in the contract's log: pass it as `after` to `events` or to the "
        "`contractEvents` subscription to get what came after it."
    )
    kind: EventKind = strawberry.field(description="What happened.")
    note: str | None = strawberry.field(
        description="What the actor wrote with the action (the mutation's `message`), if anything."
    )
    amount: Decimal | None = strawberry.field(description=MOVED_AMOUNT)
    occurred_at: dt.datetime = strawberry.field(
        description="When it happened (committed with the change itself)."
    )

    @strawberry.field(description="The contract whose log it is in.")
    async def contract(self, info: Info) -> Contract:
        return await load_contract(info, self.contract_pk)

    @strawberry.field(description="Who acted; null when a deadline acted by itself.")
    async def actor(self, info: Info) -> User | None:
        return None if self.actor_pk is None else await load_user(info, self.actor_pk)

    @strawberry.field(description="The milestone it concerns, if any (shown even once deleted).")
    async def milestone(self, info: Info) -> Milestone | None:
        return await load_concerned_milestone(info, self.milestone_pk)

    @strawberry.field(description="The change request it concerns, if any.")
    async def change_request(self, info: Info) -> ChangeRequest | None:
        return await load_change_request(info, self.change_request_pk)

    @strawberry.field(description="The refund request it concerns, if any.")
    async def refund_request(self, info: Info) -> RefundRequest | None:
        return await load_refund_request(info, self.refund_request_pk)

    @strawberry.field(description="The dispute it concerns, if any.")
    async def dispute(self, info: Info) -> Dispute | None:
        return await load_dispute(self.dispute_pk)

    @classmethod
    def of(cls, event: object) -> ContractEvent:
        from milestones.models import ContractEvent as Model

        assert isinstance(event, Model)
        return cls(
            id=strawberry.ID(ids.encode("ContractEvent", event.id)),
            contract_pk=event.contract_id,
            actor_pk=event.actor_id,
            milestone_pk=event.milestone_id,
            change_request_pk=event.change_request_id,
            refund_request_pk=event.refund_request_id,
            dispute_pk=event.dispute_id,
            cursor=ids.encode_cursor("event", event.seq),
            kind=event.kind,
            note=event.note,
            amount=cents_to_decimal(event.amount) if event.amount is not None else None,
            occurred_at=event.occurred_at,
        )


@strawberry.type(description="Something the other party did that the viewer should know.")
class Notification(Node):
    event_pk: Private[int | None]  # None: a DEADLINE_REMINDER (no room event)
    contract_pk: Private[int]
    actor_pk: Private[int | None]
    milestone_pk: Private[int | None]  # a reminder's own (others are their event's)
    refund_request_pk: Private[int | None]
    dispute_pk: Private[int | None]
    cursor: str = strawberry.field(
        description="Its place among the viewer's notifications: pass it as `after` to the "
        "`notifications` subscription to resume after it, or to the `notifications` "
        "query for the next (older) page."
    )
    kind: EventKind = strawberry.field(
        description="What happened (the kind of the event it tells about)."
    )
    message: str = strawberry.field(
        description="A sentence a person can read, as an email subject would be, e.g. "
        "`Fred Freelancer submitted work on “Prototype” of “Mobile app”`."
    )
    note: str | None = strawberry.field(
        description="What the actor wrote with the action (the mutation's `message`), if anything."
    )
    amount: Decimal | None = strawberry.field(description=MOVED_AMOUNT)
    created_at: dt.datetime = strawberry.field(
        description="When it was made (with the event it tells about)."
    )
    read_at: dt.datetime | None = strawberry.field(
        description="When the viewer marked it read (`markNotificationsRead`); null while unread."
    )
    deadline: dt.datetime | None = strawberry.field(
        description="A `DEADLINE_REMINDER`'s deadline (a review deadline, a refund request's or "
        "a dispute's `respondBy`), also named in `message`; null for every other kind."
    )

    async def _sees_room(self, info: Info) -> bool:
        """A notification outlives the viewer's access to its room (a member removed from a
        team keeps their past notifications): what it concerns is shown only while they
        may still see the room."""
        contract = await info.context.loaders.contract.load(self.contract_pk)
        return contract is not None and await viewer_access(info, contract) is not None

    @strawberry.field(
        description="The contract it is about; null once the viewer may no longer see it "
        "(removed from the team that is its party), as is everything else it concerns."
    )
    async def contract(self, info: Info) -> Contract | None:
        if not await self._sees_room(info):
            return None
        return await load_contract(info, self.contract_pk)

    @strawberry.field(
        description="The other party, who did it; null when a deadline acted by itself."
    )
    async def actor(self, info: Info) -> User | None:
        return None if self.actor_pk is None else await load_user(info, self.actor_pk)

    # What it concerns is what its event concerns.

    @strawberry.field(description="The milestone it concerns, if any (shown even once deleted).")
    async def milestone(self, info: Info) -> Milestone | None:
        if not await self._sees_room(info):
            return None
        if self.event_pk is None:
            return await load_concerned_milestone(info, self.milestone_pk)
        event = await info.context.loaders.event.load(self.event_pk)
        return await load_concerned_milestone(info, event.milestone_id if event else None)

    @strawberry.field(description="The change request it concerns, if any.")
    async def change_request(self, info: Info) -> ChangeRequest | None:
        if self.event_pk is None or not await self._sees_room(info):
            return None
        event = await info.context.loaders.event.load(self.event_pk)
        return await load_change_request(info, event.change_request_id if event else None)

    @strawberry.field(description="The refund request it concerns, if any.")
    async def refund_request(self, info: Info) -> RefundRequest | None:
        if not await self._sees_room(info):
            return None
        if self.event_pk is None:
            return await load_refund_request(info, self.refund_request_pk)
        event = await info.context.loaders.event.load(self.event_pk)
        return await load_refund_request(info, event.refund_request_id if event else None)

    @strawberry.field(description="The dispute it concerns, if any.")
    async def dispute(self, info: Info) -> Dispute | None:
        if not await self._sees_room(info):
            return None
        if self.event_pk is None:
            return await load_dispute(self.dispute_pk)
        event = await info.context.loaders.event.load(self.event_pk)
        return await load_dispute(event.dispute_id if event else None)

    @classmethod
    def of(cls, notification: object) -> Notification:
        from milestones.models import Notification as Model

        assert isinstance(notification, Model)
        return cls(
            id=strawberry.ID(ids.encode("Notification", notification.id)),
            event_pk=notification.event_id,
            contract_pk=notification.contract_id,
            actor_pk=notification.actor_id,
            milestone_pk=notification.milestone_id,
            refund_request_pk=notification.refund_request_id,
            dispute_pk=notification.dispute_id,
            cursor=ids.encode_cursor("notification", notification.seq),
            kind=notification.kind,
            message=notification.message,
            note=notification.note,
            amount=(
                cents_to_decimal(notification.amount) if notification.amount is not None else None
            ),
            created_at=notification.created_at,
            read_at=notification.read_at,
            deadline=notification.deadline,
        )


@strawberry.type(description="A page of the viewer's notifications, newest first.")
class NotificationConnection(Connection[Notification]):
    recipient_pk: Private[int]

    @strawberry.field(
        description="How many of the viewer's notifications are unread: all of them, not only "
        "this page's (the badge count)."
    )
    async def unread_count(self) -> int:
        return await unread_notifications(self.recipient_pk)


@strawberry.type(description="A contract between a client, who pays, and a freelancer.")
class Contract(Node):
    pk: Private[int]
    client_pk: Private[int]
    freelancer_pk: Private[int | None]
    client_team_pk: Private[int | None]
    freelancer_team_pk: Private[int | None]
    # The log as this contract row knows it: a room (or a replayed payload) lists the events
    # up to it, consistent with every other field it shows.
    event_seq: Private[int]
    title: str = strawberry.field(description="What the contract is for, 1 to 200 characters.")
    currency: str = strawberry.field(
        description="The ISO 4217 code of every amount of the contract, e.g. USD."
    )
    status: ContractStatus = strawberry.field(
        description="OFFERED until the freelancer party answers; then ACTIVE (accepted) or "
        "DECLINED (declined, or withdrawn by the client); ENDED once a party ended it."
    )
    invited_email: str | None = strawberry.field(
        description="For an offer made by email: the address it was sent to (normalised: "
        "trimmed, lower case); null for an offer to a user ID."
    )
    viewer_role: ContractRole = strawberry.field(
        description="The viewer's side: CLIENT or FREELANCER; MEDIATOR for a mediator watching "
        "a room whose dispute went to mediation (read-only)."
    )
    viewer_team_role: TeamRole | None = strawberry.field(
        description="On a team side, the viewer's role in that team (a MEMBER sees the room and "
        "may only submit work, on the freelancer side); null for a person party."
    )
    created_at: dt.datetime = strawberry.field(description="When the client offered it.")
    accepted_at: dt.datetime | None = strawberry.field(
        description="When the freelancer party accepted the offer (for contracts made before "
        "offers existed: when they were made); null while OFFERED or once DECLINED."
    )
    ended_at: dt.datetime | None = strawberry.field(
        description="When it ended, or when its offer was declined or withdrawn; null while "
        "OFFERED or ACTIVE."
    )

    @strawberry.field(description="The party who pays.")
    async def client(self, info: Info) -> User:
        return await load_user(info, self.client_pk)

    @strawberry.field(
        description="The party who works: the user the offer named, or, for an offer made by "
        "email, the person who accepted it (null until then)."
    )
    async def freelancer(self, info: Info) -> User | None:
        if self.freelancer_pk is None:
            return None
        return await load_user(info, self.freelancer_pk)

    @strawberry.field(
        description="The team on the client's side, if it is one: its OWNERs and ADMINs act as "
        "the client, its MEMBERs see the room."
    )
    async def client_team(self, info: Info) -> Team | None:
        return await load_team(info, self.client_team_pk)

    @strawberry.field(
        description="The team (agency) on the freelancer's side, if it is one: its OWNERs and "
        "ADMINs act as the freelancer, its MEMBERs see the room and may submit work."
    )
    async def freelancer_team(self, info: Info) -> Team | None:
        return await load_team(info, self.freelancer_team_pk)

    @strawberry.field(description="All milestones, in position order.")
    async def milestones(self, info: Info) -> list[Milestone]:
        loaders = info.context.loaders
        rows = await loaders.milestones_of_contract.load(self.pk)
        ledger = await milestone_money(info, self.pk, [row.id for row in rows])
        return [Milestone.of(row, money_in(ledger, row.id)) for row in rows]

    @strawberry.field(description="The ACTIVE or SUBMITTED milestone, if any.")
    async def active_milestone(self, info: Info) -> Milestone | None:
        milestones: list[Milestone] = await self.milestones(info)
        return next((m for m in milestones if m.status in stored.FUNDED_STATUSES), None)

    @strawberry.field(description="The money held for the contract, and what went in and out.")
    async def escrow(self, info: Info) -> Escrow:
        ledger: LedgerSummary = await info.context.loaders.money(self.pk)
        return Escrow.of(ledger.escrow)

    @strawberry.field(
        description="The change request waiting for the client's answer, if any (at most one)."
    )
    async def pending_change_request(self, info: Info) -> ChangeRequest | None:
        found = await info.context.loaders.pending_change_request.load(self.pk)
        return ChangeRequest.of(found) if found is not None else None

    @strawberry.field(
        description="The refund request waiting for the freelancer's answer, if any (at most one)."
    )
    async def pending_refund_request(self, info: Info) -> RefundRequest | None:
        found = await info.context.loaders.pending_refund_request.load(self.pk)
        return RefundRequest.of(found) if found is not None else None

    @strawberry.field(
        description="The dispute not resolved yet (awaiting the client or in mediation), if any "
        "(at most one)."
    )
    async def open_dispute(self, info: Info) -> Dispute | None:
        from milestones.models import Dispute as DisputeModel

        found = await DisputeModel.filter(
            contract_id=self.pk, status__in=stored.OPEN_DISPUTE_STATUSES
        ).first()
        return Dispute.of(found) if found is not None else None

    @strawberry.field(description="The contract's disputes, newest first.")
    async def disputes(
        self, info: Info, first: First = 20, after: After = None
    ) -> Connection[Dispute]:
        return await disputes_page(first, after, contract_pk=self.pk)

    @strawberry.field(description="The contract's change requests, newest first.")
    async def change_requests(
        self, info: Info, first: First = 20, after: After = None
    ) -> Connection[ChangeRequest]:
        return await change_requests_page(self.pk, first, after)

    @strawberry.field(
        description="What the viewer could do in it now (the same rules as the mutations)."
    )
    async def viewer_can(self, info: Info) -> ContractViewerCan:
        loaders = info.context.loaders
        room = await loaders.room_state.load(self.pk)
        change = refund = funded = None
        if room.pending_change_request_id is not None:
            change = await loaders.pending_change_request.load(self.pk)
        if room.pending_refund_request_id is not None:
            refund = await loaders.pending_refund_request.load(self.pk)
        if room.funded_milestone_id is not None:
            funded = await loaders.milestone.load(room.funded_milestone_id)
        role = await viewer_access(info, room.contract)
        return ContractViewerCan.of(contract_abilities(role, room, change, refund, funded))

    @strawberry.field(description="The contract room's log, oldest first.")
    async def events(
        self, info: Info, first: First = 20, after: After = None
    ) -> Connection[ContractEvent]:
        return await events_page(self.pk, first, after, up_to=self.event_seq)

    @classmethod
    def of(cls, contract: object, viewer_id: int, access: Access | None = None) -> Contract:
        """`access`: the viewer's (`access_in`); without it, the viewer is a person party."""
        from milestones.models import Contract as Model

        assert isinstance(contract, Model)
        if access is not None:
            role = access.role
        else:
            role = _viewer_role(contract.client_id, contract.freelancer_id, viewer_id)
        return cls(
            id=strawberry.ID(ids.encode("Contract", contract.id)),
            pk=contract.id,
            client_pk=contract.client_id,
            freelancer_pk=shown_freelancer_id(contract),
            client_team_pk=contract.client_team_id,
            freelancer_team_pk=contract.freelancer_team_id,
            event_seq=contract.event_seq,
            title=contract.title,
            currency=contract.currency,
            status=contract.status,
            invited_email=contract.invited_email,
            viewer_role=role,
            viewer_team_role=access.team_role if access is not None else None,
            created_at=contract.created_at,
            accepted_at=contract.accepted_at,
            ended_at=contract.ended_at,
        )


def _viewer_role(client_pk: int, freelancer_pk: int | None, viewer_pk: int) -> Role:
    """Whoever reads a room is a party or, read-only, a mediator (access decided that)."""
    if viewer_pk == client_pk:
        return Role.CLIENT
    if viewer_pk == freelancer_pk:
        return Role.FREELANCER
    return Role.MEDIATOR


@strawberry.type(description="How a dispute was settled.")
class DisputeResolution:
    decided_by_pk: Private[int | None]
    kind: DisputeResolutionKind = strawberry.field(description="Who settled it.")
    released_amount: Decimal = strawberry.field(
        description="What went to the freelancer out of the disputed amount."
    )
    refunded_amount: Decimal = strawberry.field(
        description="What went back to the client: the disputed amount minus `releasedAmount`."
    )
    message: str | None = strawberry.field(
        description="What the client (ACCEPT) or the mediator wrote with the decision."
    )

    @strawberry.field(
        description="The client who accepted or the mediator who decided; null when the "
        "deadline resolved it."
    )
    async def decided_by(self, info: Info) -> User | None:
        return None if self.decided_by_pk is None else await load_user(info, self.decided_by_pk)


@strawberry.type(
    description="The freelancer contests a refund request or a withheld payment: its money is "
    "frozen until the client accepts, a mediator decides, or `respondBy` passes."
)
class Dispute(Node):
    pk: Private[int]
    contract_pk: Private[int]
    milestone_pk: Private[int | None]
    refund_request_pk: Private[int | None]
    opened_by_pk: Private[int]
    message: str | None = strawberry.field(description="What the freelancer wrote opening it.")
    amount: Decimal = strawberry.field(
        description="The money in dispute: the refund request's amount, or what the milestone "
        "held when it was opened."
    )
    status: DisputeStatus = strawberry.field(description="Where it stands.")
    respond_by: dt.datetime | None = strawberry.field(
        description="While AWAITING_CLIENT: unanswered by then, the amount goes to the freelancer."
    )
    response_message: str | None = strawberry.field(
        description="What the client wrote sending it to mediation, if they did."
    )
    resolution: DisputeResolution | None = strawberry.field(
        description="How it was settled; null until RESOLVED."
    )
    opened_at: dt.datetime = strawberry.field(description="When the freelancer opened it.")
    resolved_at: dt.datetime | None = strawberry.field(
        description="When it was settled; null until RESOLVED."
    )

    @strawberry.field(description="The contract.")
    async def contract(self, info: Info) -> Contract:
        return await load_contract(info, self.contract_pk)

    @strawberry.field(
        description="The milestone whose money is disputed; null for the `available` money of an "
        "ended contract."
    )
    async def milestone(self, info: Info) -> Milestone | None:
        return await load_concerned_milestone(info, self.milestone_pk)

    @strawberry.field(description="The refund request disputed instead of answered, if any.")
    async def refund_request(self, info: Info) -> RefundRequest | None:
        return await load_refund_request(info, self.refund_request_pk)

    @strawberry.field(description="The freelancer who opened it.")
    async def opened_by(self, info: Info) -> User:
        return await load_user(info, self.opened_by_pk)

    @classmethod
    def of(cls, dispute: object) -> Dispute:
        from milestones.models import Dispute as Model

        assert isinstance(dispute, Model)
        resolution = None
        if dispute.resolution_kind is not None:
            resolution = DisputeResolution(
                decided_by_pk=dispute.decided_by_id,
                kind=dispute.resolution_kind,
                released_amount=cents_to_decimal(dispute.released_amount or 0),
                refunded_amount=cents_to_decimal(dispute.refunded_amount or 0),
                message=dispute.resolution_message,
            )
        return cls(
            id=strawberry.ID(ids.encode("Dispute", dispute.id)),
            pk=dispute.id,
            contract_pk=dispute.contract_id,
            milestone_pk=dispute.milestone_id,
            refund_request_pk=dispute.refund_request_id,
            opened_by_pk=dispute.opened_by_id,
            message=dispute.message,
            amount=cents_to_decimal(dispute.amount),
            status=dispute.status,
            respond_by=dispute.respond_by,
            response_message=dispute.response_message,
            resolution=resolution,
            opened_at=dispute.opened_at,
            resolved_at=dispute.resolved_at,
        )


async def load_dispute(pk: int | None) -> Dispute | None:
    from milestones.models import Dispute as DisputeModel

    found = await DisputeModel.get_or_none(id=pk) if pk is not None else None
    return Dispute.of(found) if found is not None else None


async def disputes_page(
    first: int | None,
    after: str | None,
    *,
    contract_pk: int | None = None,
    visible_to: Q | None = None,
    status: stored.DisputeStatus | None = None,
) -> Connection[Dispute]:
    """Disputes newest first: of one contract, or those `visible_to` (a Q filter) may see."""
    from milestones.models import Dispute as DisputeModel

    size = page_size(first)
    before_id = after_position(after, "dispute")
    query = DisputeModel.all()
    if contract_pk is not None:
        query = query.filter(contract_id=contract_pk)
    if visible_to is not None:
        query = query.filter(visible_to)
    if status is not None:
        query = query.filter(status=status)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    rows = await query.order_by("-id").limit(size + 1)
    return connection(
        rows, size, after, Dispute.of, lambda row: ids.encode_cursor("dispute", row.id)
    )


async def load_user(info: Info, pk: int) -> User:
    user = await info.context.loaders.user.load(pk)
    return User.of(user)


async def load_contract(info: Info, pk: int) -> Contract:
    contract = await info.context.loaders.contract.load(pk)
    viewer = info.context.viewer
    assert contract is not None and viewer is not None
    return Contract.of(contract, viewer.id, await viewer_access(info, contract))


async def viewer_access(info: Info, contract: object) -> Access | None:
    """The viewer's access to a contract (`access_in`), their memberships read once a request
    and only for a contract with a team side."""
    from milestones.models import Contract as Model

    assert isinstance(contract, Model)
    viewer = info.context.viewer
    assert viewer is not None
    if contract.client_team_id is None and contract.freelancer_team_id is None:
        return standing(viewer, contract, {})
    known, access = remembered_access(contract, viewer.id)
    if known:  # the action that returned this row judged it already
        return access
    return standing(viewer, contract, await info.context.loaders.memberships.load(viewer.id))


async def load_milestone(info: Info, pk: int, *, include_deleted: bool = False) -> Milestone | None:
    milestone = await info.context.loaders.milestone.load(pk)
    if milestone is None or (milestone.deleted_at is not None and not include_deleted):
        return None
    return await milestone_of(info, milestone)


async def load_concerned_milestone(info: Info, pk: int | None) -> Milestone | None:
    """A milestone an event or change is about: shown even once deleted."""
    if pk is None:
        return None
    return await load_milestone(info, pk, include_deleted=True)


async def load_change_request(info: Info, pk: int | None) -> ChangeRequest | None:
    found = await info.context.loaders.change_request.load(pk) if pk is not None else None
    return ChangeRequest.of(found) if found is not None else None


async def load_refund_request(info: Info, pk: int | None) -> RefundRequest | None:
    found = await info.context.loaders.refund_request.load(pk) if pk is not None else None
    return RefundRequest.of(found) if found is not None else None


async def change_requests_page(
    contract_pk: int, first: int | None, after: str | None
) -> Connection[ChangeRequest]:
    from milestones.models import ChangeRequest as ChangeRequestModel

    size = page_size(first)
    before_id = after_position(after, "changeRequest")
    query = ChangeRequestModel.filter(contract_id=contract_pk)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    rows = await query.order_by("-id").limit(size + 1)
    return connection(
        rows, size, after, ChangeRequest.of, lambda row: ids.encode_cursor("changeRequest", row.id)
    )


async def events_page(
    contract_pk: int, first: int | None, after: str | None, *, up_to: int
) -> Connection[ContractEvent]:
    """Events up to `up_to`: the seq of the contract row the caller shows, so the log agrees
    with every other field of that room (and of a replayed payload)."""
    from milestones.models import ContractEvent as ContractEventModel

    size = page_size(first)
    after_seq = after_position(after, "event")
    query = ContractEventModel.filter(contract_id=contract_pk, seq__lte=up_to)
    if after_seq is not None:
        query = query.filter(seq__gt=after_seq)
    rows = await query.order_by("seq").limit(size + 1)
    return connection(
        rows, size, after, ContractEvent.of, lambda row: ids.encode_cursor("event", row.seq)
    )


# --- webhooks: the viewer's endpoints and their deliveries (never the secret) ---


@strawberry.enum(description="Where a webhook delivery stands.")
class WebhookDeliveryStatus(Enum):
    PENDING = strawberry.enum_value("PENDING", description="Not delivered yet; will be tried.")
    DELIVERED = strawberry.enum_value("DELIVERED", description="The receiver answered 2xx.")
    FAILED = strawberry.enum_value(
        "FAILED", description="Parked: no 2xx within the retry window; not tried again."
    )


@strawberry.type(description="One notification sent (or being sent) to one webhook endpoint.")
class WebhookDelivery(Node):
    notification: Notification = strawberry.field(description="The notification it carries.")
    webhook_id: str = strawberry.field(
        description="The `webhook-id` header, the same on every attempt."
    )
    status: WebhookDeliveryStatus = strawberry.field(description="Where the delivery stands.")
    attempts: int = strawberry.field(description="Attempts made so far.")
    last_status_code: int | None = strawberry.field(
        description="The HTTP status of the last attempt; null if no answer came."
    )
    last_error: str | None = strawberry.field(
        description="Why the last attempt failed: a short excerpt of the answer or the error."
    )
    next_attempt_at: dt.datetime | None = strawberry.field(
        description="When it is tried next; null once delivered or parked."
    )
    delivered_at: dt.datetime | None = strawberry.field(
        description="When the receiver answered 2xx."
    )
    failed_at: dt.datetime | None = strawberry.field(description="When it was parked as failed.")
    created_at: dt.datetime = strawberry.field(description="When the notification was written.")

    @classmethod
    def of(cls, delivery: object, notification: Notification) -> WebhookDelivery:
        from milestones.models import WebhookDelivery as Model

        assert isinstance(delivery, Model)
        if delivery.delivered_at is not None:
            status = WebhookDeliveryStatus.DELIVERED
        elif delivery.failed_at is not None:
            status = WebhookDeliveryStatus.FAILED
        else:
            status = WebhookDeliveryStatus.PENDING
        return cls(
            id=strawberry.ID(ids.encode("WebhookDelivery", delivery.id)),
            notification=notification,
            webhook_id=delivery.message_id,
            status=status,
            attempts=delivery.attempts,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            next_attempt_at=(
                delivery.next_attempt_at if status is WebhookDeliveryStatus.PENDING else None
            ),
            delivered_at=delivery.delivered_at,
            failed_at=delivery.failed_at,
            created_at=delivery.created_at,
        )


@strawberry.type(
    description="Where the owner's notifications of the chosen kinds are POSTed, signed per "
    "the Standard Webhooks spec."
)
class WebhookEndpoint(Node):
    pk: Private[int]
    contract_pk: Private[int | None]
    url: str = strawberry.field(description="Where deliveries are POSTed.")
    kinds: list[EventKind] = strawberry.field(description="The notification kinds it receives.")
    created_at: dt.datetime = strawberry.field(description="When it was created.")
    updated_at: dt.datetime = strawberry.field(description="When it was last changed.")

    @strawberry.field(description="The one contract it is limited to; null: every contract.")
    async def contract(self, info: Info) -> Contract | None:
        if self.contract_pk is None:
            return None
        return await load_contract(info, self.contract_pk)

    @strawberry.field(description="Its deliveries, newest first.")
    async def deliveries(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="Page size, at most 100.")
        ] = 20,
        after: Annotated[
            str | None, strawberry.argument(description="The cursor to continue after.")
        ] = None,
    ) -> Connection[WebhookDelivery]:
        return await webhook_deliveries_page(self.pk, first, after)

    @classmethod
    def of(cls, endpoint: object) -> WebhookEndpoint:
        from milestones.domain.webhooks import endpoint_kinds
        from milestones.models import WebhookEndpoint as Model

        assert isinstance(endpoint, Model)
        return cls(
            id=strawberry.ID(ids.encode("WebhookEndpoint", endpoint.id)),
            pk=endpoint.id,
            contract_pk=endpoint.contract_id,
            url=endpoint.url,
            kinds=endpoint_kinds(endpoint),
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


async def webhook_deliveries_page(
    endpoint_pk: int, first: int | None, after: str | None
) -> Connection[WebhookDelivery]:
    from milestones.models import Notification as NotificationModel
    from milestones.models import WebhookDelivery as WebhookDeliveryModel

    size = page_size(first)
    before_id = after_position(after, "webhookDelivery")
    query = WebhookDeliveryModel.filter(endpoint_id=endpoint_pk)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    rows = await query.order_by("-id").limit(size + 1)
    notifications = {
        row.id: Notification.of(row)
        for row in await NotificationModel.filter(id__in=[row.notification_id for row in rows])
    }
    return connection(
        rows,
        size,
        after,
        lambda row: WebhookDelivery.of(row, notifications[row.notification_id]),
        lambda row: ids.encode_cursor("webhookDelivery", row.id),
    )
