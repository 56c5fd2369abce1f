"""`stepwise apply` / `validate` know segments (SPEC §10, §15): checked with paths, created, unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepwise.bootstrap import Stepwise
from stepwise.cli.applying import apply_bundle
from stepwise.cli.definitions import load, validate
from stepwise.errors import Unprocessable
from stepwise.services import segments
from stepwise.services.subscribers import Edit, edit_one

GOOD = """
lists:
  vip: VIP
segments:
  vip-paris:
    name: VIP in Paris
    where:
      all:
        - {field: subscriber.lists, op: contains, value: vip}
        - {field: base.city, op: eq, value: Paris}
"""


def test_S22_apply_creates_then_leaves_a_segment_unchanged(
    stepwise: Stepwise, account: tuple[int, str], tmp_path: Path
) -> None:
    account_id = account[0]
    path = tmp_path / "defs.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert apply_bundle(stepwise, account_id, load([path])) == ["created   list vip", "created   segment vip-paris"]
    edit = Edit(data={"base": {"city": "Paris"}}, lists_add=["vip"])
    edit_one(stepwise.db, account_id, "ann@x.com", edit, source="api", now=stepwise.clock(), create=True)
    assert segments.get(stepwise.db, account_id, "vip-paris").count == 1
    lines = apply_bundle(stepwise, account_id, load([path]))
    assert lines == ["unchanged list vip", "unchanged segment vip-paris"]


def test_S22_validate_reports_bad_segments_with_paths(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "segments:\n  a: {name: A, where: {field: subscriber.shoe, op: eq, value: 1}, extra: 1}\n"
        "  b: {where: {field: x, op: exists}}\n  c: {name: C}\n",
        encoding="utf-8",
    )
    problems = validate(load([path]))
    assert any("segments.a.extra" in p for p in problems), problems
    assert any("segments.a.where" in p and "a segment knows" in p for p in problems), problems
    assert any("segments.b.name" in p for p in problems), problems
    assert any("segments.c.where" in p for p in problems), problems


def test_S22_apply_refuses_a_bad_segment_and_changes_nothing(
    stepwise: Stepwise, account: tuple[int, str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("segments:\n  a: {name: A, where: {field: subscriber.lists, op: gt, value: x}}\n", encoding="utf-8")
    with pytest.raises(Unprocessable):
        apply_bundle(stepwise, account[0], load([path]))
    assert segments.all_segments(stepwise.db, account[0]) == []


WITH_SEQUENCE = """
segments:
  pro: {name: Pro, where: {field: custom.plan, op: eq, value: pro}}
sequences:
  pro-welcome:
    name: Pro welcome
    status: active
    steps:
      - variants:
          - when: [{event: segment_joined, segment: SEGMENT}]
            do: [{action: nothing}]
"""


def test_S22_apply_takes_a_segment_and_the_sequence_using_it_in_one_file(
    stepwise: Stepwise, account: tuple[int, str], tmp_path: Path
) -> None:
    path = tmp_path / "defs.yaml"
    path.write_text(WITH_SEQUENCE.replace("SEGMENT", "pro"), encoding="utf-8")
    lines = apply_bundle(stepwise, account[0], load([path]))
    assert lines[0] == "created   segment pro" and any("pro-welcome" in line for line in lines), lines


def test_S22_apply_refuses_a_sequence_naming_an_unknown_segment_at_its_path(
    stepwise: Stepwise, account: tuple[int, str], tmp_path: Path
) -> None:
    path = tmp_path / "defs.yaml"
    path.write_text(WITH_SEQUENCE.replace("SEGMENT", "nope"), encoding="utf-8")
    with pytest.raises(Unprocessable) as refused:
        apply_bundle(stepwise, account[0], load([path]))
    problems = refused.value.details
    assert any("sequences.pro-welcome.steps[0].variants[0].when[0].segment" in p for p in problems), problems
    assert any("unknown segment 'nope'" in p for p in problems), problems
    assert segments.all_segments(stepwise.db, account[0]) == []
