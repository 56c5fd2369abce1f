"""S21: forecast a sequence on real data — a seeded sample, assumed behaviour, a virtual clock; writes nothing."""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt
from sqlalchemy import Connection

from stepwise.domain.definition import SequenceDefinition
from stepwise.domain.durations import parse_duration
from stepwise.domain.predicates import Predicate, evaluate
from stepwise.domain.predicates import problems as predicate_problems
from stepwise.domain.problems import Problem
from stepwise.domain.spec_types import Duration
from stepwise.domain.validation import referenced
from stepwise.engine.model import SequenceInfo
from stepwise.errors import Conflict, NotFound, Unprocessable
from stepwise.services import publishing
from stepwise.services.catalog import read_definition
from stepwise.services.sequences import SequenceStats, parse
from stepwise.simulation.forecast import Assumptions, Draft, Sampled, forecast
from stepwise.storage import accounts as account_store
from stepwise.storage import drafts as draft_store
from stepwise.storage import sampling
from stepwise.storage import sequences as sequence_store
from stepwise.storage import versions as version_store
from stepwise.storage.database import Database
from stepwise.storage.sequences import SequenceRow
from stepwise.storage.subscribers import list_keys

MAX_SAMPLE = 10_000
MAX_HORIZON_DAYS = 366
CHUNK = 1000
_HREF = re.compile(r"""href\s*=\s*["'](https?://[^"'\s]+)["']""", re.IGNORECASE)


class AssumedEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probability: StrictFloat = Field(ge=0, le=1)
    after: Duration | None = None  # None: at the start


class Assume(BaseModel):
    model_config = ConfigDict(extra="forbid")

    open_rate: StrictFloat = Field(default=0.0, ge=0, le=1)
    click_rate: StrictFloat = Field(default=0.0, ge=0, le=1)
    events: dict[str, AssumedEvent] = Field(default_factory=dict, max_length=50)


class ForecastRequest(BaseModel):
    """`POST /sequences/{key}/simulate`: which definition, whom, how long, and what to assume."""

    model_config = ConfigDict(extra="forbid")

    version: Literal["draft", "live"] | StrictInt = "live"  # strict: JSON true is not version 1
    sample: StrictInt = Field(default=1000, ge=1, le=MAX_SAMPLE)
    where: Predicate | None = None
    horizon: Duration = "30d"
    assume: Assume = Field(default_factory=Assume)
    seed: StrictInt | None = Field(default=None, ge=0, le=2**63 - 1)


def definition_for(conn: Connection, account_id: int, row: SequenceRow, version: str | int) -> SequenceDefinition:
    """The definition to forecast: the live one, the sequence's draft, or a numbered version (S16)."""
    if version == "draft":
        return publishing.draft_definition(conn, row)
    if version == "live":
        definition, problem = read_definition(row)
        if definition is None:
            raise Conflict(f"sequence {row.key!r} cannot be read: {problem}", code="broken")
        return definition
    found = version_store.one(conn, row.id, int(version))
    if found is None:
        raise NotFound(f"sequence {row.key!r} has no version {version}")
    return parse({**found.definition, "status": row.status})


def definition_of(db: Database, account_id: int, key: str, version: str | int) -> SequenceDefinition:
    """The definition a forecast of `version` runs, for drawing its steps beside the predicted counts."""
    with db.read() as conn:
        row = sequence_store.get(conn, account_id, key)
        if row is None:
            raise NotFound(f"no sequence {key!r}")
        return definition_for(conn, account_id, row, version)


def simulate(db: Database, account_id: int, key: str, body: ForecastRequest, now: datetime) -> ForecastOut:
    """Read one snapshot, sample, and run the forecast in memory. Writes nothing, sends nothing."""
    problems = [Problem("$.where", m) for m in predicate_problems(body.where, allow_event=False)] if body.where else []
    horizon = parse_duration(body.horizon)
    if horizon.days > MAX_HORIZON_DAYS:
        problems.append(Problem("$.horizon", f"at most {MAX_HORIZON_DAYS} days"))
    if problems:
        raise Unprocessable.of(problems)
    seed = body.seed if body.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    with db.read() as conn:
        sampling.snapshot(conn)
        row = sequence_store.get(conn, account_id, key)
        if row is None:
            raise NotFound(f"no sequence {key!r}")
        chosen = definition_for(conn, account_id, row, body.version)
        sequences = _sequences(conn, account_id, row, chosen)
        people = _sample(conn, account_id, body, now, rng)
        drafts = {
            d.key: Draft(d.subject, tuple(_HREF.findall(d.html)))
            for d in draft_store.many(conn, account_id, _draft_keys(sequences)).values()
        }
    assume = Assumptions(
        open_rate=body.assume.open_rate,
        click_rate=body.assume.click_rate,
        events={
            name: (e.probability, parse_duration(e.after) if e.after else timedelta(0))
            for name, e in body.assume.events.items()
        },
    )
    result = forecast(key, sequences, people, drafts, assume, now, horizon, rng.randrange(2**31))
    return ForecastOut.model_validate({"version": body.version, "seed": seed, **result})


def _sequences(
    conn: Connection, account_id: int, row: SequenceRow, chosen: SequenceDefinition
) -> dict[str, SequenceInfo]:
    """Every readable sequence of the account as it is, the simulated one with the chosen definition (active)."""
    account = account_store.by_id(conn, account_id)
    zone = account.timezone if account else "UTC"
    found: dict[str, SequenceInfo] = {}
    for other in sequence_store.all_sequences(conn, account_id):
        definition = chosen if other.id == row.id else read_definition(other)[0]
        if definition is None:
            continue
        live = other.id == row.id or other.status == "active"
        status: Literal["active", "paused"] = "active" if live else "paused"
        found[other.key] = SequenceInfo(
            other.key, status, definition, definition.timezone or zone, account_id=account_id
        )
    return found


def _draft_keys(sequences: dict[str, SequenceInfo]) -> list[str]:
    return sorted({k for info in sequences.values() for k in referenced(info.definition)["drafts"]})


def _sample(
    conn: Connection, account_id: int, body: ForecastRequest, now: datetime, rng: random.Random
) -> list[Sampled]:
    """A seeded random sample of the account's subscribers (of those matching `where`, when given)."""
    ids = sampling.subscriber_ids(conn, account_id)
    if body.where is not None:
        matching: list[int] = []
        for start in range(0, len(ids), CHUNK):
            rows = sampling.rows(conn, account_id, ids[start : start + CHUNK])
            matching += [r.id for r in rows if evaluate(body.where, r.data, now)]
        ids = matching
    chosen = sorted(rng.sample(ids, min(body.sample, len(ids))))
    people: list[Sampled] = []
    for start in range(0, len(chosen), CHUNK):
        part = chosen[start : start + CHUNK]
        lists = list_keys(conn, account_id, part)
        people += [
            Sampled(r.id, r.email, r.status, r.data, frozenset(lists.get(r.id, ())))
            for r in sampling.rows(conn, account_id, part)
        ]
    return people


class SampleTimeline(BaseModel):
    email: str
    timeline: list[dict[str, Any]]


class ForecastOut(SequenceStats):
    """The §7 statistics shape after the horizon, with emails per draft and five sample timelines."""

    # Which definition was forecast: "live", "draft" or a version number (the stats' `version` widened).
    version: Literal["draft", "live"] | int  # type: ignore[assignment]
    seed: int
    start: str
    until: str
    sample: int
    emails: dict[str, int]
    timelines: list[SampleTimeline]
