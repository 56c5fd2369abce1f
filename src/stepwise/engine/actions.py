"""The actions of a variant (SPEC §3): one function each, run by `run_action` for the processor."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, assert_never

from stepwise.domain import definition as d
from stepwise.domain.instants import iso
from stepwise.domain.jsonvalues import copy_json
from stepwise.domain.paths import changed_paths, get_path, set_path, unset_path
from stepwise.domain.statuses import UNAVAILABLE
from stepwise.engine.matching import template_event
from stepwise.engine.model import EmailCommand, Event, Run, SequenceInfo, UrlCommand
from stepwise.engine.selection import start_refusal

if TYPE_CHECKING:
    from datetime import datetime

    from stepwise.engine.processor import Processor

Summary = dict[str, Any]  # what an action did, as the timeline shows it


@dataclass(slots=True)  # not frozen: built for every event, and a frozen __init__ costs 3-5x
class ActionContext:
    """Where an action runs: the run, its sequence, the fired step and variant (0-based), the trigger."""

    run: Run
    seq: SequenceInfo
    step: int
    variant: int
    event: Event | None
    at: datetime


def run_action(p: Processor, action: d.Action, ctx: ActionContext) -> Summary:
    """Run one action; return its timeline summary."""
    match action:
        case d.Nothing():
            return {"action": "nothing"}
        case d.SendEmail():
            return send_email(p, action, ctx)
        case d.CallUrl():
            return call_url(p, action, ctx)
        case d.ChangeData():
            return {"action": "change_data", "changed": change_data(p, action, ctx.seq.key, ctx.at)}
        case d.AddToList():
            return add_to_list(p, action, ctx)
        case d.RemoveFromList():
            return remove_from_list(p, action, ctx)
        case d.StopSequence():
            return stop_sequence(p, action, ctx)
        case d.StartSequence():
            result = p.start_by_action(action.sequence, ctx.at, ctx.event, ctx.seq.key)
            return {"action": "start_sequence", "sequence": action.sequence, "result": result}
        case d.GoToSequence():
            return go_to_sequence(p, action, ctx)
        case _:
            assert_never(action)


def send_email(p: Processor, action: d.SendEmail, ctx: ActionContext) -> Summary:
    skip = UNAVAILABLE.get(p.sub.status)
    p.out.commands.append(
        EmailCommand(
            sequence=ctx.seq.key,
            pass_no=ctx.run.pass_no,
            step=ctx.step,
            variant=ctx.variant + 1,
            draft=action.draft,
            event=template_event(ctx.event),
            data=p.data_snapshot(),
            at=ctx.at,
            entry=ctx.run.entry or {},
            skip_reason=skip,
        )
    )
    return {"action": "send_email", "draft": action.draft, "result": f"skipped: {skip}" if skip else "queued"}


def call_url(p: Processor, action: d.CallUrl, ctx: ActionContext) -> Summary:
    p.out.commands.append(
        UrlCommand(
            sequence=ctx.seq.key,
            pass_no=ctx.run.pass_no,
            step=ctx.step,
            variant=ctx.variant + 1,
            action=action.dump(),
            event=template_event(ctx.event),
            data=p.data_snapshot(),
            at=ctx.at,
            entry=ctx.run.entry or {},
        )
    )
    return {"action": "call_url", "url": action.url, "result": "queued"}


def add_to_list(p: Processor, action: d.AddToList, ctx: ActionContext) -> Summary:
    key = action.list
    joined = key not in p.sub.lists
    if joined:
        p.sub.lists.add(key)
        p.cascade("list_joined", {"list": key}, ctx.seq.key, ctx.at)
    return {"action": "add_to_list", "list": key, "result": "joined" if joined else "already a member"}


def remove_from_list(p: Processor, action: d.RemoveFromList, ctx: ActionContext) -> Summary:
    key = action.list
    left = key in p.sub.lists
    if left:
        p.sub.lists.discard(key)
        p.cascade("list_left", {"list": key}, ctx.seq.key, ctx.at)
    return {"action": "remove_from_list", "list": key, "result": "left" if left else "not a member"}


def stop_sequence(p: Processor, action: d.StopSequence, ctx: ActionContext) -> Summary:
    key = ctx.seq.key if action.sequence == "current" else action.sequence
    other = p.runs.get(key)
    if other is None:
        return {"action": "stop_sequence", "sequence": key, "result": "not running"}
    p.end(other, "stop_action", ctx.at)
    return {"action": "stop_sequence", "sequence": key, "result": "stopped"}


def go_to_sequence(p: Processor, action: d.GoToSequence, ctx: ActionContext) -> Summary:
    target = action.sequence
    refusal = start_refusal(p.sequences.get(target), target in p.runs, p.passes, leaving=target == ctx.seq.key)
    p.end(ctx.run, "go_to" if refusal is None else "go_to_rejected", ctx.at)
    if refusal is not None:
        p.record(ctx.at, "go_to_rejected", ctx.seq.key, {"target": target, "reason": refusal})
        return {"action": "go_to_sequence", "sequence": target, "result": f"rejected: {refusal}"}
    result = p.start_by_action(target, ctx.at, ctx.event, ctx.seq.key)
    return {"action": "go_to_sequence", "sequence": target, "result": result}


def change_data(p: Processor, action: d.ChangeData, key: str, at: datetime) -> list[str]:
    """Apply set, unset and increment to a copy of the profile; cascade data_changed when it changed."""
    before = p.sub.data
    after = copy_json(before)
    stamp = iso(at)
    for path, value in (action.set or {}).items():
        set_path(after, path, stamp if value == "$now" else copy_json(value))
    for path in action.unset or []:
        unset_path(after, path)
    for path, amount in (action.increment or {}).items():
        total = _sum_of(_number_of(get_path(after, path)), amount)
        if total is not None:
            set_path(after, path, total)
    changed = changed_paths(before, after)
    if changed:
        p.replace_data(after)
        p.cascade("data_changed", {"fields": changed, "data": copy_json(after)}, key, at)
    return changed


INT64 = (-(2**63), 2**63 - 1)


def _sum_of(base: int | float, amount: float) -> int | float | None:
    """base + amount as an integer when both are whole, a float beyond 64 bits, None when not finite."""
    total = base + amount
    if not math.isfinite(total):
        return None  # the value stays as it was: a stored number is always finite
    if isinstance(base, int) and float(amount).is_integer() and float(total).is_integer():
        whole = base + int(amount)
        return whole if INT64[0] <= whole <= INT64[1] else float(whole)
    return total


def _number_of(value: Any) -> int | float:
    """Return the number a value holds for `increment`: numbers, numeric strings (CSV imports store those), else 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return 0
        return number if math.isfinite(number) else 0
    return 0
