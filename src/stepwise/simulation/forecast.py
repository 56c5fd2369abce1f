"""S21: a forecast — sampled real subscribers enter a sequence by S9 and live through assumed behaviour.

Pure: the caller (services/forecast.py) reads the subscribers, sequences and drafts from one snapshot.
Every email sent is opened with probability `open_rate` and clicked with `click_rate` (a click comes
with an open), each within a day of being sent; each custom event of `events` happens to a subscriber
with its `probability`, `after` the start. One seeded random generator drives it all, subscriber by
subscriber in id order, so a seed gives the same answer for the same data.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from stepwise.domain.instants import iso
from stepwise.engine.model import EmailCommand, Outcome, SequenceInfo
from stepwise.simulation.stats import sequence_stats
from stepwise.simulation.world import Life, World

SAMPLE_TIMELINES = 5
REACTION = timedelta(hours=24)  # opens and clicks come within this long of the email


@dataclass(frozen=True)
class Assumptions:
    open_rate: float = 0.0
    click_rate: float = 0.0
    events: dict[str, tuple[float, timedelta]] = field(default_factory=dict)  # name: (probability, after)


@dataclass(frozen=True)
class Sampled:
    """A subscriber read from the snapshot."""

    id: int
    email: str
    status: str
    data: dict[str, Any]
    lists: frozenset[str]


@dataclass(frozen=True)
class Draft:
    subject: str
    links: tuple[str, ...]  # the URLs of the draft's links, for assumed clicks


@dataclass
class _Pending:
    """A subscriber's assumed events, earliest first (ties in the order they were planned)."""

    queue: list[tuple[datetime, int, str, dict[str, Any]]] = field(default_factory=list)
    count: int = 0

    def push(self, at: datetime, kind: str, fields: dict[str, Any]) -> None:
        self.count += 1
        heapq.heappush(self.queue, (at, self.count, kind, fields))


def forecast(
    target: str,
    sequences: Mapping[str, SequenceInfo],
    people: Sequence[Sampled],
    drafts: Mapping[str, Draft],
    assume: Assumptions,
    start: datetime,
    horizon: timedelta,
    seed: int,
) -> dict[str, Any]:
    """Enter everyone at `start`, run to `start + horizon`; the §7 stats, emails per draft and sample timelines."""
    rng = random.Random(seed)
    world = World(sequences, {key: draft.subject for key, draft in drafts.items()})
    end = start + horizon
    shown: list[Life] = []
    for number, person in enumerate(sorted(people, key=lambda p: p.id)):
        life = world.add(person.email, person.status, person.data, set(person.lists), keep=number < SAMPLE_TIMELINES)
        if life.keep:
            shown.append(life)
        _live(world, life, target, drafts, assume, start, end, rng)
    stats = sequence_stats(sequences[target], world.counters)
    return {
        **stats,
        "start": iso(start),
        "until": iso(end),
        "sample": len(people),
        "emails": dict(sorted(world.emails.items())),
        "timelines": [{"email": life.sub.email, "timeline": life.timeline} for life in shown],
    }


def _live(
    world: World,
    life: Life,
    target: str,
    drafts: Mapping[str, Draft],
    assume: Assumptions,
    start: datetime,
    end: datetime,
    rng: random.Random,
) -> None:
    """One subscriber from entry to the end: deadlines and assumed events in time order."""
    pending = _Pending()
    for name, (probability, after) in sorted(assume.events.items()):
        if rng.random() < probability:
            pending.push(start + after, "custom", {"name": name, "data": {}})
    _react(world.start(life, target, start), drafts, assume, rng, pending)
    while True:
        wake = min((run.wake_at for run in life.runs.values() if run.wake_at is not None), default=None)
        upcoming = pending.queue[0][0] if pending.queue else None
        if wake is not None and wake <= end and (upcoming is None or wake < upcoming):
            _react(world.step(life, [], wake), drafts, assume, rng, pending)  # a deadline first
            continue
        if upcoming is None or upcoming > end:
            break
        at, _, kind, fields = heapq.heappop(pending.queue)
        _react(world.happen(life, kind, fields, at), drafts, assume, rng, pending)
    world.step(life, [], end)


def _react(
    out: Outcome, drafts: Mapping[str, Draft], assume: Assumptions, rng: random.Random, pending: _Pending
) -> None:
    """Plan the assumed opens and clicks of the emails this outcome sent."""
    for command in out.commands:
        if not isinstance(command, EmailCommand) or command.skip_reason is not None:
            continue
        clicked = rng.random() < assume.click_rate
        opened = clicked or rng.random() < assume.open_rate
        base = {"draft": command.draft, "sequence": command.sequence, "pass": command.pass_no}
        if opened:
            seen = command.at + REACTION * rng.random()
            pending.push(seen, "email_opened", dict(base))
            if clicked:
                links = drafts[command.draft].links if command.draft in drafts else ()
                url = rng.choice(links) if links else None
                click = seen + (command.at + REACTION - seen) * rng.random()
                pending.push(click, "link_clicked", {**base, "url": url} if url else dict(base))
