"""A segment stays while anything may still use it (SPEC S22, S17): the live version, a draft, a pinned version."""

from __future__ import annotations

from typing import Any

import pytest

from stepwise.bootstrap import Stepwise
from stepwise.errors import Conflict
from stepwise.services import publishing, segments, sequences
from stepwise.services.events import PostedEvent, ingest
from stepwise.services.publishing import Published, PublishIn
from stepwise.services.subscribers import Edit, edit_one
from tests.support.clock import FakeClock
from tests.support.drive import settle

NOTHING = [{"action": "nothing"}]
GO = {"variants": [{"when": [{"event": "custom", "name": "go"}], "do": NOTHING}]}
WAIT_PRO = {"variants": [{"when": [{"event": "segment_matches", "segment": "pro", "member": True}], "do": NOTHING}]}


def _refusal(stepwise: Stepwise, account_id: int) -> Any:
    with pytest.raises(Conflict) as refused:
        segments.delete(stepwise.db, account_id, "pro")
    assert refused.value.code == "in_use"
    return refused.value.details["used_by"]


def test_S22_deleting_a_segment_a_pinned_version_with_open_runs_uses_is_refused(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    account_id, _ = account
    segments.put(stepwise.db, account_id, "pro", "Pro", {"field": "custom.plan", "op": "eq", "value": "pro"}, clock())
    sequences.put(
        stepwise.db, account_id, "flow", {"name": "Flow", "status": "active", "steps": [GO, WAIT_PRO]}, clock()
    )
    edit_one(stepwise.db, account_id, "ann@x.com", Edit(), source="api", now=clock(), create=True)
    ingest(stepwise.db, account_id, [PostedEvent(type="custom", name="go", email="ann@x.com")], clock())
    settle(stepwise)  # ann waits on version 1's segment_matches
    assert _refusal(stepwise, account_id) == ["flow"]
    publishing.put_draft(stepwise.db, account_id, "flow", {"name": "Flow", "status": "active", "steps": [GO]}, clock())
    assert _refusal(stepwise, account_id) == ["flow"]  # the live version still uses it
    assert isinstance(publishing.publish(stepwise.db, account_id, "flow", PublishIn(mode="pin"), clock()), Published)
    assert _refusal(stepwise, account_id) == ["flow (version 1, 1 open runs)"]
