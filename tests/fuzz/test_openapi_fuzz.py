"""The fuzzing tier: Schemathesis runs every operation of /api/v1/openapi.json against the real server.

Per database (SQLite, PostgreSQL) one `st run` child process, with a fixed seed (reproducible), a
bounded number of examples per operation and a hard time limit, goes through the phases: examples,
coverage (deterministic boundary and type-violating values of every parameter and body field; on
SQLite only, see phases()), fuzzing (Hypothesis, positive and negative data) and stateful (sequences
of calls along the links Schemathesis infers). Path parameters are mixed with the keys, addresses and ids of objects
seeded beforehand (tests/fuzz/hooks.py), and a seeded object that a fuzzed DELETE removes is put
back at once.

The tier fails on:

- any 5xx, whether Schemathesis reports it or the server recorder sees it (with the traceback);
- any failure of an ENFORCED check (response conformance: status codes, content types, headers and
  bodies as declared; negative data rejected; missing auth rejected; deleted objects gone;
  undeclared methods answered with 405 and a full `Allow` header);
- a network error, an unresponsive server, or the run exceeding its time limit.

The REPORTED checks (positive_data_acceptance, ensure_resource_availability) run and their findings go to the summary, but
they do not fail the tier: the OpenAPI document declares what JSON Schema can say, and validation
also checks what it cannot (see REPORTED). STEPWISE_FUZZ_STRICT=1 enforces it too. Knobs:
STEPWISE_FUZZ_MAX_EXAMPLES (25), STEPWISE_FUZZ_SEED, STEPWISE_FUZZ_TIMEOUT (seconds, 1500; unloaded a run takes about 7 min on SQLite and 2 on PostgreSQL),
STEPWISE_FUZZ_PHASES (all four on SQLite; on PostgreSQL all but coverage: see phases()),
STEPWISE_FUZZ_ONLY (a path regex: only the operations it matches, within each part).

The SQLite run is the longest test of the suite, so it is cut in two parts by path: the
operations of a sequence's draft here, every other operation in test_openapi_fuzz_sqlite_rest.py.
Each part is a file of its own, so pytest-xdist (`--dist loadfile`) runs the two parts (and the
PostgreSQL run, test_openapi_fuzz_postgresql.py) on both workers instead of one run alone at the
end. The two filters are one regex, included by one part and excluded by the other: together they
cover every operation, and none twice.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fuzz.harness import ARTIFACTS, FuzzTarget, last_lines, record_summary
from tests.fuzz.hooks import CONTEXT_ENV

pytestmark = pytest.mark.fuzz

ROOT = Path(__file__).resolve().parents[2]
# Dictionaries of hostile values mixed into the generated data.
CONFIG = Path(__file__).with_name("schemathesis.toml")

# check name -> the Schemathesis failure codes it reports
ENFORCED = {
    "not_a_server_error": ("ST101", "ST102"),
    "status_code_conformance": ("ST103",),
    "content_type_conformance": ("ST104", "ST105", "ST106"),
    "response_headers_conformance": ("ST107",),
    "response_schema_conformance": ("ST108", "ST109", "ST110", "ST111"),
    "negative_data_rejection": ("ST201",),
    "missing_required_header": ("ST203",),
    "ignored_auth": ("ST401",),
    "use_after_free": ("ST301",),
    # An undeclared method on a declared path gets 405 with the path's methods in Allow (api/app.py).
    "unsupported_method": ("ST204",),
    # The 405 to OPTIONS lists every method of the path in Allow.
    "allow_header_conformance": ("ST205",),
}
REPORTED = {
    # Schema-valid requests rejected. The document declares what JSON Schema can say (address shape,
    # cursor alphabet, http(s) success URLs, time zone names, NUL-free filters, "html or text",
    # "exactly one of where and emails", "set or unset"), but not what depends on other objects or
    # on parsing: a cursor made by the endpoint, references to lists, drafts and sequences that
    # exist, templates that compile, data paths, instants, a CSV file, what parse_email refuses
    # inside the declared shape. Those keep answering 400/422 to schema-valid input.
    "positive_data_acceptance": ("ST202",),
    # A created object must be found by its links. A run is the exception: the worker moves it on its
    # own, and a start whose step 1 leads nowhere (the fuzzer rewrites the sequence) ends at once, so
    # "stop" right after a 201 may rightly answer 404 (no active or paused run).
    "ensure_resource_availability": ("ST302",),
}
SERVER_ERROR_CODES = set(ENFORCED["not_a_server_error"])
# Errors that mean the server or the harness misbehaved (anything else is a generator limitation,
# reported in the summary).
FATAL_ERRORS = {
    "Network Error",
    "Unhealthy API",
    "Unresponsive Operation",
    "Server Unavailable",
    "Hook Error",
    "Configuration Error",
    "Authentication Error",
}

MAX_EXAMPLES = int(os.environ.get("STEPWISE_FUZZ_MAX_EXAMPLES", "25"))
SEED = int(os.environ.get("STEPWISE_FUZZ_SEED", "20260105"))
TIMEOUT = float(os.environ.get("STEPWISE_FUZZ_TIMEOUT", "1500"))
STRICT = os.environ.get("STEPWISE_FUZZ_STRICT", "") not in ("", "0", "false")
ONLY = os.environ.get("STEPWISE_FUZZ_ONLY", "")  # a path regex: reproduce a finding on a few operations
ALL_PHASES = "examples,coverage,fuzzing,stateful"


def phases(dialect: str) -> str:
    """The phases run on a database: all four on SQLite; on PostgreSQL all but coverage.

    The coverage phase is deterministic and by far the largest (about 80,000 cases, nine in ten of
    them type- and bound-violating values that validation refuses before any storage is touched, so
    the same on both databases); the examples, fuzzing and stateful phases put valid and hostile
    data through to PostgreSQL's own storage. Running coverage once keeps the tier inside the
    suite's time budget. STEPWISE_FUZZ_PHASES (a comma-separated list) overrides both.
    """
    return os.environ.get("STEPWISE_FUZZ_PHASES") or (
        ALL_PHASES if dialect == "sqlite" else "examples,fuzzing,stateful"
    )


# The operations of a sequence's draft (GET, PUT, DELETE): the draft PUT alone is about two fifths of
# the SQLite run (a definition is the largest body of the document, and the coverage phase tries
# every boundary of it), so they are the first SQLite part; the second is every other operation.
FIRST_PART = r"/api/v1/sequences/\{key\}/draft$"


@dataclass(frozen=True)
class Part:
    """Which operations one run fuzzes: `key` names its reports folder, `name` its summary; `exclude` is a path regex."""

    key: str
    name: str
    exclude: str | None = None


SEQUENCE_DRAFTS = Part("drafts", "a sequence's draft", exclude=f"^(?!{FIRST_PART})")
THE_REST = Part("rest", "every other operation", exclude=f"^{FIRST_PART}")
EVERY_OPERATION = Part("all", "every operation")


def schemathesis_command(target: FuzzTarget, reports: Path, part: Part) -> list[str]:
    checks = [*ENFORCED, *REPORTED]
    return [
        str(Path(sys.executable).with_name("st")),
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        target.openapi_url,
        "--header",
        f"Authorization: Bearer {target.key}",
        "--checks",
        ",".join(checks),
        "--phases",
        phases(target.dialect),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--workers",
        "1",
        # Keep going after a failure, so one finding does not hide the next in the same operation.
        "--continue-on-failure",
        # Each draw of a sequence definition is filtered for oneOf exclusivity; that is expected.
        "--suppress-health-check",
        "filter_too_much,too_slow",
        "--request-timeout",
        "15",
        "--report",
        "junit,json",
        "--report-junit-path",
        str(reports / "junit.xml"),
        "--report-json-path",
        str(reports / "report.json"),
        *(["--exclude-path-regex", part.exclude] if part.exclude else []),
        *(["--include-path-regex", ONLY] if ONLY else []),
    ]


def run_schemathesis(target: FuzzTarget, reports: Path, part: Part) -> tuple[int | None, str, float, float]:
    """Run `st run` in its own process group; kill the group at the time limit.

    Return the exit code (None when killed), the output, the seconds taken and the CPU seconds of
    the Schemathesis process (the rest of the CPU went to the server in this process).
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks",
        CONTEXT_ENV: json.dumps(target.context),
        "NO_COLOR": "1",
        "COLUMNS": "120",
    }
    started = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with subprocess.Popen(
        schemathesis_command(target, reports, part),
        # Schemathesis keeps a cache (.schemathesis/, with crashes it replays) in its working
        # directory: the fresh report directory keeps every run independent of the previous one.
        cwd=reports,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=TIMEOUT)
            code: int | None = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            code = None
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return code, output, time.monotonic() - started, client_cpu


CASE_SPLIT = re.compile(r"^\d+\. Test Case ID: (\S+)\s*$", re.MULTILINE)
FAILURE_LINE = re.compile(r"^- (ST\d{3}) (.+)$", re.MULTILINE)
STATUS_LINE = re.compile(r"^\[(\d{3})\] ?(.*)$", re.MULTILINE)


def junit_findings(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Failures (one per test case and code, with the response and a curl command) and errors per operation."""
    if not path.exists() or not path.stat().st_size:  # a run killed at the time limit leaves it empty
        return [], []
    failures: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for case in ET.parse(path).getroot().iter("testcase"):
        operation = case.attrib.get("name", "?")
        for element in case:
            text = element.text or ""
            if element.tag == "error":
                errors.append({"operation": operation, "message": last_lines(text, 12)})
                continue
            if element.tag != "failure":
                continue
            parts = CASE_SPLIT.split(text)
            for case_id, chunk in zip(parts[1::2], parts[2::2], strict=True):
                status = STATUS_LINE.search(chunk)
                end = status.start() if status else len(chunk)
                response = chunk[status.end() :].split("Reproduce with:")[0].strip() if status else ""
                curl = chunk.split("Reproduce with:", 1)[1].strip() if "Reproduce with:" in chunk else ""
                found = list(FAILURE_LINE.finditer(chunk, 0, end))
                for index, match in enumerate(found):
                    stop = found[index + 1].start() if index + 1 < len(found) else end
                    failures.append(
                        {
                            "operation": operation,
                            "case_id": case_id,
                            "code": match.group(1),
                            "title": match.group(2).strip(),
                            "message": " ".join(chunk[match.end() : stop].split())[:600],
                            "status": int(status.group(1)) if status else None,
                            "response": response[:600],
                            "curl": curl[:1500],
                        }
                    )
    return failures, errors


def write_findings(path: Path, summary: dict[str, Any], failures: list[dict[str, Any]], target: FuzzTarget) -> None:
    """Markdown for people: every 5xx with its traceback, then the check failures with their inputs."""
    lines = [f"# Fuzzing findings: {summary['database']}", "", summary["headline"], ""]
    lines += ["## 5xx seen by the server", ""]
    if not target.recorder.server_errors:
        lines.append("none")
    for error in target.recorder.server_errors:
        lines += [
            f"### {error.status} {error.method} {error.path}{'?' + error.query if error.query else ''}",
            f"case id: {error.case_id}",
            "",
            "```",
            f"body: {error.body[:800]}",
            last_lines(error.traceback, 12) or "(no exception: the app answered 5xx itself)",
            "```",
            "",
        ]
    lines += ["", "## Check failures", ""]
    if not failures:
        lines.append("none")
    for failure in failures:
        kind = "ENFORCED" if failure["enforced"] else "reported"
        lines += [
            f"### [{kind}] {failure['code']} {failure['title']}: {failure['operation']} -> {failure['status']}",
            "",
            failure["message"],
            "",
            "```",
            failure["response"],
            failure["curl"],
            "```",
            "",
        ]
    if target.recorder.log_errors:
        lines += ["", "## Errors logged by the server and the worker", ""]
        for record in target.recorder.log_errors:
            lines += [f"- {record['logger']}: {record['message']}", "```", record["traceback"], "```"]
    path.write_text("\n".join(lines) + "\n")


# The first SQLite part here; the second in test_openapi_fuzz_sqlite_rest.py and PostgreSQL (every
# operation) in test_openapi_fuzz_postgresql.py: files of their own, so that pytest-xdist
# (`--dist loadfile`) runs them on both workers side by side.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_operations_of_a_sequence_draft(fuzz_target: FuzzTarget) -> None:
    fuzz_operations(fuzz_target, SEQUENCE_DRAFTS)


def fuzz_operations(fuzz_target: FuzzTarget, part: Part) -> None:
    """Run Schemathesis over the part's operations; fail on 5xx, enforced checks and fatal errors."""
    dialect = fuzz_target.dialect
    label, folder = (f"{dialect} ({part.name})", f"{dialect}-{part.key}") if part.exclude else (dialect, dialect)
    reports = ARTIFACTS / "fuzz" / folder
    shutil.rmtree(reports, ignore_errors=True)
    reports.mkdir(parents=True)

    server_cpu = time.process_time()
    code, output, seconds, client_cpu = run_schemathesis(fuzz_target, reports, part)
    server_cpu = time.process_time() - server_cpu
    (reports / "schemathesis.txt").write_text(output)
    report: dict[str, Any] = {}
    if (reports / "report.json").exists() and (reports / "report.json").stat().st_size:
        report = json.loads((reports / "report.json").read_text())
    failures, operation_errors = junit_findings(reports / "junit.xml")

    enforced_codes = {c for codes in ENFORCED.values() for c in codes}
    if STRICT:
        enforced_codes |= {c for codes in REPORTED.values() for c in codes}
    for failure in failures:
        failure["enforced"] = failure["code"] in enforced_codes
    enforced = [f for f in failures if f["enforced"]]
    reported = [f for f in failures if not f["enforced"]]
    server_errors = fuzz_target.recorder.server_errors
    st_server_errors = [f for f in failures if f["code"] in SERVER_ERROR_CODES]
    errors = report.get("errors", [])
    fatal = [e for e in errors if e.get("title") in FATAL_ERRORS]

    by_code: dict[str, dict[str, Any]] = {}
    for failure in failures:
        entry = by_code.setdefault(
            failure["code"],
            {"title": failure["title"], "enforced": failure["enforced"], "cases": 0, "operations": set()},
        )
        entry["cases"] += 1
        entry["operations"].add(failure["operation"])
    operations = report.get("operations") or {}
    cases = (report.get("test_cases") or {}).get("generated", 0)
    gaps = ", ".join(f"{c} x{e['cases']}" for c, e in sorted(by_code.items()) if not e["enforced"])
    headline = (
        f"{label}: {operations.get('tested', '?')}/{operations.get('selected', '?')} operations "
        f"(of {operations.get('total', '?')} in the document), "
        f"{cases} cases, {fuzz_target.recorder.requests()} requests served, "
        f"{len(server_errors)} server errors (5xx), {len(enforced)} enforced-check failures, "
        f"{len(reported)} reported conformance gaps "
        f"({gaps or 'none'}), "
        f"{len(errors)} Schemathesis errors, {len(fuzz_target.recorder.log_errors)} logged errors, {seconds:.0f} s"
        + ("" if code is not None else f" (KILLED at the {TIMEOUT:.0f} s limit)")
    )
    summary = {
        "database": label,
        "part": part.name,
        "headline": headline,
        "seconds": round(seconds, 1),
        "schemathesis_cpu_seconds": round(client_cpu, 1),
        "server_cpu_seconds": round(server_cpu, 1),
        "timed_out": code is None,
        "exit_code": code,
        "seed": SEED,
        "max_examples": MAX_EXAMPLES,
        "strict": STRICT,
        "stop_reason": report.get("stop_reason"),
        "operations": operations,
        "phases": report.get("phases"),
        "cases": cases,
        "requests_served": fuzz_target.recorder.requests(),
        "statuses": {str(k): v for k, v in sorted(fuzz_target.recorder.statuses.items())},
        "server_errors": len(server_errors),
        "server_error_samples": [e.as_dict() | {"traceback": last_lines(e.traceback)} for e in server_errors[:20]],
        "failures_by_code": {
            c: e | {"operations": sorted(e["operations"])} for c, e in sorted(by_code.items(), key=lambda i: i[0])
        },
        "schemathesis_errors": errors,
        "operation_errors": operation_errors,
        "warnings": {k: v for k, v in (report.get("warnings") or {}).items() if v},
        "log_errors": fuzz_target.recorder.log_errors[:20],
    }
    record_summary(summary)
    write_findings(reports / "findings.md", summary, failures, fuzz_target)

    problems = []
    if code is None:
        problems.append(f"the run was killed at the {TIMEOUT:.0f} s limit")
    elif code not in (0, 1) or not report:
        problems.append(f"Schemathesis exited with {code} without a report:\n{last_lines(output, 30)}")
    elif report.get("stop_reason") != "completed":
        problems.append(f"the run stopped early: {report.get('stop_reason')}")
    if server_errors:
        problems.append(
            f"{len(server_errors)} server errors (5xx), e.g.:\n"
            + "\n".join(
                f"  {e.status} {e.method} {e.path}?{e.query} body={e.body[:200]!r}\n    {last_lines(e.traceback, 2)}"
                for e in server_errors[:5]
            )
        )
    if st_server_errors and not server_errors:
        problems.append(f"Schemathesis saw {len(st_server_errors)} server errors the recorder missed")
    if enforced:
        problems.append(
            f"{len(enforced)} enforced-check failures, e.g.:\n"
            + "\n".join(f"  {f['code']} {f['title']}: {f['operation']}\n    {f['curl'][:300]}" for f in enforced[:5])
        )
    if fatal:
        problems.append(f"Schemathesis errors: {fatal}")
    assert not problems, f"{headline}\n" + "\n".join(problems) + f"\nsee {reports}/findings.md"
