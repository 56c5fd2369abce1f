"""Definition files (YAML or JSON): lists, drafts, forms and sequences as code (SPEC §10)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from stepwise.domain.definition import SequenceDefinition
from stepwise.domain.forms import FormSpec, form_problems, form_reference_problems
from stepwise.domain.jsonvalues import MAX_DEPTH, value_problems
from stepwise.domain.keys import is_key
from stepwise.domain.problems import Problem, from_validation_error
from stepwise.domain.segments import parse_where
from stepwise.domain.validation import References, check_sequence, referenced
from stepwise.services.drafts import DraftBody
from stepwise.services.drafts import problems as draft_problems

KINDS = ("lists", "drafts", "forms", "sequences", "sending_domains", "segments")


@dataclass
class Bundle:
    """Everything read from a set of files, with where each item came from."""

    lists: dict[str, dict[str, Any]] = field(default_factory=dict)
    drafts: dict[str, dict[str, Any]] = field(default_factory=dict)
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    sequences: dict[str, dict[str, Any]] = field(default_factory=dict)
    sending_domains: dict[str, dict[str, Any]] = field(default_factory=dict)  # by domain: {selector?}
    segments: dict[str, dict[str, Any]] = field(default_factory=dict)  # {name, where} (SPEC §15)
    origin: dict[tuple[str, str], str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def load(paths: list[Path]) -> Bundle:
    """Read files; every document is a mapping with any of the keys lists, drafts, forms, sequences."""
    bundle = Bundle()
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            bundle.problems.append(f"{path}: cannot read: {exc}")
            continue
        try:
            if path.suffix.lower() == ".json":
                documents = [orjson.loads(text)]
            else:
                documents = [d for d in yaml.safe_load_all(text) if d is not None]
        except (orjson.JSONDecodeError, yaml.YAMLError, RecursionError) as exc:
            bundle.problems.append(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}")
            continue
        for number, document in enumerate(documents, start=1):
            where = f"{path}" if len(documents) == 1 else f"{path} (document {number})"
            # Definitions sit two levels down (section, key) and may nest as deep as through the API.
            unfit = value_problems(document, max_depth=MAX_DEPTH + 2)
            if unfit:
                bundle.problems += [f"{where}: {problem.path}: {problem.message}" for problem in unfit]
                continue
            _take(bundle, document, where)
    return bundle


def _take(bundle: Bundle, document: Any, where: str) -> None:
    if not isinstance(document, dict):
        bundle.problems.append(f"{where}: $: must be a mapping with lists, drafts, forms or sequences")
        return
    for kind, items in document.items():
        if kind not in KINDS:
            bundle.problems.append(f"{where}: $.{kind}: unknown section (use {', '.join(KINDS)})")
            continue
        if not isinstance(items, dict):
            bundle.problems.append(f"{where}: $.{kind}: must map keys to definitions")
            continue
        for raw_key, body in items.items():
            key = _domain_key(raw_key) if kind == "sending_domains" else raw_key
            if not isinstance(key, str) or not (is_key(key) or kind == "sending_domains"):
                bundle.problems.append(f"{where}: $.{kind}.{raw_key}: keys are slugs like 'welcome-2'")
                continue
            if kind == "sending_domains" and key.startswith("!"):
                bundle.problems.append(f"{where}: $.{kind}.{raw_key}: {key[1:]}")
                continue
            if (kind, key) in bundle.origin:
                bundle.problems.append(f"{where}: $.{kind}.{key}: also defined in {bundle.origin[(kind, key)]}")
                continue
            item = {"name": body} if kind == "lists" and isinstance(body, str) else body
            item = {} if kind == "sending_domains" and body is None else item
            if not isinstance(item, dict):
                bundle.problems.append(f"{where}: $.{kind}.{key}: must be a mapping")
                continue
            getattr(bundle, kind)[key] = item
            bundle.origin[(kind, key)] = where


def _domain_key(raw: Any) -> str | None:
    """A sending domain's key: the checked domain, or "!" and why it is not one."""
    from stepwise.delivery.dkim import check_domain

    if not isinstance(raw, str):
        return None
    try:
        return check_domain(raw)
    except ValueError as exc:
        return f"!{exc}"


def validate(
    bundle: Bundle, known: References | None = None, stored_drafts: Mapping[str, Sender] | None = None
) -> list[str]:
    """Check every item; `known` adds what the database already holds (for apply).

    `stored_drafts` gives the subject and sender of drafts in the database, for the activation rule
    (drafts in the files take precedence over them).
    """
    problems = list(bundle.problems)
    known = known or References()

    def report(kind: str, key: str, items: list[Problem]) -> None:
        where = bundle.origin.get((kind, key), "?")
        for item in items:
            problems.append(f"{where}: {kind}.{key}{item.path[1:]}: {item.message}")

    for key, body in bundle.lists.items():
        name = body.get("name")
        extra = set(body) - {"name"}
        if not isinstance(name, str) or not name.strip() or extra:
            report("lists", key, [Problem("$", "a list is {name: text}")])
    for key, body in bundle.sending_domains.items():
        report("sending_domains", key, _sending_domain_problems(body))
    for key, body in bundle.segments.items():
        report("segments", key, segment_problems(body))
    for key, body in bundle.drafts.items():
        try:
            report("drafts", key, draft_problems(DraftBody.model_validate(body)))
        except ValidationError as exc:
            report("drafts", key, from_validation_error(exc, body))
    all_lists = known.lists | frozenset(bundle.lists)
    all_drafts = known.drafts | frozenset(bundle.drafts)
    for key, body in bundle.forms.items():
        found = form_problems(body)
        if not found:
            found = form_reference_problems(FormSpec.model_validate(body), all_lists, all_drafts)
        report("forms", key, found)
    parsed: dict[str, SequenceDefinition] = {}
    for key, body in bundle.sequences.items():
        try:
            parsed[key] = SequenceDefinition.model_validate(body)
        except ValidationError as exc:
            report("sequences", key, from_validation_error(exc, body))
    refs = _merge(bundle, known, parsed)
    for key, definition in parsed.items():
        report("sequences", key, check_sequence(key, definition, refs))
        if bundle.sequences[key].get("status") == "active":
            report("sequences", key, _activation_problems(bundle, definition, stored_drafts or {}))
    return problems


Sender = tuple[str, str | None]  # a draft's subject and from_email


def segment_problems(body: dict[str, Any]) -> list[Problem]:
    """A segment is `{name: text, where: predicate}` (the predicate as the API takes it)."""
    found = [
        Problem(f"$.{extra}", "unknown field (a segment is {name, where})")
        for extra in sorted(set(body) - {"name", "where"})
    ]
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        found.append(Problem("$.name", "a segment needs a name (text of up to 200 characters)"))
    if "where" not in body:
        found.append(Problem("$.where", "a segment needs a predicate"))
    else:
        found += parse_where(body["where"])[1]
    return found


def _sending_domain_problems(body: dict[str, Any]) -> list[Problem]:
    """A sending domain is `{selector?: text}` (or nothing): its DKIM key is made when applied."""
    from stepwise.delivery.dkim import check_selector

    extra = sorted(set(body) - {"selector"})
    if extra:
        return [Problem(f"$.{extra[0]}", "unknown field (a sending domain takes only `selector`)")]
    selector = body.get("selector")
    if selector is None:
        return []
    try:
        check_selector(selector if isinstance(selector, str) else "")
    except ValueError as exc:
        return [Problem("$.selector", str(exc))]
    return []


def _activation_problems(
    bundle: Bundle, definition: SequenceDefinition, stored_drafts: Mapping[str, Sender]
) -> list[Problem]:
    """An active sequence may only use drafts that have a subject and a sender (as apply and the API)."""
    found = []
    for key in sorted(referenced(definition)["drafts"]):
        sender: Sender | None = stored_drafts.get(key)
        if key in bundle.drafts:
            try:
                draft = DraftBody.model_validate(bundle.drafts[key])
            except ValidationError:
                continue  # reported with the draft
            sender = (draft.subject, draft.from_email)
        if sender is None:
            continue
        if not sender[0].strip():
            found.append(Problem("$.steps", f"draft {key!r} has no subject (an active sequence needs one)"))
        if not sender[1]:
            found.append(Problem("$.steps", f"draft {key!r} has no sender (from_email; an active sequence needs one)"))
    return found


def outside_references(bundle: Bundle) -> dict[str, set[str]]:
    """What the files refer to but do not define, by kind (lists, drafts, forms, sequences)."""
    found: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for body in bundle.sequences.values():
        try:
            definition = SequenceDefinition.model_validate(body)
        except ValidationError:
            continue
        for kind, keys in referenced(definition).items():
            found[kind] |= set(keys)
    for body in bundle.forms.values():
        if form_problems(body):
            continue
        spec = FormSpec.model_validate(body)
        found["lists"] |= set(spec.lists)
        if spec.confirmation_draft:
            found["drafts"].add(spec.confirmation_draft)
    return {kind: keys - set(getattr(bundle, kind)) for kind, keys in found.items()}


def assumed(missing: dict[str, set[str]]) -> References:
    """References that pretend the missing items exist (each sequence with one variant in step 1)."""
    return References(
        drafts=frozenset(missing["drafts"]),
        lists=frozenset(missing["lists"]),
        forms=frozenset(missing["forms"]),
        step_one_variants=dict.fromkeys(missing["sequences"], 1),
        segments=frozenset(missing["segments"]),
    )


def _merge(bundle: Bundle, known: References, parsed: dict[str, SequenceDefinition]) -> References:
    step_one = dict(known.step_one_variants)
    step_one.update({key: len(d.steps[0].variants) for key, d in parsed.items()})
    targeted: dict[str, set[str]] = {k: set(v) for k, v in known.targeted_by.items()}
    for key, definition in parsed.items():
        for target in referenced(definition)["sequences"]:
            targeted.setdefault(target, set()).add(key)
    return References(
        drafts=known.drafts | frozenset(bundle.drafts),
        lists=known.lists | frozenset(bundle.lists),
        forms=known.forms | frozenset(bundle.forms),
        step_one_variants=step_one,
        targeted_by={k: frozenset(v) for k, v in targeted.items()},
        segments=known.segments | frozenset(bundle.segments),
    )


def merged_references(bundle: Bundle, known: References) -> References:
    """What the account holds plus what the files define (for saving them together)."""
    parsed = {key: SequenceDefinition.model_validate(body) for key, body in bundle.sequences.items()}
    return _merge(bundle, known, parsed)
