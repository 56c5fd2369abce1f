"""Who refers to what: keeps definitions valid when lists, drafts, forms or sequences change."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection

from stepwise.domain.definition import SequenceDefinition
from stepwise.domain.validation import References, referenced
from stepwise.services.catalog import read_definition
from stepwise.storage import drafts as draft_store
from stepwise.storage import forms as form_store
from stepwise.storage import lists as list_store
from stepwise.storage import segments as segment_store
from stepwise.storage import sequence_drafts as sequence_draft_store
from stepwise.storage import sequences as sequence_store
from stepwise.storage import versions as version_store


def definitions(conn: Connection, account_id: int) -> dict[str, SequenceDefinition]:
    """The account's readable definitions (one that cannot be read refers to nothing; it is listed as broken)."""
    found = {}
    for row in sequence_store.all_sequences(conn, account_id):
        definition, _ = read_definition(row)
        if definition is not None:
            found[row.key] = definition
    return found


def gather(conn: Connection, account_id: int, *, exclude: str | None = None) -> References:
    """Collect the keys a definition may use, and which sequences start which."""
    defs = definitions(conn, account_id)
    targeted: dict[str, set[str]] = defaultdict(set)
    for key, definition in defs.items():
        if key == exclude:
            continue
        for target in referenced(definition)["sequences"]:
            targeted[target].add(key)
    return References(
        drafts=draft_store.keys(conn, account_id),
        lists=list_store.keys(conn, account_id),
        forms=form_store.keys(conn, account_id),
        step_one_variants={key: len(d.steps[0].variants) for key, d in defs.items()},
        targeted_by={k: frozenset(v) for k, v in targeted.items()},
        segments=segment_store.keys(conn, account_id),
    )


def users_of(conn: Connection, account_id: int, kind: str, key: str) -> list[str]:
    """Return the sequences (and forms, as 'form:key') whose definitions use this draft/list/form/sequence."""
    users = [
        seq_key
        for seq_key, definition in definitions(conn, account_id).items()
        if key in referenced(definition)[kind] and not (kind == "sequences" and seq_key == key)
    ]
    if kind in ("drafts", "lists"):
        for form_key, spec in form_store.specs(conn, account_id).items():
            if (kind == "drafts" and spec.get("confirmation_draft") == key) or (
                kind == "lists" and key in (spec.get("lists") or [])
            ):
                users.append(f"form:{form_key}")
    if kind == "segments":
        users += [user for user in segment_users_elsewhere(conn, account_id, key) if user.split(" ")[0] not in users]
    return sorted(users)


def _uses(document: dict[str, Any], kind: str, key: str) -> bool:
    try:
        return key in referenced(SequenceDefinition.model_validate(document))[kind]
    except Exception:  # a definition that cannot be read refers to nothing (as in `definitions`)
        return False


def segment_users_elsewhere(conn: Connection, account_id: int, key: str) -> list[str]:
    """Sequences whose draft, or an older version that open runs still follow, uses this segment."""
    found = []
    for row in sequence_store.all_sequences(conn, account_id):
        draft = sequence_draft_store.get(conn, row.id)
        if draft is not None and _uses(draft.definition, "segments", key):
            found.append(f"{row.key} (draft)")
        open_runs = version_store.open_runs_by_version(conn, account_id, row.id)
        for number, version in sorted(version_store.pinned(conn, row.id, row.live_version).items()):
            if open_runs.get(number) and _uses(version.definition, "segments", key):
                found.append(f"{row.key} (version {number}, {open_runs[number]} open runs)")
    return found
