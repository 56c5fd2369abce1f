"""Form definitions (the public pages that use them live in the web layer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from stepwise.domain.forms import FormSpec, form_reference_problems
from stepwise.domain.instants import iso
from stepwise.domain.problems import from_validation_error
from stepwise.errors import Conflict, NotFound, Unprocessable
from stepwise.services.references import users_of
from stepwise.storage import drafts as draft_store
from stepwise.storage import forms as form_store
from stepwise.storage import lists as list_store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database


def parse(body: Any) -> FormSpec:
    try:
        return FormSpec.model_validate(body)
    except ValidationError as exc:
        raise Unprocessable.of(from_validation_error(exc, body), "the form is invalid") from exc


def view(key: str, spec: dict[str, Any], created_at: int, updated_at: int) -> dict[str, Any]:
    return {"key": key, **spec, "created_at": iso(from_us(created_at)), "updated_at": iso(from_us(updated_at))}


def put(db: Database, account_id: int, key: str, spec: FormSpec, now: datetime) -> tuple[dict[str, Any], bool]:
    """Create or replace a form; its lists and confirmation draft must exist."""
    stored = spec.model_dump(mode="json")
    with db.write() as conn:
        problems = form_reference_problems(spec, list_store.keys(conn, account_id), draft_store.keys(conn, account_id))
        if problems:
            raise Unprocessable.of(problems, "the form is invalid")
        created = form_store.put(conn, account_id, key, stored, to_us(now))
        row = form_store.get(conn, account_id, key)
    assert row is not None
    return view(key, row[1], row[2], row[3]), created


def put_from_file(db: Database, account_id: int, key: str, body: dict[str, Any], now: datetime) -> str:
    """Apply a form from a definition file; return created, updated or unchanged."""
    spec = parse(body)
    with db.read() as conn:
        old = form_store.get(conn, account_id, key)
    if old is not None and old[1] == spec.model_dump(mode="json"):
        return "unchanged"
    _, created = put(db, account_id, key, spec, now)
    return "created" if created else "updated"


def get(db: Database, account_id: int, key: str) -> dict[str, Any]:
    with db.read() as conn:
        row = form_store.get(conn, account_id, key)
    if row is None:
        raise NotFound(f"no form {key!r}")
    return view(key, row[1], row[2], row[3])


def all_forms(db: Database, account_id: int) -> list[dict[str, Any]]:
    with db.read() as conn:
        keys = sorted(form_store.keys(conn, account_id))
        rows = {key: form_store.get(conn, account_id, key) for key in keys}
    return [view(key, row[1], row[2], row[3]) for key, row in rows.items() if row is not None]


def delete(db: Database, account_id: int, key: str) -> None:
    with db.write() as conn:
        row = form_store.get(conn, account_id, key)
        if row is None:
            raise NotFound(f"no form {key!r}")
        users = users_of(conn, account_id, "forms", key)
        if users:
            raise Conflict(f"form {key!r} is used by {', '.join(users)}", code="in_use", details={"used_by": users})
        form_store.delete_form(conn, row[0])
