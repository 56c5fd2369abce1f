"""S20: run a script of subscribers and events through the real engine on a virtual clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stepwise.domain.instants import iso
from stepwise.engine.model import SequenceInfo
from stepwise.simulation.script import Script
from stepwise.simulation.stats import sequence_stats
from stepwise.simulation.world import World


@dataclass(frozen=True)
class Result:
    """Each subscriber's timeline (oldest first), emails by draft, and every sequence's final §7 stats."""

    start: str
    until: str
    timelines: dict[str, list[dict[str, Any]]]
    emails: dict[str, int]
    stats: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "until": self.until,
            "subscribers": [{"email": email, "timeline": items} for email, items in self.timelines.items()],
            "emails": self.emails,
            "stats": self.stats,
        }


def simulate(sequences: Mapping[str, SequenceInfo], subjects: Mapping[str, str], script: Script) -> Result:
    """Play the script: each event at its virtual time (deadlines due before it fire first), then run to `until`."""
    world = World(sequences, subjects)
    for person in script.subscribers:
        world.add(person.email, person.status, person.data, set(person.lists), at=script.start)
    for happening in script.events:
        if happening.kind == "tick":
            for life in world.lives.values():
                world.step(life, [], happening.at)
            continue
        life = world.lives[str(happening.email).lower()]
        world.happen(life, happening.kind, happening.fields, happening.at)
    for life in world.lives.values():
        world.step(life, [], script.until)
    timelines = {life.sub.email: _ordered(life.timeline) for life in world.lives.values()}
    return Result(
        start=iso(script.start),
        until=iso(script.until),
        timelines=timelines,
        emails=dict(sorted(world.emails.items())),
        stats=[sequence_stats(info, world.counters) for _, info in sorted(sequences.items())],
    )


def _ordered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Oldest first; entries of one moment keep the order the engine produced them in."""
    return sorted(items, key=lambda item: str(item["at"]))
