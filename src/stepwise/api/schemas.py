"""Request and response bodies of the API (requests forbid unknown fields)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from stepwise.domain.keys import Key
from stepwise.services.events import PostedEvent


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscriberUpsert(Input):
    email: str = Field(max_length=320)
    data: dict[str, Any] | None = None
    lists: list[Key] | None = Field(default=None, max_length=1000)
    status: Literal["active", "unconfirmed"] | None = None


class SubscriberPatch(Input):
    data: dict[str, Any] | None = None
    unset: list[str] | None = Field(default=None, max_length=1000)
    status: Literal["active", "unconfirmed", "unsubscribed", "bounced"] | None = None


class ListPut(Input):
    name: str = Field(min_length=1, max_length=200)


class PreviewRequest(Input):
    email: str = Field(max_length=320)


class RunStart(Input):
    email: str = Field(max_length=320)


class EventBatch(Input):
    events: list[PostedEvent]


def _event_shape(value: Any) -> str:
    return "#batch" if isinstance(value, dict) and "events" in value else "#single"


EventsBody = Annotated[
    Annotated[EventBatch, Tag("#batch")] | Annotated[PostedEvent, Tag("#single")], Discriminator(_event_shape)
]


class Subscriber(BaseModel):
    email: str
    status: str
    data: dict[str, Any]
    lists: list[str]
    created_at: str
    updated_at: str


class Page(BaseModel):
    next_cursor: str | None = None


class SubscriberPage(Page):
    items: list[Subscriber]


class ListOut(BaseModel):
    key: str
    name: str
    created_at: str
    updated_at: str
    members: int | None = None


class ListsOut(Page):
    items: list[ListOut]


class Member(BaseModel):
    email: str
    status: str
    joined_at: str


class MemberPage(Page):
    items: list[Member]


class Draft(BaseModel):
    key: str
    subject: str
    html: str
    text: str | None
    from_email: str | None
    from_name: str | None
    reply_to: str | None
    created_at: str
    updated_at: str


class DraftsOut(Page):
    items: list[Draft]


class Preview(BaseModel):
    subject: str
    html: str
    text: str


class Sequence(BaseModel):
    key: str
    name: str
    status: str
    version: int
    definition: dict[str, Any]
    created_at: str
    updated_at: str


class SequencesOut(Page):
    items: list[Sequence]


class VariantStats(BaseModel):
    variant: int
    fired: int


class StepStats(BaseModel):
    step: int
    on_step: int
    variants: list[VariantStats]


class SequenceStats(BaseModel):
    sequence: str
    status: str
    entered: int
    subscribers: int
    on_steps: int
    completed: int
    stopped: int
    stopped_by: dict[str, int]
    steps: list[StepStats]


class Run(BaseModel):
    sequence: str
    email: str
    status: str
    step: int
    pass_: int = Field(alias="pass")
    entered_at: str | None
    step_entered_at: str | None
    wake_at: str | None
    ended_at: str | None
    end_reason: str | None

    model_config = ConfigDict(populate_by_name=True)


class RunPage(Page):
    items: list[Run]


class RunsOut(BaseModel):
    items: list[Run]


class TimelineEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    at: str
    kind: str
    sequence: str | None


class TimelinePage(Page):
    items: list[TimelineEntry]


class EventsResult(BaseModel):
    accepted: int
    duplicates: int
    unknown: int


class Issue(BaseModel):
    id: str
    email: str
    draft: str
    sequence: str | None
    step: int | None
    variant: int | None
    group: str
    status: str
    reason: str | None
    message_id: str | None
    transport: str | None
    subject: str | None
    created_at: str | None
    sent_at: str | None
    opened_at: str | None
    clicked_at: str | None
    unsubscribed_at: str | None


class IssuePage(Page):
    items: list[Issue]


class Message(BaseModel):
    id: str
    subject: str | None
    from_: str | None = Field(alias="from")
    to: str
    headers: dict[str, str]
    html: str | None
    text: str | None

    model_config = ConfigDict(populate_by_name=True)


class IssueCounts(BaseModel):
    total: int
    queued: int
    sent: int
    failed: int
    skipped: int
    opened: int
    clicked: int
    unsubscribed: int


class DraftIssueStats(IssueCounts):
    draft: str


class StepIssueStats(IssueCounts):
    sequence: str
    step: int | None


class IssueStats(BaseModel):
    totals: IssueCounts
    drafts: list[DraftIssueStats]
    steps: list[StepIssueStats]
