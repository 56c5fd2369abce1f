"""`stepwise validate` checks references against the database when there is one, and the activation rule."""

from __future__ import annotations

from pathlib import Path

from tests.support.process import env_for, run_cli

STORED = """
lists:
  vip: VIP
drafts:
  bare:
    html: "<p>no subject, no sender</p>"
"""

USES_STORED = """
sequences:
  s:
    name: S
    steps:
      - variants:
          - when: [{event: subscriber_added}]
            do: [{action: send_email, draft: bare}, {action: add_to_list, list: vip}]
"""

ACTIVE_WITH_BARE_DRAFT = """
drafts:
  local:
    html: "<p>x</p>"
sequences:
  s:
    name: S
    status: active
    steps:
      - variants:
          - when: [{event: subscriber_added}]
            do: [{action: send_email, draft: local}]
"""


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_references_resolve_against_the_database(database_url: str, tmp_path: Path) -> None:
    env = env_for(database_url)
    assert run_cli("migrate", env=env).returncode == 0
    assert run_cli("accounts", "create", "default", env=env).returncode == 0
    uses = _file(tmp_path, "uses.yaml", USES_STORED)
    before = run_cli("validate", uses, env=env)
    assert before.returncode != 0 and "unknown draft 'bare'" in before.stderr and "unknown list 'vip'" in before.stderr
    assert "using database" in before.stderr
    applied = run_cli("apply", _file(tmp_path, "stored.yaml", STORED), env=env)
    assert applied.returncode == 0, applied.stderr
    after = run_cli("validate", uses, env=env)
    assert after.returncode == 0, after.stderr
    assert run_cli("apply", uses, env=env).returncode == 0
    # Activating it is refused by both, because the stored draft has no subject and no sender.
    active = _file(tmp_path, "active.yaml", USES_STORED.replace("name: S", "name: S\n    status: active"))
    refused = run_cli("validate", active, env=env)
    assert refused.returncode != 0
    assert "draft 'bare' has no subject" in refused.stderr and "draft 'bare' has no sender" in refused.stderr
    assert run_cli("apply", active, env=env).returncode != 0


def test_without_a_database_unchecked_references_are_a_warning(tmp_path: Path) -> None:
    env = env_for("sqlite:///x.db")
    del env["STEPWISE_DATABASE_URL"]
    uses = _file(tmp_path, "uses.yaml", USES_STORED)
    result = run_cli("validate", uses, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr and "draft 'bare'" in result.stderr and "list 'vip'" in result.stderr
    strict = run_cli("validate", "--strict", uses, env=env, cwd=tmp_path)
    assert strict.returncode != 0 and "draft 'bare'" in strict.stderr
    missing = run_cli("validate", uses, "--database-url", f"sqlite:///{tmp_path / 'none.db'}", env=env)
    assert missing.returncode == 0 and "no database at" in missing.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "uses.yaml"]  # nothing created


def test_activation_rule_applies_to_drafts_in_the_files(tmp_path: Path) -> None:
    path = _file(tmp_path, "a.yaml", ACTIVE_WITH_BARE_DRAFT)
    result = run_cli("validate", path, env=env_for(f"sqlite:///{tmp_path / 'none.db'}"))
    assert result.returncode != 0
    assert "draft 'local' has no subject" in result.stderr and "draft 'local' has no sender" in result.stderr
    fixed = ACTIVE_WITH_BARE_DRAFT.replace(
        'html: "<p>x</p>"', 'html: "<p>x</p>"\n    subject: Hi\n    from_email: a@b.c'
    )
    ok = run_cli("validate", _file(tmp_path, "b.yaml", fixed), env=env_for(f"sqlite:///{tmp_path / 'none.db'}"))
    assert ok.returncode == 0, ok.stderr
