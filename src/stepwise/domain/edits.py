"""Subscriber edits and the events they imply (SPEC §5): the one place that decides both."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from stepwise.domain.events import Happened
from stepwise.domain.paths import changed_since, merge, split_path, without
from stepwise.domain.statuses import SubscriberStatus


@dataclass
class Edit:
    """A change to one subscriber. None means "leave as it is"."""

    data: dict[str, Any] | None = None  # merged into the profile (null removes a field)
    unset: list[str] = field(default_factory=list)
    lists_add: list[str] = field(default_factory=list)
    lists_remove: list[str] = field(default_factory=list)
    status: SubscriberStatus | None = None  # input from a UI form is checked (check_edit) before planning
    replace_data: bool = False

    @property
    def lists(self) -> list[str]:
        """The list keys the edit names, sorted."""
        return sorted({*self.lists_add, *self.lists_remove})


@dataclass(frozen=True, slots=True)
class SubscriberState:
    """What an edit may change about a subscriber. Treat `data` as read-only: plans share its branches."""

    status: SubscriberStatus
    data: dict[str, Any]
    lists: frozenset[str]


@dataclass(frozen=True, slots=True)
class EditPlan:
    """The subscriber after an edit, the events the edit implies in order, and what changed."""

    state: SubscriberState
    events: tuple[Happened, ...]
    created: bool
    changed: Sequence[str] = ()  # data paths
    joined: Sequence[str] = ()
    left: Sequence[str] = ()
    status_changed: bool = False

    @property
    def touched(self) -> bool:
        """Tell whether the edit changed anything stored."""
        return changed_anything(self)


class Changes(Protocol):
    """What an edit changed (a plan, or one outcome of a batch)."""

    @property
    def created(self) -> bool: ...
    @property
    def changed(self) -> Sequence[str]: ...
    @property
    def joined(self) -> Sequence[str]: ...
    @property
    def left(self) -> Sequence[str]: ...
    @property
    def status_changed(self) -> bool: ...


def changed_anything(changes: Changes) -> bool:
    """Tell whether an edit changed anything stored."""
    return changes.created or bool(changes.changed or changes.joined or changes.left) or changes.status_changed


NO_LISTS: frozenset[str] = frozenset()


def plan_edit(state: SubscriberState | None, edit: Edit, *, fresh_data: bool = False) -> EditPlan:
    """Apply a checked edit to a subscriber (None: create one) and list the §5 events it implies.

    Order of events: `subscriber_added` or `data_changed`, then `list_joined`/`list_left` by list key,
    then `subscription_confirmed` (unconfirmed → active by hand) and `unsubscribed`. `fresh_data` says
    the edit's data was built for this call (no nulls, no empty objects, shared with nobody), so a new
    subscriber can take it as it is.
    """
    if state is None:
        return _plan_new(edit, fresh_data)
    events: list[Happened] = []
    data = _edited_data(state.data, edit)
    changed = changed_since(state.data, data)
    if changed:
        events.append(Happened("data_changed", {"fields": changed, "data": data}))
    status = edit.status or state.status
    joined, left, lists = _moves(state.lists, edit)
    events += _list_events(joined, left)
    if status != state.status:
        if state.status == "unconfirmed" and status == "active":
            events.append(Happened("subscription_confirmed", {"method": "manual"}))
        if status == "unsubscribed":
            events.append(Happened("unsubscribed", {}))
    status_changed = status != state.status
    new_state = SubscriberState(status, data if changed or status_changed else state.data, lists)
    return EditPlan(new_state, tuple(events), False, changed, joined, left, status_changed)


def _plan_new(edit: Edit, fresh_data: bool) -> EditPlan:
    data = edit.data if fresh_data and edit.data is not None else merge({}, edit.data or {})
    for path in edit.unset:
        data = without(data, split_path(path))
    status = edit.status or "active"
    joined, left, lists = _moves(NO_LISTS, edit)
    events = [Happened("subscriber_added", {"confirmed": status != "unconfirmed"}), *_list_events(joined, left)]
    return EditPlan(SubscriberState(status, data, lists), tuple(events), True, (), joined, left)


def _edited_data(before: dict[str, Any], edit: Edit) -> dict[str, Any]:
    after = copy.deepcopy(edit.data or {}) if edit.replace_data else merge(before, edit.data or {})
    for path in edit.unset:
        after = without(after, split_path(path))
    return after


def _moves(lists: frozenset[str], edit: Edit) -> tuple[list[str], list[str], frozenset[str]]:
    """Return the lists joined and left (each sorted) and the memberships after the edit."""
    if not (edit.lists_add or edit.lists_remove):
        return [], [], lists
    joined = [k for k in sorted(set(edit.lists_add)) if k not in lists]
    left = [k for k in sorted(set(edit.lists_remove) - set(edit.lists_add)) if k in lists]
    return joined, left, (lists | set(joined)) - set(left)


def _list_events(joined: list[str], left: list[str]) -> list[Happened]:
    return [Happened("list_joined", {"list": k}) for k in joined] + [Happened("list_left", {"list": k}) for k in left]
