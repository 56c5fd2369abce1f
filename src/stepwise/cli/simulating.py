"""`stepwise simulate`: definition files and a script through the real engine on a virtual clock (S20)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
import yaml

from stepwise.cli.common import app, console, err, fail


@app.command()
def simulate(
    files: Annotated[list[Path], typer.Argument(help="YAML or JSON definition files", metavar="DEFINITIONS")],
    script: Annotated[
        Path, typer.Option("--script", metavar="FILE", help="YAML or JSON: start, until, subscribers, events")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Simulate sequences offline on a virtual clock: no database, no email (docs/simulation.md).

    The script (YAML or JSON) has start, until, subscribers and events.

    An event's `at` is an ISO instant or an offset from start such as "+2h"; `event: tick` moves the clock.

    Prints each subscriber's timeline (with rendered subjects) and each sequence's final statistics.

    Exits 1 when a definition or the script is invalid, listing each problem with its JSON path.
    """
    from stepwise.simulation.offline import simulate as run
    from stepwise.simulation.script import ScriptError, parse_script

    sequences, subjects = _definitions(files, as_json)
    try:
        checked = parse_script(_read_script(script))
    except ScriptError as exc:
        _problems([f"{script}: {problem}" for problem in exc.problems], as_json)
        raise fail(f"{len(exc.problems)} problem(s) in the script") from exc
    result = run(sequences, subjects, checked)
    if as_json:
        sys.stdout.write(json.dumps(result.as_json(), indent=2, ensure_ascii=False) + "\n")
        return
    _print_text(result.as_json())


def _definitions(files: list[Path], as_json: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The sequences (as the engine takes them) and the drafts' subjects; exit 1 listing problems."""
    from pydantic import ValidationError

    from stepwise.cli.definitions import assumed, load, outside_references, validate
    from stepwise.domain.definition import SequenceDefinition
    from stepwise.engine.model import SequenceInfo
    from stepwise.services.drafts import DraftBody

    bundle = load(files)
    problems = validate(bundle, assumed(outside_references(bundle)))
    if not problems and not bundle.sequences:
        problems = ["no sequences in the definition files"]
    if problems:
        _problems(problems, as_json)
        raise fail(f"{len(problems)} problem(s) found; nothing simulated")
    sequences: dict[str, Any] = {}
    for key, body in bundle.sequences.items():
        definition = SequenceDefinition.model_validate(body)
        paused = body.get("status") == "paused"
        sequences[key] = SequenceInfo(key, "paused" if paused else "active", definition, definition.timezone or "UTC")
    subjects: dict[str, str] = {}
    for key, body in bundle.drafts.items():
        try:
            subjects[key] = DraftBody.model_validate(body).subject
        except ValidationError:  # reported above
            continue
    return sequences, subjects


def _read_script(path: Path) -> Any:
    from stepwise.simulation.script import ScriptError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError([f"cannot read: {exc}"]) from exc
    try:
        return orjson.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError, RecursionError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise ScriptError([f"not valid {kind}: {exc}"]) from exc


def _problems(problems: list[str], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps({"problems": problems}, indent=2, ensure_ascii=False) + "\n")
    for problem in problems:
        err.print(problem, highlight=False, markup=False)


def _print_text(result: dict[str, Any]) -> None:
    console.print(f"simulated {result['start']} .. {result['until']}", highlight=False)
    for person in result["subscribers"]:
        console.print(f"\n{person['email']}", style="bold", highlight=False)
        for item in person["timeline"]:
            console.print(f"  {item['at']}  {_line(item)}", highlight=False, markup=False)
    console.print("\nemails: " + (", ".join(f"{k} {v}" for k, v in result["emails"].items()) or "none"))
    for stats in result["stats"]:
        stopped = ", ".join(f"{k} {v}" for k, v in stats["stopped_by"].items() if v)
        console.print(
            f"\n{stats['sequence']}: entered {stats['entered']}, subscribers {stats['subscribers']}, "
            f"on steps {stats['on_steps']}, completed {stats['completed']}, stopped {stats['stopped']}"
            + (f" ({stopped})" if stopped else ""),
            highlight=False,
        )
        for step in stats["steps"]:
            fired = ", ".join(f"v{v['variant']} fired {v['fired']}" for v in step["variants"])
            console.print(f"  step {step['step']}: on step {step['on_step']}; {fired}", highlight=False)


def _line(item: dict[str, Any]) -> str:
    kind, seq = item["kind"], item.get("sequence")
    where = f"[{seq}] " if seq else ""
    if kind == "email":
        state = f" (skipped: {item['skipped']})" if "skipped" in item else ""
        return f"{where}email {item['draft']}: {item.get('subject', '')!r}{state}"
    if kind == "transition":
        actions = "; ".join(_action(a) for a in item.get("actions", []))
        return (
            f"{where}step {item['step']} variant {item['variant']} by {item['trigger']}"
            f" -> {item.get('result', 'ended')}" + (f"  [{actions}]" if actions else "")
        )
    if kind == "event":
        payload = item.get("payload")
        return f"event {item['event']}" + (f" {json.dumps(payload, ensure_ascii=False)}" if payload else "")
    rest = {k: v for k, v in item.items() if k not in ("at", "kind", "sequence")}
    return f"{where}{kind} {json.dumps(rest, ensure_ascii=False)}"


def _action(summary: Any) -> str:
    if isinstance(summary, dict):
        name = summary.get("action", "?")
        rest = {k: v for k, v in summary.items() if k != "action"}
        return f"{name} {json.dumps(rest, ensure_ascii=False)}" if rest else str(name)
    return str(summary)
