"""Validation problems of a definition placed at the builder inputs that caused them (422 paths → inputs)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stepwise.web.builder import SETTING_LABELS, SETTINGS, SIDES, BuilderState, Item, Side, dom_id, fields_of

_PATH_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]|\[\"((?:[^\"\\]|\\.)*)\"\]")


@dataclass
class Placed:
    """Problems keyed by the input (or box) they belong to; `general` holds what has no better place."""

    by_key: dict[str, list[str]] = field(default_factory=dict)
    summary: list[tuple[str, str, str]] = field(default_factory=list)  # (dom id, where, message)

    def at(self, key: str) -> list[str]:
        """Return the messages placed at a key."""
        return self.by_key.get(key, [])

    def __bool__(self) -> bool:
        return bool(self.summary)


def _tokens(path: str) -> list[str | int]:
    if not path.startswith("$"):
        return []
    tokens: list[str | int] = []
    for match in _PATH_TOKEN.finditer(path, 1):
        name, index, quoted, dquoted = match.groups()
        if index is not None:
            tokens.append(int(index))
        else:
            tokens.append(name or quoted or dquoted or "")
    return tokens


def path_key(path: str) -> list[str]:
    """Turn a JSON path of a definition into the builder's key parts (`s1`, `v0`, `w2`, `after`)."""
    tokens = _tokens(path)
    parts: list[str] = []
    i = 0
    letters = {"steps": "s", "variants": "v", "when": "w", "do": "d"}
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if isinstance(token, str) and token in letters and isinstance(following, int):
            parts.append(f"{letters[token]}{following}")
            i += 2
            continue
        if isinstance(token, str):
            parts.append(token)
        break
    return parts


def known_keys(state: BuilderState) -> set[str]:
    """Return every key the builder shows errors at."""
    keys = set(SETTINGS) | {"steps"}
    for s, step in enumerate(state.steps):
        keys |= {f"s{s}", f"s{s}.variants"}
        for v, variant in enumerate(step.variants):
            base = f"s{s}.v{v}"
            keys |= {base, f"{base}.when", f"{base}.do"}
            for side, _ in SIDES:
                for k, item in enumerate(variant.when if side == "when" else variant.do):
                    prefix = f"{base}.{side[0]}{k}"
                    keys |= {prefix, f"{prefix}.{'event' if side == 'when' else 'action'}"}
                    keys |= {f"{prefix}.{f.name}" for f in fields_of(side, item)}
    return keys


def place(state: BuilderState, problems: Sequence[Mapping[str, Any]]) -> Placed:
    """Put each problem at the deepest input or box its path reaches."""
    known = known_keys(state)
    placed = Placed()
    for problem in problems:
        path, message = str(problem.get("path", "$")), str(problem.get("message", "invalid"))
        parts = path_key(path)
        while parts and ".".join(parts) not in known:
            parts.pop()
        key = ".".join(parts)
        if key.endswith((".event", ".action")):
            key = key.rsplit(".", 1)[0] + ".kind"
        placed.by_key.setdefault(key, []).append(message)
        placed.summary.append((dom_id(key) if key else "builder", describe_key(state, key), message))
    return placed


def describe_key(state: BuilderState, key: str) -> str:
    """Name the place of a key in words: "Step 2 · Variant 1 · Event 1 · Wait for"."""
    if not key:
        return "Sequence"
    if key in SETTING_LABELS:
        return SETTING_LABELS[key]
    words: list[str] = []
    item: Item | None = None
    side: Side = "when"
    parts = key.split(".")
    try:
        for part in parts:
            if part[0] == "s" and part[1:].isdigit():
                step = state.steps[int(part[1:])]
                words.append(f"Step {int(part[1:]) + 1}")
            elif part[0] == "v" and part[1:].isdigit():
                variant = step.variants[int(part[1:])]
                words.append(f"Variant {int(part[1:]) + 1}")
            elif part[0] in "wd" and part[1:].isdigit():
                side = "when" if part[0] == "w" else "do"
                item = (variant.when if side == "when" else variant.do)[int(part[1:])]
                words.append(f"{'Event' if side == 'when' else 'Action'} {int(part[1:]) + 1}")
            elif part == "kind":
                words.append("kind")
            elif item is not None:
                labels = {f.name: f.label for f in fields_of(side, item)}
                words.append(labels.get(part, part))
            else:
                words.append({"when": "events", "do": "actions", "variants": "variants"}.get(part, part))
    except (IndexError, UnboundLocalError):
        return key
    return " · ".join(words)
