"""Sequence definitions: save with full validation, activate, pause, delete, statistics (§4, §7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Connection

from stepwise.domain.definition import SequenceDefinition
from stepwise.domain.instants import iso
from stepwise.domain.problems import Problem, from_validation_error
from stepwise.domain.rates import conversion_rate
from stepwise.domain.statuses import END_REASONS, SequenceStatus
from stepwise.domain.validation import References, check_sequence, referenced
from stepwise.engine.deadlines import has_state_waits
from stepwise.engine.model import SequenceInfo
from stepwise.errors import Conflict, NotFound, Unprocessable
from stepwise.services import audit, date_triggers, versions
from stepwise.services import settings as account_settings
from stepwise.services.audit import current_actor
from stepwise.services.catalog import info_of, read_definition
from stepwise.services.references import gather, users_of
from stepwise.services.versions import PublishMode, StepMap
from stepwise.storage import counters as counter_store
from stepwise.storage import drafts as draft_store
from stepwise.storage import quarantine as quarantine_store
from stepwise.storage import runs as run_store
from stepwise.storage import sequences as sequence_store
from stepwise.storage import versions as version_store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.sequences import SequenceRow


def parse(document: Any) -> SequenceDefinition:
    """Validate a definition's shape; raise 422 with a JSON path per problem."""
    try:
        return SequenceDefinition.model_validate(document)
    except ValidationError as exc:
        raise Unprocessable.of(from_validation_error(exc, document), "the sequence definition is invalid") from exc


# A sequence as the API and the UI show it.
class Sequence(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    name: str
    status: SequenceStatus
    version: int
    definition: dict[str, Any]
    created_at: str
    updated_at: str
    # Set when the stored definition cannot be read: the worker treats the sequence as paused until a valid
    # definition is saved (or it is deleted).
    broken: str | None = None


# A page of sequences and the cursor of the next one.
class SequencesOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    next_cursor: str | None = None
    items: list[Sequence]


class VariantStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    variant: int
    fired: int
    converted: int = 0  # S24: conversions whose last fired variant was this one
    conversion_rate: float | None = None  # converted ÷ fired; None when it never fired
    # Emails of the variant (S23: a split's variants side by side), since the last stats reset; the
    # rates are unique opens and clicks ÷ sent, None when none was sent (services/journey_stats.py).
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    open_rate: float | None = None
    click_rate: float | None = None


class StepStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    step: int
    on_step: int
    variants: list[VariantStats]
    converted: int = 0  # S24: conversions of runs waiting at this step


class VersionStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int
    entered: int  # runs following this version (a migrated run counts on the version it moved to)
    on_steps: int
    completed: int


# SPEC §7's statistics of one sequence.
class SequenceStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    sequence: str
    status: SequenceStatus
    entered: int
    subscribers: int
    on_steps: int
    completed: int
    stopped: int
    stopped_by: dict[str, int]
    steps: list[StepStats]
    converted: int = 0  # S24
    conversion_rate: float | None = None  # S24: converted / entered; None when none entered
    # S16: per version, counted from the runs (services/version_stats.py); `version` when the stats are of one.
    versions: list[VersionStats] = []
    version: int | None = None
    # S19: when the history counters were last reset (services/stats_reset.py); null until then.
    reset_at: str | None = None


def view(row: SequenceRow) -> Sequence:
    """The sequence as the API shows it; `broken` (with the reason) when its stored definition cannot be read."""
    _, problem = read_definition(row)
    return Sequence(
        key=row.key,
        name=row.name,
        status=row.status,
        version=row.live_version,
        definition=row.definition,
        created_at=iso(from_us(row.created_at)),
        updated_at=iso(from_us(row.updated_at)),
        broken=problem,
    )


def _stored(row: SequenceRow) -> SequenceDefinition:
    """The stored definition; 422 when it cannot be read (save a valid one, or delete the sequence)."""
    definition, problem = read_definition(row)
    if definition is None:
        raise Unprocessable.of(
            [Problem("$", problem or "unreadable")],
            f"the stored definition of {row.key!r} cannot be read; save a valid definition or delete the sequence",
        )
    return definition


def activation_problems(conn: Connection, account_id: int, definition: SequenceDefinition) -> list[Problem]:
    """An active sequence may only use drafts that have a subject and a sender (theirs or the account's)."""
    found = []
    drafts = draft_store.many(conn, account_id, referenced(definition)["drafts"])
    default_sender = account_settings.read(conn, account_id).default_from_email
    for key in sorted(referenced(definition)["drafts"]):
        draft = drafts.get(key)
        if draft is None:
            continue
        if not draft.subject.strip():
            found.append(Problem("$.steps", f"draft {key!r} has no subject"))
        if not draft.from_email and not default_sender:
            found.append(Problem("$.steps", f"draft {key!r} has no sender (from_email, or the account's default)"))
    return found


def put(
    db: Database, account_id: int, key: str, document: Any, now: datetime, step_map: StepMap | None = None
) -> tuple[Sequence, bool]:
    """Create or replace a definition; 422 lists every problem, 409 if runs wait on removed, unmapped steps."""
    definition = parse(document)
    with db.write() as conn:
        current = sequence_store.get(conn, account_id, key, for_update=True)
        if current is not None and _unchanged(current, definition):
            return view(current), False  # the same definition and status: no write, no new version
        row, created = save(conn, account_id, key, definition, now, step_map=step_map)
    versions.finish_migrations(db, account_id, now)  # a large migration moves its runs in short batches
    return view(row), created


def _unchanged(row: SequenceRow, definition: SequenceDefinition) -> bool:
    """Whether a readable stored definition and status equal the ones being saved."""
    stored = definition.dump()
    stored.pop("status", None)
    return (
        read_definition(row)[0] is not None
        and row.status == (definition.status or "paused")
        and row.name == definition.name
        and row.definition == stored
    )


def save(
    conn: Connection,
    account_id: int,
    key: str,
    definition: SequenceDefinition,
    now: datetime,
    refs: References | None = None,
    step_map: StepMap | None = None,
    mode: PublishMode = "migrate",
    note: str | None = None,
) -> tuple[SequenceRow, bool]:
    """Validate against the account (or the given references) and store, inside the caller's transaction."""
    status = definition.status or "paused"
    stored = definition.dump()
    stored.pop("status", None)
    problems = check_sequence(key, definition, refs or gather(conn, account_id, exclude=key))
    if status == "active":
        problems += activation_problems(conn, account_id, definition)
    if problems:
        raise Unprocessable.of(problems, "the sequence definition is invalid")
    existing = sequence_store.get(conn, account_id, key, for_update=True)
    now_us = to_us(now)
    before = _audited(existing)
    if existing is None:
        seq_id = sequence_store.insert_one(conn, account_id, key, definition.name, status, stored, now_us)
        name, who = definition.name, current_actor()
        version_store.add(conn, account_id, seq_id, 1, name, stored, now_us=now_us, who=who, note=None, mode="migrate")
        created = True
    else:
        _update(conn, account_id, existing, definition, versions.Publication.of(definition, step_map, mode, note), now)
        created = False
    quarantine_store.forget(conn, account_id, "sequence", key)  # readable now: no longer set aside
    row = sequence_store.get(conn, account_id, key)
    assert row is not None
    if existing is None or row.version != existing.version:  # S26: step-1 dates follow the live version
        date_triggers.sync(conn, row, now)
    audit.record(conn, account_id, "sequence", key, "create" if created else "update", before, _audited(row))
    return row, created


def _audited(row: SequenceRow | None) -> dict[str, Any] | None:
    """What the audit log keeps of a sequence: name, status and definition."""
    if row is None:
        return None
    return {"name": row.name, "status": row.status, "definition": row.definition}


def _update(
    conn: Connection,
    account_id: int,
    existing: SequenceRow,
    definition: SequenceDefinition,
    publication: versions.Publication,
    now: datetime,
) -> None:
    """Replace a sequence: publish a new version when the content changed (S16), then apply the status."""
    status = definition.status or "paused"
    stored = publication.stored
    info = info_of(conn, account_id, existing.key, definition, status)
    readable = read_definition(existing)[0] is not None
    if not (readable and existing.name == definition.name and existing.definition == stored):
        versions.publish(conn, account_id, existing, info, publication, now)
        sequence_store.replace(conn, existing.id, definition.name, status, stored, to_us(now))
    elif existing.status != status:
        sequence_store.set_status(conn, existing.id, status, to_us(now))
    if existing.status != status:
        _apply_status(conn, account_id, existing.id, info, status, now)


def _apply_status(
    conn: Connection, account_id: int, seq_id: int, info: SequenceInfo, status: str, now: datetime
) -> None:
    if status == "paused":
        run_store.hold_sequence(conn, account_id, seq_id)
    else:
        steps = [n for n in range(2, info.steps + 1) if has_state_waits(info, n)]
        run_store.release_sequence(conn, account_id, seq_id, to_us(now), steps)


def set_status(db: Database, account_id: int, key: str, status: SequenceStatus, now: datetime) -> Sequence:
    """Activate (after checking drafts) or pause a sequence (S11)."""
    with db.write() as conn:
        row = sequence_store.get(conn, account_id, key, for_update=True)
        if row is None:
            raise NotFound(f"no sequence {key!r}")
        # An unreadable definition can be paused (the worker already treats it as paused), not activated.
        definition = _stored(row) if status == "active" else read_definition(row)[0]
        if status == "active" and definition is not None:
            problems = activation_problems(conn, account_id, definition)
            if problems:
                raise Unprocessable.of(problems, "the sequence cannot be activated")
        if row.status != status:
            action = "publish" if status == "active" else "pause"
            audit.record(conn, account_id, "sequence", key, action, {"status": row.status}, {"status": status})
            sequence_store.set_status(conn, row.id, status, to_us(now))
            if definition is None:
                run_store.hold_sequence(conn, account_id, row.id)
            else:
                _apply_status(conn, account_id, row.id, info_of(conn, account_id, key, definition, status), status, now)
        fresh = sequence_store.get(conn, account_id, key)
        if fresh is not None and fresh.status != row.status:
            date_triggers.sync(conn, fresh, now)
    assert fresh is not None
    return view(fresh)


def get(db: Database, account_id: int, key: str) -> Sequence:
    with db.read() as conn:
        row = sequence_store.get(conn, account_id, key)
    if row is None:
        raise NotFound(f"no sequence {key!r}")
    return view(row)


def all_sequences(db: Database, account_id: int) -> list[Sequence]:
    with db.read() as conn:
        return [view(row) for row in sequence_store.all_sequences(conn, account_id)]


def delete(db: Database, account_id: int, key: str) -> None:
    with db.write() as conn:
        row = sequence_store.get(conn, account_id, key, for_update=True)
        if row is None:
            raise NotFound(f"no sequence {key!r}")
        users = users_of(conn, account_id, "sequences", key)
        if users:
            raise Conflict(f"sequence {key!r} is used by {', '.join(users)}", code="in_use", details={"used_by": users})
        sequence_store.delete_sequence(conn, account_id, row.id)
        audit.record(conn, account_id, "sequence", key, "delete", _audited(row), None)
        quarantine_store.forget(conn, account_id, "sequence", key)


def stats(db: Database, account_id: int, key: str) -> SequenceStats:
    """SPEC §7, read from the counters the engine writes with every transition (S15)."""
    with db.read() as conn:
        row = sequence_store.get(conn, account_id, key)
        if row is None:
            raise NotFound(f"no sequence {key!r}")
        counts = counter_store.read(conn, account_id, row.id)
    definition, _ = read_definition(row)

    def total(metric: str) -> int:
        return counts.get((metric, 0, 0), 0)

    stopped_by = {reason: total(f"stopped:{reason}") for reason in END_REASONS}
    steps = [
        StepStats(
            step=number,
            on_step=counts.get(("on_step", number, 0), 0),
            variants=[
                VariantStats(
                    variant=v,
                    fired=counts.get(("fired", number, v), 0),
                    converted=counts.get(("converted", number, v), 0),
                )
                for v in range(1, len(step.variants) + 1)
            ],
            converted=counts.get(("converted", number, 0), 0),
        )
        for number, step in enumerate(definition.steps if definition else [], start=1)
    ]
    on_steps = sum(value for (metric, _, _), value in counts.items() if metric == "on_step")
    return SequenceStats(
        sequence=key,
        status=row.status,
        entered=total("entered"),
        subscribers=total("subscribers"),
        on_steps=on_steps,
        completed=total("completed"),
        stopped=sum(stopped_by.values()),
        stopped_by=stopped_by,
        steps=steps,
        converted=total("converted"),
        conversion_rate=conversion_rate(total("converted"), total("entered")),
        reset_at=iso(from_us(counts[(counter_store.RESET_AT, 0, 0)]))
        if (counter_store.RESET_AT, 0, 0) in counts
        else None,
    )


def stored_steps(db: Database, account_id: int, key: str) -> list[Any]:
    """The steps of a sequence's stored definition as written (empty when there is no such sequence)."""
    with db.read() as conn:
        row = sequence_store.get(conn, account_id, key)
    steps: list[Any] = (row.definition if row is not None else {}).get("steps") or []
    return steps


def stored_as(conn: Connection, account_id: int, key: str, definition: SequenceDefinition) -> bool:
    """Whether the stored definition and status equal the given ones (what `stepwise apply` leaves alone)."""
    old = sequence_store.get(conn, account_id, key)
    stored = definition.dump()
    status = stored.pop("status", None) or "paused"
    return old is not None and old.definition == stored and old.status == status
