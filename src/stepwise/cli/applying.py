"""Apply a validated bundle of definitions to an account, in one transaction per kind."""

from __future__ import annotations

from typing import Any

from stepwise.bootstrap import Stepwise
from stepwise.cli.definitions import Bundle, merged_references, validate
from stepwise.errors import NotFound, Unprocessable
from stepwise.services import drafts as draft_service
from stepwise.services import lists as list_service
from stepwise.services import sequences as sequence_service
from stepwise.services.drafts import DraftBody
from stepwise.services.references import gather
from stepwise.services.versions import PublishMode


def preview_bundle(stepwise: Stepwise, account_id: int, bundle: Bundle, mode: str) -> list[str]:
    """`apply --dry-run`: validate, then print per sequence what publishing it would do; change nothing."""
    import json

    from stepwise.services import publishing

    with stepwise.db.read() as conn:
        known = gather(conn, account_id)
    problems = validate(bundle, known)
    if problems:
        raise Unprocessable("the definitions are invalid", details=problems)
    lines = []
    for key in sorted(bundle.sequences):
        definition = sequence_service.parse(bundle.sequences[key])
        with stepwise.db.read() as conn:
            unchanged = sequence_service.stored_as(conn, account_id, key, definition)
        if unchanged:
            lines.append(f"sequence {key}: unchanged")
            continue
        found = publishing.preview_definition(stepwise.db, account_id, key, definition, mode)
        body = json.dumps(found.model_dump(), sort_keys=True) if found else "would be created"
        lines.append(f"sequence {key}: {body}")
    return lines


def apply_bundle(stepwise: Stepwise, account_id: int, bundle: Bundle, mode: str = "migrate") -> list[str]:
    """Validate against what the account holds, then create or update; return one line per item."""
    with stepwise.db.read() as conn:
        known = gather(conn, account_id)
    problems = validate(bundle, known)
    if problems:
        raise Unprocessable("the definitions are invalid", details=problems)
    now = stepwise.clock()
    lines: list[str] = []
    for key, body in sorted(bundle.lists.items()):
        try:
            same_name = list_service.get(stepwise.db, account_id, key).name == body["name"]
        except NotFound:
            same_name = False
        _, created = list_service.put(stepwise.db, account_id, key, str(body["name"]), now)
        lines.append(_line("list", key, created, same_name))
    for key, body in sorted(bundle.segments.items()):
        lines.append(_segment(stepwise, account_id, key, body))
    for domain, body in sorted(bundle.sending_domains.items()):
        lines.append(_sending_domain(stepwise, account_id, domain, body.get("selector")))
    for key, body in sorted(bundle.drafts.items()):
        draft = DraftBody.model_validate(body)
        if draft_service.is_unchanged(stepwise.db, account_id, key, draft):
            lines.append(_line("draft", key, False, True))
            continue
        _, created = draft_service.put(stepwise.db, account_id, key, draft, now)
        lines.append(_line("draft", key, created, False))
    if bundle.forms:
        from stepwise.services import forms as form_service

        for key, body in sorted(bundle.forms.items()):
            result = form_service.put_from_file(stepwise.db, account_id, key, body, now)
            lines.append(_line("form", key, result == "created", result == "unchanged"))
    if bundle.sequences:
        # One transaction, checked against the account plus the files, so sequences that start
        # each other can be saved together.
        refs = merged_references(bundle, known)
        with stepwise.db.write() as conn:
            for key in _start_order(bundle.sequences):
                definition = sequence_service.parse(bundle.sequences[key])
                if sequence_service.stored_as(conn, account_id, key, definition):
                    lines.append(_line("sequence", key, False, True))
                    continue
                chosen: PublishMode = "pin" if mode == "pin" else "migrate"
                _, created = sequence_service.save(conn, account_id, key, definition, now, refs, mode=chosen)
                lines.append(_line("sequence", key, created, False))
        from stepwise.services import versions as version_service

        version_service.finish_migrations(stepwise.db, account_id, now)  # large migrations, in short batches
    return lines


def _segment(stepwise: Stepwise, account_id: int, key: str, body: dict[str, Any]) -> str:
    """Create or change a segment (its membership is computed then, without events)."""
    from stepwise.services import segments as segment_service

    try:
        old = segment_service.get(stepwise.db, account_id, key)
        unchanged = (old.name, old.where) == (body["name"], body["where"])
    except NotFound:
        unchanged = False
    if unchanged:
        return _line("segment", key, False, True)
    _, created = segment_service.put(stepwise.db, account_id, key, str(body["name"]), body["where"], stepwise.clock())
    return _line("segment", key, created, False)


def _sending_domain(stepwise: Stepwise, account_id: int, domain: str, selector: str | None) -> str:
    """Make the domain's DKIM key unless it has one; the line says which TXT record to publish."""
    from stepwise.services import sending_domains

    view, created = sending_domains.put(stepwise.db, stepwise.secret, account_id, domain, selector, stepwise.clock())
    line = _line("sending_domain", domain, created, not created)
    kept = (
        f" (keeps selector {view.selector}; delete the domain to change it)"
        if selector not in (None, view.selector)
        else ""
    )
    return f'{line}{kept}: publish TXT {view.record_name} "{view.record}"'


def _start_order(sequences: dict[str, dict[str, Any]]) -> list[str]:
    """Save sequences that others start before those others (S9 checks the target's step 1)."""
    from stepwise.domain.definition import SequenceDefinition
    from stepwise.domain.validation import targets

    deps = {
        key: targets(SequenceDefinition.model_validate(body)) & set(sequences) - {key}
        for key, body in sequences.items()
    }
    order: list[str] = []
    while deps:
        ready = sorted(k for k, d in deps.items() if not d - set(order))
        if not ready:  # a cycle: the remaining ones reference each other; any order works
            ready = sorted(deps)
        for key in ready:
            order.append(key)
            deps.pop(key)
    return order


def _line(kind: str, key: str, created: bool, unchanged: bool) -> str:
    if created:
        return f"created   {kind} {key}"
    if unchanged:
        return f"unchanged {kind} {key}"
    return f"updated   {kind} {key}"
