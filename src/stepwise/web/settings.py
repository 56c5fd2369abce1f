"""The account settings page (SPEC §17): time zone, default sender, reply-to, send window, caps, soft bounces.

The send window's sub-form (`WindowForm`) is shared with the sequence builder, where a sequence
may have its own window.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from stepwise.domain.policy import EVERY_DAY, MAX_CAPS, SendWindow
from stepwise.domain.problems import Problem, from_validation_error
from stepwise.domain.schedules import zone_names
from stepwise.errors import AppError
from stepwise.services import settings as service
from stepwise.services.settings import AccountSettings
from stepwise.web.pages import FormDep, Page, PageDep, PageRoute, text_of, texts_of
from stepwise.web.problems import FormErrors

router = APIRouter(route_class=PageRoute, include_in_schema=False)
WINDOW = "send_window"
TEXTS = ("timezone", "default_from_email", "default_from_name", "reply_to", "soft_bounce_limit")
MIN_CAP_ROWS = 3
_CAP_PATH = re.compile(r"^caps\[(\d+)\](.*)$")
CAP_EXAMPLES = "1d, 12h, 7d or 1w"


@dataclass
class WindowForm:
    """A send window as typed: on or off, its days, from, to, and the subscriber's zone or a named one."""

    on: bool = False
    days: list[str] = field(default_factory=lambda: list(EVERY_DAY))
    start: str = "09:00"
    end: str = "17:00"
    own_zone: bool = True  # the subscriber's own time zone
    zone: str = ""

    @classmethod
    def of(cls, window: SendWindow | Mapping[str, Any] | None) -> WindowForm:
        """Show a stored window (a model, or the JSON of a definition's `send_window`)."""
        if window is None:
            return cls()
        raw = window.dump() if isinstance(window, SendWindow) else dict(window)
        zone = str(raw.get("timezone") or "subscriber")
        days = raw.get("days")
        return cls(
            on=True,
            days=[str(d) for d in days] if isinstance(days, list) else list(EVERY_DAY),
            start=str(raw.get("from") or ""),
            end=str(raw.get("to") or ""),
            own_zone=zone == "subscriber",
            zone="" if zone == "subscriber" else zone,
        )

    @classmethod
    def read(cls, get: Callable[[str], str], getlist: Callable[[str], list[str]]) -> WindowForm:
        """Read the sub-form's fields (`send_window.on`, `.days`, `.from`, `.to`, `.zone_mode`, `.zone`)."""
        return cls(
            on=get(f"{WINDOW}.on") == "on",
            days=[d for d in getlist(f"{WINDOW}.days") if d],
            start=get(f"{WINDOW}.from").strip(),
            end=get(f"{WINDOW}.to").strip(),
            own_zone=get(f"{WINDOW}.zone_mode") != "fixed",
            zone=get(f"{WINDOW}.zone").strip(),
        )

    def document(self) -> dict[str, Any] | None:
        """The window's JSON (validated by whoever takes it), None when it is off."""
        if not self.on:
            return None
        found: dict[str, Any] = {"days": self.days, "timezone": "subscriber" if self.own_zone else self.zone}
        if self.start:
            found["from"] = self.start
        if self.end:
            found["to"] = self.end
        return found

    def summary(self) -> str:
        """The window in words: "mon–fri 09:00–17:00, the subscriber's time"."""
        if not self.on:
            return "none"
        days = "every day" if len(self.days) == 7 else ", ".join(self.days)
        zone = "the subscriber's time" if self.own_zone else self.zone
        return f"{days} {self.start}–{self.end} ({zone})"


@dataclass
class SettingsForm:
    """The whole settings form as typed."""

    texts: dict[str, str]
    window: WindowForm
    caps: list[tuple[str, str]]  # (emails, per) of each row, empty rows included

    @classmethod
    def of(cls, settings: AccountSettings) -> SettingsForm:
        texts = {
            "timezone": settings.timezone,
            "default_from_email": settings.default_from_email or "",
            "default_from_name": settings.default_from_name or "",
            "reply_to": settings.reply_to or "",
            "soft_bounce_limit": str(settings.soft_bounce_limit),
        }
        caps = [(str(cap.emails), cap.per) for cap in settings.caps]
        return cls(texts, WindowForm.of(settings.send_window), caps).padded()

    @classmethod
    def read(cls, form: FormData) -> SettingsForm:
        texts = {name: text_of(form, name).strip() for name in TEXTS}
        window = WindowForm.read(lambda name: text_of(form, name), lambda name: texts_of(form, name))
        caps = []
        row = 0
        while f"caps.{row}.emails" in form or f"caps.{row}.per" in form:
            caps.append((text_of(form, f"caps.{row}.emails").strip(), text_of(form, f"caps.{row}.per").strip()))
            row += 1
        return cls(texts, window, caps[: MAX_CAPS + 5])

    def padded(self) -> SettingsForm:
        """Leave at least one empty row (and three in all) to add a cap in, up to the limit."""
        rows = [row for row in self.caps if any(row)]
        wanted = min(MAX_CAPS, max(MIN_CAP_ROWS, len(rows) + 1))
        self.caps = rows + [("", "")] * (wanted - len(rows))
        return self

    def document(self) -> tuple[dict[str, Any], list[int]]:
        """The settings JSON, and the row of each cap in it (empty rows are left out)."""
        doc: dict[str, Any] = {"timezone": self.texts["timezone"]}
        for name in ("default_from_email", "default_from_name", "reply_to"):
            doc[name] = self.texts[name] or None
        if self.texts["soft_bounce_limit"]:
            doc["soft_bounce_limit"] = _number(self.texts["soft_bounce_limit"])
        window = self.window.document()
        if window is not None:
            doc[WINDOW] = window
        rows = [i for i, row in enumerate(self.caps) if any(row)]
        doc["caps"] = [_cap(*self.caps[i]) for i in rows]
        return doc, rows


def _number(text: str) -> int | str:
    """A whole number typed in a form is sent as one (the settings take JSON integers only)."""
    stripped = text.strip()
    return int(stripped) if stripped.lstrip("-").isdigit() and len(stripped) < 12 else text


def _cap(emails: str, per: str) -> dict[str, int | str]:
    return {key: value for key, value in (("emails", _number(emails)), ("per", per)) if value != ""}


def place(problems: list[Problem], rows: list[int]) -> FormErrors:
    """Put each problem at the input its path names: `timezone`, `send_window.from`, `caps.2.per`."""
    errors = FormErrors()
    for problem in problems:
        where = problem.path.removeprefix("$").removeprefix(".")
        match = _CAP_PATH.match(where)
        if match and int(match.group(1)) < len(rows):
            rest = match.group(2)
            where = f"caps.{rows[int(match.group(1))]}{rest if rest.startswith('.') else ''}"
        elif where.startswith(f"{WINDOW}.days"):
            where = f"{WINDOW}.days"
        if where:
            errors.add(where, problem.message)
        else:
            errors.general.append(problem.message)
    return errors


def _edit_caps(values: SettingsForm, op: str) -> SettingsForm:
    """Add an empty row of caps (`add_cap`) or remove one (`del_cap:<row>`); anything else changes nothing."""
    name, _, row = op.partition(":")
    if name == "add_cap":
        values.caps = [*values.caps, ("", "")][:MAX_CAPS]
    elif name == "del_cap" and row.isdigit() and int(row) < len(values.caps):
        del values.caps[int(row)]
        values.padded()
    return values


@router.get("/settings")
def settings_page(page: PageDep) -> Response:
    """Show the account's settings."""
    found = service.get(page.stepwise.db, page.account.id)
    return _render(page, SettingsForm.of(found))


def _render(page: Page, values: SettingsForm, errors: FormErrors | None = None, status: int = 200) -> Response:
    return page.render(
        "settings.html",
        status=status,
        nav="settings",
        values=values,
        errors=errors or FormErrors(),
        zones=zone_names(),
        max_caps=MAX_CAPS,
        cap_examples=CAP_EXAMPLES,
    )


@router.post("/settings")
def save(page: PageDep, form: FormDep) -> Response:
    """Replace the settings with the form's, or show the form again with each problem at its input."""
    values = SettingsForm.read(form)
    op = text_of(form, "op") or "save"
    if op != "save":  # add or remove a row of caps; nothing is saved
        return _render(page, _edit_caps(values, op))
    document, rows = values.document()
    try:
        body = AccountSettings.model_validate(document)
    except ValidationError as exc:
        errors = place(from_validation_error(exc, document), rows)
        return _render(page, values, errors, status=422)
    try:
        service.put(page.stepwise.db, page.account.id, body, page.now())
    except AppError as exc:
        errors = FormErrors(general=[exc.message])
        return _render(page, values, errors, status=exc.status)
    page.flash("Settings saved.")
    return page.redirect("/settings")
