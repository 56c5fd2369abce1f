"""Subscribers living through virtual time: the real engine applied input by input, nothing stored.

`World` keeps each subscriber's profile, lists, runs and passes in memory, feeds the pure engine
(`engine.processor.process`) one input at a time with the virtual clock, and collects what it decided:
timelines, emails (subjects rendered from the drafts given) and the counters behind the §7 stats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stepwise.delivery.rendering import render_string
from stepwise.domain.instants import iso
from stepwise.domain.jsonvalues import copy_json
from stepwise.domain.paths import changed_paths, set_path
from stepwise.engine.date_entry import entry_payload, has_date_entry, next_entry
from stepwise.engine.model import EmailCommand, Event, Input, Outcome, Run, SequenceInfo, StartRun, Subscriber
from stepwise.engine.processor import process

MAX_DATES = 100  # step-1 dates of one sequence offered per call (a century of birthdays)


@dataclass
class Life:
    """One simulated subscriber."""

    sub: Subscriber
    runs: dict[str, Run] = field(default_factory=dict)
    passes: dict[str, int] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    emails: list[tuple[str, str, int]] = field(default_factory=list)  # (draft, sequence, pass) sent, in order
    keep: bool = True  # keep the timeline
    seen: datetime | None = None  # S26: step-1 dates up to here were offered


class World:
    """The simulation's state; `subjects` maps draft keys to subject templates (None: do not render)."""

    def __init__(
        self,
        sequences: Mapping[str, SequenceInfo],
        subjects: Mapping[str, str] | None = None,
        *,
        keep_timelines: bool = True,
    ) -> None:
        self.sequences = dict(sequences)
        self.subjects = subjects
        self.keep_timelines = keep_timelines
        self.lives: dict[str, Life] = {}
        self.counters: defaultdict[tuple[str, str, int, int], int] = defaultdict(int)
        self.emails: defaultdict[str, int] = defaultdict(int)

    def add(
        self,
        email: str,
        status: str,
        data: dict[str, Any],
        lists: set[str],
        *,
        keep: bool = True,
        at: datetime | None = None,
    ) -> Life:
        """A subscriber who exists from `at` (their step-1 dates after it enter them, S26)."""
        life = Life(Subscriber(len(self.lives) + 1, email, status, copy_json(data), set(lists)), keep=keep, seen=at)
        self.lives[email.lower()] = life
        return life

    # ------------------------------------------------------------ inputs

    def step(self, life: Life, inputs: list[Input], now: datetime) -> Outcome:
        """Run the engine for one subscriber up to `now` and keep what it decided."""
        dated = self._dates(life, now)
        if dated:
            inputs = sorted([*dated, *inputs], key=lambda i: i.at)  # stable: a date before an input of its moment
        out = process(life.sub, life.runs.values(), life.passes, self.sequences, inputs, now)
        life.sub = out.subscriber
        for (key, pass_no), run in out.runs.items():
            life.passes[key] = max(life.passes.get(key, 0), pass_no)
            if run.status in ("active", "paused"):
                run.arrival_no = None  # an ordinal of that call only, as storage does not keep it
                life.runs[key] = run
            elif key in life.runs and life.runs[key].pass_no == pass_no:
                del life.runs[key]
        for counter, delta in out.counters.items():
            self.counters[counter] += delta
        self._keep(life, out)
        return out

    def _dates(self, life: Life, now: datetime) -> list[Input]:
        """S26: the `date_reached` events of step-1 dates due since the last call, as the finder queues them."""
        since, life.seen = life.seen, now
        if since is None:
            return []
        found: list[Input] = []
        for info in self.sequences.values():
            if info.status != "active" or not has_date_entry(info):
                continue
            after = since
            for _ in range(MAX_DATES):
                due = next_entry(info, life.sub.data, after)
                if due is None or due[0] > now:
                    break
                found.append(Event("date_reached", entry_payload(info, due, life.sub.data), "simulation", due[0]))
                after = due[0]
        return found

    def start(self, life: Life, sequence: str, at: datetime) -> Outcome:
        """S9: enter `sequence` bypassing its step-1 event."""
        return self.step(life, [StartRun(sequence=sequence, at=at, source="simulation")], at)

    def happen(self, life: Life, kind: str, fields: dict[str, Any], at: datetime) -> Outcome:
        """An outside edge event: change the subscriber as it implies, then offer it to the engine."""
        payload = self._apply(life, kind, fields, at)
        if payload is None:
            return self.step(life, [], at)  # a write that changes nothing is no event
        return self.step(life, [Event(kind=kind, payload=payload, source="simulation", at=at)], at)

    def _apply(self, life: Life, kind: str, fields: dict[str, Any], at: datetime) -> dict[str, Any] | None:
        sub = life.sub
        payload = dict(fields)
        if kind == "subscriber_added":
            payload.setdefault("confirmed", sub.status != "unconfirmed")
        elif kind == "subscription_confirmed":
            sub.status = "active"
            payload.setdefault("method", "link")
        elif kind == "unsubscribed":
            sub.status = "unsubscribed"
        elif kind in ("list_joined", "list_left"):
            key = str(fields["list"])
            if (key in sub.lists) == (kind == "list_joined"):
                return None  # membership unchanged: no event
            (sub.lists.add if kind == "list_joined" else sub.lists.discard)(key)
        elif kind == "data_changed":
            after = copy_json(sub.data)
            for path, value in fields["set"].items():
                set_path(after, str(path), copy_json(value))
            changed = changed_paths(sub.data, after)
            if not changed:
                return None
            sub.data = after
            payload = {"fields": changed, "data": copy_json(after)}
        elif kind == "custom":
            payload = {"name": fields["name"], "data": fields.get("data") or {}}
        elif kind in ("link_clicked", "email_opened"):
            payload = self._tracked(life, payload)
        return payload

    def _tracked(self, life: Life, payload: dict[str, Any]) -> dict[str, Any]:
        """A click or open belongs to an email sent: the latest one (of `draft`, when named)."""
        draft = payload.get("draft")
        sent = [e for e in life.emails if draft is None or e[0] == draft]
        if sent and "sequence" not in payload:
            last = sent[-1]
            payload = {"draft": last[0], **payload, "sequence": last[1], "pass": last[2]}
        return payload

    # ------------------------------------------------------------ what the engine decided

    def _keep(self, life: Life, out: Outcome) -> None:
        for command in out.commands:
            if isinstance(command, EmailCommand) and command.skip_reason is None:
                self.emails[command.draft] += 1
                life.emails.append((command.draft, command.sequence, command.pass_no))
        if not (self.keep_timelines and life.keep):
            return
        for entry in out.timeline:
            item: dict[str, Any] = {"at": iso(entry.at), "kind": entry.kind}
            if entry.sequence is not None:
                item["sequence"] = entry.sequence
            item.update(entry.detail)
            life.timeline.append(item)
        for command in out.commands:
            life.timeline.append(self._command_entry(life, command))

    def _command_entry(self, life: Life, command: Any) -> dict[str, Any]:
        base = {"at": iso(command.at), "sequence": command.sequence, "pass": command.pass_no, "step": command.step}
        if not isinstance(command, EmailCommand):
            return {**base, "kind": "call_url", "url": command.action.get("url")}
        entry: dict[str, Any] = {**base, "kind": "email", "draft": command.draft}
        if command.skip_reason is not None:
            entry["skipped"] = command.skip_reason
        subject = (self.subjects or {}).get(command.draft)
        if subject is not None:
            entry["subject"] = _subject(subject, life.sub.email, command)
        return entry


def _subject(source: str, email: str, command: EmailCommand) -> str:
    context = {
        "email": email,
        "data": command.data,
        "sequence": command.sequence,
        "event": command.event,
        "entry": command.entry,  # S25
        "now": command.at,
    }
    try:
        return " ".join(render_string(source, context, html=False).split())
    except Exception as exc:  # a template that fails for this subscriber is shown, as the archive would skip it
        return f"(cannot render: {exc})"
