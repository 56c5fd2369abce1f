"""Checks of a sequence definition against the account's other objects (S8, S9, §2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from stepwise.domain import definition as d
from stepwise.domain.predicates import problems as predicate_problems
from stepwise.domain.problems import Problem
from stepwise.domain.splits import split_problems


@dataclass(frozen=True)
class References:
    """What a definition may refer to: keys of the account's drafts, lists, forms and sequences."""

    drafts: frozenset[str] = frozenset()
    lists: frozenset[str] = frozenset()
    forms: frozenset[str] = frozenset()
    step_one_variants: Mapping[str, int] = field(default_factory=dict)  # sequence key -> count
    targeted_by: Mapping[str, frozenset[str]] = field(default_factory=dict)  # key -> sequences starting it
    segments: frozenset[str] = frozenset()


def check_sequence(key: str, sequence: d.SequenceDefinition, refs: References) -> list[Problem]:
    """Return every problem of a structurally valid definition; empty when it can be saved."""
    found: list[Problem] = []
    own_step_one = len(sequence.steps[0].variants)
    for s, step in enumerate(sequence.steps):
        found += split_problems(step, s)
        for v, variant in enumerate(step.variants):
            base = f"$.steps[{s}].variants[{v}]"
            for e, spec in enumerate(variant.when):
                found += _check_event(spec, s, f"{base}.when[{e}]", refs)
            ended = False
            for a, action in enumerate(variant.do):
                path = f"{base}.do[{a}]"
                if ended:
                    found.append(Problem(path, "no action may follow stop_sequence of this sequence or go_to_sequence"))
                found += _check_action(action, key, own_step_one, path, refs)
                ended = ended or d.is_terminal(action, key)
    if sequence.goal is not None:
        found += _check_goal(sequence.goal, refs)
    starters = sorted(refs.targeted_by.get(key, frozenset()) - {key})
    if own_step_one > 1 and starters:
        found.append(
            Problem(
                "$.steps[0].variants",
                f"step 1 must have exactly one variant because sequence(s) {', '.join(starters)} start this one",
            )
        )
    return found


def _check_event(spec: d.EventSpec, step: int, path: str, refs: References) -> list[Problem]:
    found: list[Problem] = []
    if step == 0 and spec.event in d.WAIT_EVENTS:
        found.append(Problem(f"{path}.event", f"'{spec.event}' is a wait and cannot be used in step 1"))
    if step > 0 and spec.event in d.STEP_ONE_ONLY:
        found.append(Problem(f"{path}.event", f"'{spec.event}' can only be used in step 1"))
    if step == 0 and getattr(spec, "same", None):
        found.append(Problem(f"{path}.same", "'same' compares with the run's entry event and cannot be used in step 1"))
    match spec:
        case d.LinkClicked(draft=draft) | d.EmailOpened(draft=draft) if draft and draft not in refs.drafts:
            found.append(Problem(f"{path}.draft", f"unknown draft {draft!r}"))
        case d.FormSubmitted(form=form) | d.FormConfirmed(form=form) if form and form not in refs.forms:
            found.append(Problem(f"{path}.form", f"unknown form {form!r}"))
        case d.ListJoined(list=key) | d.ListLeft(list=key) | d.ListMatches(list=key) if key and key not in refs.lists:
            found.append(Problem(f"{path}.list", f"unknown list {key!r}"))
        case d.SegmentJoined(segment=key) | d.SegmentLeft(segment=key) | d.SegmentMatches(segment=key) if (
            key and key not in refs.segments
        ):
            found.append(Problem(f"{path}.segment", f"unknown segment {key!r}"))
        case d.DataChanged(where=where) | d.DataMatches(where=where) if where is not None:
            found += [Problem(f"{path}.where", m) for m in predicate_problems(where, allow_event=False)]
        case d.CustomEvent(where=where) if where is not None:
            found += [Problem(f"{path}.where", m) for m in predicate_problems(where, allow_event=True)]
        case _:
            pass
    return found


NOT_GOALS = frozenset({"subscriber_added", "never"})  # no open run can exist / never happens


def _check_goal(goal: d.Goal, refs: References) -> list[Problem]:
    """Problems of the S24 goal: its events must be able to happen to a subscriber with an open run."""
    found: list[Problem] = []
    for e, spec in enumerate(goal.when):
        path = f"$.goal.when[{e}]"
        if spec.event in NOT_GOALS:
            found.append(Problem(f"{path}.event", f"'{spec.event}' cannot be a goal event"))
        else:
            found += _check_event(spec, 1, path, refs)
    return found


def _check_action(action: d.Action, own: str, own_step_one: int, path: str, refs: References) -> list[Problem]:
    match action:
        case d.SendEmail(draft=draft) if draft not in refs.drafts:
            return [Problem(f"{path}.draft", f"unknown draft {draft!r}")]
        case d.AddToList(list=key) | d.RemoveFromList(list=key) if key not in refs.lists:
            return [Problem(f"{path}.list", f"unknown list {key!r}")]
        case d.StopSequence(sequence=target) if target not in ("current", own) and (
            target not in refs.step_one_variants
        ):
            return [Problem(f"{path}.sequence", f"unknown sequence {target!r}")]
        case d.StartSequence(sequence=target) | d.GoToSequence(sequence=target):
            count = own_step_one if target == own else refs.step_one_variants.get(target)
            if count is None:
                return [Problem(f"{path}.sequence", f"unknown sequence {target!r}")]
            if count != 1:
                return [
                    Problem(
                        f"{path}.sequence",
                        f"sequence {target!r} has {count} variants in step 1; a start target needs exactly one",
                    )
                ]
        case _:
            pass
    return []


def targets(sequence: d.SequenceDefinition) -> frozenset[str]:
    """Return the keys of sequences this one starts or goes to."""
    return frozenset(
        action.sequence
        for step in sequence.steps
        for variant in step.variants
        for action in variant.do
        if isinstance(action, d.StartSequence | d.GoToSequence)
    )


def referenced(sequence: d.SequenceDefinition) -> dict[str, frozenset[str]]:
    """Return the drafts, lists, forms, sequences and segments a definition refers to."""
    drafts: set[str] = set()
    lists: set[str] = set()
    forms: set[str] = set()
    sequences: set[str] = set()
    segments: set[str] = set()
    goal_specs: list[d.EventSpec] = list(sequence.goal.when) if sequence.goal else []
    specs = [spec for step in sequence.steps for variant in step.variants for spec in variant.when]
    for spec in specs + goal_specs:
        match spec:
            case d.LinkClicked(draft=x) | d.EmailOpened(draft=x) if x:
                drafts.add(x)
            case d.FormSubmitted(form=x) | d.FormConfirmed(form=x) if x:
                forms.add(x)
            case d.ListJoined(list=x) | d.ListLeft(list=x) | d.ListMatches(list=x) if x:
                lists.add(x)
            case d.SegmentJoined(segment=x) | d.SegmentLeft(segment=x) | d.SegmentMatches(segment=x) if x:
                segments.add(x)
            case _:
                pass
    for step in sequence.steps:
        for variant in step.variants:
            for action in variant.do:
                match action:
                    case d.SendEmail(draft=x):
                        drafts.add(x)
                    case d.AddToList(list=x) | d.RemoveFromList(list=x):
                        lists.add(x)
                    case d.StartSequence(sequence=x) | d.GoToSequence(sequence=x):
                        sequences.add(x)
                    case d.StopSequence(sequence=x) if x != "current":
                        sequences.add(x)
                    case _:
                        pass
    return {
        "drafts": frozenset(drafts),
        "lists": frozenset(lists),
        "forms": frozenset(forms),
        "sequences": frozenset(sequences),
        "segments": frozenset(segments),
    }
