"""The version history's two-column diff (web/versions.py): lines paired side by side, changes marked."""

from __future__ import annotations

from stepwise.web.versions import diff_rows, pretty_lines


def test_s18_diff_pairs_equal_lines_and_marks_replaced_deleted_and_inserted_ones() -> None:
    rows = diff_rows(["a", "b", "c", "d"], ["a", "B", "d", "e"])
    assert [(r.left_no, r.left, r.right_no, r.right, r.kind) for r in rows] == [
        (1, "a", 1, "a", "equal"),
        (2, "b", 2, "B", "replace"),
        (3, "c", None, "", "delete"),
        (4, "d", 3, "d", "equal"),
        (None, "", 4, "e", "insert"),
    ]


def test_s18_diff_of_identical_definitions_has_no_changed_line() -> None:
    lines = pretty_lines({"name": "x", "steps": [{"variants": []}]})
    assert lines[0] == "{" and len(lines) > 3
    assert {row.kind for row in diff_rows(lines, list(lines))} == {"equal"}
