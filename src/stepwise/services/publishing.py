"""Drafts of sequences and publishing them (SPEC §13, S17, S18).

A draft is a validated definition stored beside the live version; nothing live changes until it is
published. Publishing makes it version n+1 in mode `pin` (open runs keep their version) or `migrate`
(every open run moves, see services/versions.py); with `dry_run` it only returns the impact preview.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from stepwise.domain.definition import MAX_STEPS, SequenceDefinition
from stepwise.domain.instants import iso
from stepwise.domain.validation import check_sequence
from stepwise.errors import Conflict, NotFound, Unprocessable
from stepwise.services import audit, impact, sequences, versions
from stepwise.services.catalog import info_of, read_definition
from stepwise.services.impact import Impact
from stepwise.services.references import gather
from stepwise.storage import sequence_drafts as draft_store
from stepwise.storage import sequences as sequence_store
from stepwise.storage import versions as version_store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.sequences import SequenceRow

Target = int | Literal["stop"]


class DraftOut(BaseModel):
    """The draft of a sequence: the definition being edited and the live version it started from."""

    model_config = ConfigDict(frozen=True)

    sequence: str
    based_on: int
    live_version: int
    updated_at: str
    who: str
    definition: dict[str, Any]


class PublishIn(BaseModel):
    """How to publish the draft: `pin` keeps open runs on their version, `migrate` moves them all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["pin", "migrate"]
    step_map: dict[str, Target] | None = Field(
        default=None, description='migrate only: {"<old step>": <new step> | "stop"}; unmapped steps keep their number'
    )
    note: str | None = Field(default=None, max_length=1000)
    dry_run: bool = False


class Published(BaseModel):
    model_config = ConfigDict(frozen=True)

    sequence: str
    version: int
    mode: str
    created: bool  # false when the draft equalled the live version (no version is made for that)


def _row(conn: Connection, account_id: int, key: str, *, for_update: bool = False) -> SequenceRow:
    row = sequence_store.get(conn, account_id, key, for_update=for_update)
    if row is None:
        raise NotFound(f"no sequence {key!r}")
    return row


def _out(key: str, row: SequenceRow, draft: draft_store.DraftRow) -> DraftOut:
    return DraftOut(
        sequence=key,
        based_on=draft.based_on,
        live_version=row.live_version,
        updated_at=iso(from_us(draft.updated_at)),
        who=draft.who,
        definition=draft.definition,
    )


def store_draft(conn: Connection, account_id: int, row: SequenceRow, document: Any, now: datetime) -> None:
    """Validate a definition (422 with every problem) and store it as the draft of `row`."""
    definition = sequences.parse(document)
    problems = check_sequence(row.key, definition, gather(conn, account_id, exclude=row.key))
    if problems:
        raise Unprocessable.of(problems, "the draft is not a valid definition")
    stored = definition.dump()
    stored.pop("status", None)
    who = audit.current_actor()
    draft_store.put(conn, account_id, row.id, stored, based_on=row.live_version, now_us=to_us(now), who=who)


def put_draft(db: Database, account_id: int, key: str, document: Any, now: datetime) -> DraftOut:
    with db.write() as conn:
        row = _row(conn, account_id, key, for_update=True)
        store_draft(conn, account_id, row, document, now)
        draft = draft_store.get(conn, row.id)
    assert draft is not None
    return _out(key, row, draft)


def save_draft(db: Database, account_id: int, key: str, document: Any, now: datetime) -> DraftOut | None:
    """The editors' save (builder, JSON page): store the draft, unless it equals the live version.

    Content equal to the live version leaves no draft (an earlier one is thrown away) and makes no
    version: there is nothing to publish. Returns the draft, or None in that case.
    """
    with db.write() as conn:
        row = _row(conn, account_id, key, for_update=True)
        stored = sequences.parse(document).dump()
        stored.pop("status", None)
        if read_definition(row)[0] is not None and row.definition == stored:
            draft_store.remove(conn, row.id)
            return None
        store_draft(conn, account_id, row, document, now)
        draft = draft_store.get(conn, row.id)
    assert draft is not None
    return _out(key, row, draft)


def get_draft(db: Database, account_id: int, key: str) -> DraftOut:
    with db.read() as conn:
        row = _row(conn, account_id, key)
        draft = draft_store.get(conn, row.id)
    if draft is None:
        raise NotFound(f"sequence {key!r} has no draft")
    return _out(key, row, draft)


def delete_draft(db: Database, account_id: int, key: str) -> None:
    with db.write() as conn:
        row = _row(conn, account_id, key, for_update=True)
        if not draft_store.remove(conn, row.id):
            raise NotFound(f"sequence {key!r} has no draft")


def restore(db: Database, account_id: int, key: str, number: int, now: datetime) -> DraftOut:
    """Copy version `number` into the draft (publish it to make it live again)."""
    with db.write() as conn:
        row = _row(conn, account_id, key, for_update=True)
        found = version_store.one(conn, row.id, number)
        if found is None:
            raise NotFound(f"sequence {key!r} has no version {number}")
        store_draft(conn, account_id, row, found.definition, now)
        draft = draft_store.get(conn, row.id)
    assert draft is not None
    return _out(key, row, draft)


def draft_definition(conn: Connection, row: SequenceRow) -> SequenceDefinition:
    """The sequence's draft as a definition with the sequence's status; 409 `no_draft` without one."""
    draft = draft_store.get(conn, row.id)
    if draft is None:
        raise Conflict(f"sequence {row.key!r} has no draft to publish", code="no_draft")
    return sequences.parse({**draft.definition, "status": row.status})


def publish(db: Database, account_id: int, key: str, body: PublishIn, now: datetime) -> Published | Impact:
    """Make the draft version n+1 (or, with dry_run, say what that would do)."""
    if body.mode == "pin" and body.step_map:
        raise Unprocessable.one("$.step_map", "a step map applies to mode migrate only")
    if body.step_map is not None:
        bad = [k for k, v in body.step_map.items() if v != "stop" and not 1 <= int(v) <= MAX_STEPS]
        if bad:
            raise Unprocessable.one(f"$.step_map.{bad[0]}", f"a step number is 1..{MAX_STEPS}")
    if body.dry_run:
        with db.read() as conn:
            row = _row(conn, account_id, key)
            definition = draft_definition(conn, row)
            info = info_of(conn, account_id, key, definition, row.status)
            pub = versions.Publication.of(definition, body.step_map, body.mode, body.note)
            return impact.preview(conn, account_id, row, info, pub)
    with db.write() as conn:
        row = _row(conn, account_id, key, for_update=True)
        definition = draft_definition(conn, row)
        saved, _ = sequences.save(
            conn, account_id, key, definition, now, step_map=body.step_map, mode=body.mode, note=body.note
        )
        draft_store.remove(conn, row.id)
    versions.finish_migrations(db, account_id, now)  # a large migration moves its runs in short batches
    created = saved.live_version > row.live_version
    return Published(sequence=key, version=saved.live_version, mode=body.mode, created=created)


def preview_definition(
    db: Database, account_id: int, key: str, definition: SequenceDefinition, mode: str
) -> Impact | None:
    """The impact preview of publishing `definition` as `key` (None when there is no such sequence yet)."""
    with db.read() as conn:
        row = sequence_store.get(conn, account_id, key)
        if row is None:
            return None
        status = definition.status or "paused"
        info = info_of(conn, account_id, key, definition, status)
        chosen: versions.PublishMode = "pin" if mode == "pin" else "migrate"
        return impact.preview(conn, account_id, row, info, versions.Publication.of(definition, None, chosen, None))
