"""A sequence's version history (SPEC S16-S18 in the UI): the list, a two-column diff, Restore into the draft."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from stepwise.domain.access import role_allows
from stepwise.errors import AppError, NotFound
from stepwise.services import publishing
from stepwise.services import sequences as sequence_service
from stepwise.services import versions as version_service
from stepwise.web.pages import FormDep, Page, PageDep, PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@dataclass(frozen=True)
class DiffRow:
    """One line of the two-column diff: a line number and text on each side, and how the line changed."""

    left_no: int | None
    left: str
    right_no: int | None
    right: str
    kind: str  # equal, replace, delete or insert


def may_write(page: Page, key: str) -> bool:
    """Whether the signed-in user may change this sequence's draft (S33: viewers may not)."""
    return role_allows(page.role, "POST", f"/sequences/{key}/draft")


def pretty_lines(definition: dict[str, Any]) -> list[str]:
    """A definition as pretty-printed JSON, one line per item, in its stored order."""
    return json.dumps(definition, indent=2, ensure_ascii=False).splitlines()


def diff_rows(left: list[str], right: list[str]) -> list[DiffRow]:
    """Pair the lines of two texts side by side, marking what differs (difflib's matching blocks)."""
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            li, ri = i1 + k, j1 + k
            has_left, has_right = li < i2, ri < j2
            kind = "replace" if has_left and has_right else "delete" if has_left else "insert"
            kind = "equal" if tag == "equal" else kind
            rows.append(
                DiffRow(
                    li + 1 if has_left else None,
                    left[li] if has_left else "",
                    ri + 1 if has_right else None,
                    right[ri] if has_right else "",
                    kind,
                )
            )
    return rows


def definition_of(page: Page, key: str, which: str, live: int) -> dict[str, Any]:
    """The definition named `which`: "draft", "live" or a version number (404 when there is none)."""
    db, account_id = page.stepwise.db, page.account.id
    if which == "draft":
        return publishing.get_draft(db, account_id, key).definition
    number = live if which == "live" else int(which) if which.isdigit() and len(which) < 10 else 0
    if number < 1:
        raise NotFound(f"{which!r} is not a version: choose draft, live or a version number")
    return version_service.one_version(db, account_id, key, number).definition


def _has_draft(page: Page, key: str) -> Any:
    try:
        return publishing.get_draft(page.stepwise.db, page.account.id, key)
    except NotFound:
        return None


@router.get("/sequences/{key}/versions")
def history(page: PageDep, key: str, a: str = "", b: str = "") -> Response:
    """The versions of a sequence, newest first, and a side-by-side diff of two of them (or the draft)."""
    seq = sequence_service.get(page.stepwise.db, page.account.id, key)
    listing = version_service.all_versions(page.stepwise.db, page.account.id, key)
    draft = _has_draft(page, key)
    previous = str(listing.live - 1) if listing.live > 1 else "live"
    left, right = (a or previous).strip(), (b or ("draft" if draft else "live")).strip()
    rows: list[DiffRow] = []
    error, status = "", 200
    try:
        old = definition_of(page, key, left, listing.live)
        new = definition_of(page, key, right, listing.live)
        rows = diff_rows(pretty_lines(old), pretty_lines(new))
    except AppError as exc:
        error, status = exc.message, exc.status
    choices = ["live", *(["draft"] if draft else []), *(str(v.version) for v in listing.items)]
    return page.render(
        "sequences/versions.html",
        status=status,
        nav="sequences",
        seq=seq,
        listing=listing,
        draft=draft,
        left=left,
        right=right,
        rows=rows,
        changed=sum(row.kind != "equal" for row in rows),
        diff_error=error,
        choices=choices,
        may_write=may_write(page, key),
    )


@router.post("/sequences/{key}/versions/{number}/restore")
def restore(page: PageDep, form: FormDep, key: str, number: str) -> Response:
    """Copy a version into the draft (replacing any draft), then show the draft ready to publish."""
    if not number.isdigit() or len(number) > 9:
        raise NotFound(f"sequence {key!r} has no version {number}")
    publishing.restore(page.stepwise.db, page.account.id, key, int(number), page.now())
    page.flash(f"Version {number} copied into the draft. Publish it to make it live.")
    return page.redirect(f"/sequences/{key}/publish")
