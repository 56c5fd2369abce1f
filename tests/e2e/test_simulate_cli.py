"""S20: `stepwise simulate` runs the real engine on a virtual clock, with no database, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.process import env_for, run_cli

DEFINITIONS = """
drafts:
  welcome:
    subject: "Welcome, {{ data.base.firstName }}!"
    html: "<p>Hi</p>"
    from_email: hello@example.com
  nudge:
    subject: "Still there, {{ data.base.firstName }}?"
    html: "<p>Nudge</p>"
    from_email: hello@example.com
sequences:
  onboarding:
    name: Onboarding
    steps:
      - variants:
          - when: [{event: subscriber_added}]
            do: [{action: send_email, draft: welcome}]
      - variants:
          - when: [{event: link_clicked}]
            do: [{action: change_data, set: {custom.engaged: true}}]
          - when: [{event: time_passed, after: 2d}]
            do: [{action: send_email, draft: nudge}]
      - variants:
          - when: [{event: custom, name: order_placed}]
            do: [{action: nothing}]
"""

SCRIPT = """
start: 2026-01-05T09:00:00Z
until: "+7d"
subscribers:
  - {email: anna@example.com, data: {base: {firstName: Anna}}}
  - {email: boris@example.com, data: {base: {firstName: Boris}}}
events:
  - {at: "+0h", email: anna@example.com, event: subscriber_added}
  - {at: "+0h", email: boris@example.com, event: subscriber_added}
  - {at: "+3h", email: anna@example.com, event: link_clicked, url: "https://example.com/start"}
  - {at: "+4h", email: anna@example.com, event: custom, name: order_placed, data: {total: 10}}
"""


def _files(tmp_path: Path, definitions: str = DEFINITIONS, script: str = SCRIPT) -> tuple[str, str]:
    (tmp_path / "flows.yaml").write_text(definitions, encoding="utf-8")
    (tmp_path / "script.yaml").write_text(script, encoding="utf-8")
    return str(tmp_path / "flows.yaml"), str(tmp_path / "script.yaml")


def _env(tmp_path: Path) -> dict[str, str]:
    # A database URL that would be created if anything touched it: the simulator must not.
    return env_for(f"sqlite:///{tmp_path / 'never-created.db'}")


def test_S20_simulate_prints_each_timeline_with_rendered_subjects_and_final_stats(tmp_path: Path) -> None:
    flows, script = _files(tmp_path)
    result = run_cli("simulate", flows, "--script", script, "--json", env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    timelines = {person["email"]: person["timeline"] for person in report["subscribers"]}
    anna = [(item["at"], item["kind"], item.get("subject")) for item in timelines["anna@example.com"]]
    assert ("2026-01-05T09:00:00Z", "email", "Welcome, Anna!") in anna
    # Anna clicked at +3h: step 2's first variant fired then; her order at +4h completed the run.
    steps = [(i["at"], i["step"], i["variant"]) for i in timelines["anna@example.com"] if i["kind"] == "transition"]
    assert steps == [
        ("2026-01-05T09:00:00Z", 1, 1),
        ("2026-01-05T12:00:00Z", 2, 1),
        ("2026-01-05T13:00:00Z", 3, 1),
    ]
    # Boris did nothing: the 2-day wait fired on the virtual clock and he waits at step 3.
    boris = [(item["at"], item.get("subject")) for item in timelines["boris@example.com"] if item["kind"] == "email"]
    assert boris == [("2026-01-05T09:00:00Z", "Welcome, Boris!"), ("2026-01-07T09:00:00Z", "Still there, Boris?")]
    assert report["emails"] == {"nudge": 1, "welcome": 2}
    (stats,) = report["stats"]
    assert stats["entered"] == 2 and stats["subscribers"] == 2
    assert stats["completed"] == 1 and stats["on_steps"] == 1 and stats["stopped"] == 0
    assert stats["steps"][1]["variants"] == [
        {"variant": 1, "fired": 1, "converted": 0},
        {"variant": 2, "fired": 1, "converted": 0},
    ]
    assert stats["steps"][2]["on_step"] == 1
    assert not (tmp_path / "never-created.db").exists()


def test_S20_simulate_prints_a_readable_report(tmp_path: Path) -> None:
    flows, script = _files(tmp_path)
    result = run_cli("simulate", flows, "--script", script, env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "email welcome: 'Welcome, Anna!'" in result.stdout
    assert "2026-01-07T09:00:00Z  [onboarding] email nudge: 'Still there, Boris?'" in result.stdout
    assert "onboarding: entered 2, subscribers 2, on steps 1, completed 1, stopped 0" in result.stdout


def test_S20_an_invalid_definition_exits_1_with_json_paths(tmp_path: Path) -> None:
    broken = DEFINITIONS.replace("after: 2d", "after: soon")
    flows, script = _files(tmp_path, definitions=broken)
    result = run_cli("simulate", flows, "--script", script, "--json", env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    problems = json.loads(result.stdout)["problems"]
    assert any("sequences.onboarding.steps[1].variants[1].when[0].after" in p for p in problems), problems
    assert "nothing simulated" in result.stderr


def test_S20_a_bad_script_is_a_clear_error(tmp_path: Path) -> None:
    bad = """
start: 2026-01-05T09:00:00Z
until: "+1d"
subscribers: [{email: anna@example.com}]
events:
  - {at: "+2d", email: anna@example.com, event: subscriber_added}
  - {at: "+1h", email: zoe@example.com, event: subscriber_added}
  - {at: "+1h", email: anna@example.com, event: teleported}
  - {at: "soon", email: anna@example.com, event: tick}
"""
    flows, script = _files(tmp_path, script=bad)
    result = run_cli("simulate", flows, "--script", script, env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert "$.events[0].at: after until" in result.stderr
    assert "$.events[1].email: must name one of the script's subscribers" in result.stderr
    assert "$.events[2].event: one of tick" in result.stderr
    assert "$.events[3].at: an ISO-8601 instant or an offset" in result.stderr
    (tmp_path / "script.yaml").write_text("start: [unclosed", encoding="utf-8")
    result = run_cli("simulate", flows, "--script", script, env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1 and "not valid YAML" in result.stderr
