"""Schemathesis hooks for the fuzzing tier, loaded by the `st` child process (SCHEMATHESIS_HOOKS).

The parent test seeds a fresh database and passes what it made in STEPWISE_FUZZ_CONTEXT (JSON):

- `path_values`: existing values per path parameter name (`key`, `email`, `issue_id`, `import_id`);
  generated path parameters are mixed with them, so an operation reaches real objects as well as
  the 404 path; positive request bodies with an `email` (events, runs, previews) get seeded
  addresses half of the time, so they reach real subscribers;
- `restore`: for each seeded object's path, the requests that recreate it; when a fuzzed DELETE
  removes a seeded object, it is put back at once, so later operations still find it (not in the
  stateful phase, which runs last and checks that deleted objects stay deleted).

Without STEPWISE_FUZZ_CONTEXT nothing is registered (importing this module from pytest is harmless).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any
from urllib.parse import unquote

import requests
import schemathesis
from hypothesis import strategies as st

CONTEXT_ENV = "STEPWISE_FUZZ_CONTEXT"

# The predicate and definition schemas are deeply recursive; Schemathesis builds their strategies
# recursively and can run out of Python's default stack of 1000 frames on deep draws.
RECURSION_LIMIT = 5000


def _as_bytes(ctx: Any, value: Any) -> bytes:
    """Bodies of the raw media types (a report message, a CSV file): strings as UTF-8, anything else as JSON."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()


def _register(context: dict[str, Any]) -> None:
    for media_type in ("message/rfc822", "text/csv"):
        schemathesis.serializer(media_type)(_as_bytes)
    values: dict[str, list[Any]] = context["path_values"]
    restore: dict[str, list[list[Any]]] = context["restore"]
    base_url: str = context["base_url"]
    headers = {"Authorization": f"Bearer {context['key']}"}

    @schemathesis.hook
    def before_generate_path_parameters(hook: schemathesis.HookContext, strategy: st.SearchStrategy) -> Any:
        operation = hook.operation
        if operation is None:
            return strategy
        names = [parameter.name for parameter in operation.path_parameters]
        if not names or any(name not in values for name in names):
            return strategy
        seeded = st.fixed_dictionaries({name: st.sampled_from(values[name]) for name in names})
        return st.one_of(strategy, seeded)

    @schemathesis.hook
    def before_generate_case(hook: schemathesis.HookContext, strategy: st.SearchStrategy) -> Any:
        emails = values.get("email")
        if not emails:
            return strategy

        def addressed(drawn: tuple[schemathesis.Case, str]) -> schemathesis.Case:
            case, email = drawn
            meta = case.meta
            positive = meta is None or meta.generation.mode.is_positive
            if positive and isinstance(case.body, dict) and "email" in case.body:
                case.body = {**case.body, "email": email}
            return case

        return st.one_of(strategy, st.tuples(strategy, st.sampled_from(emails)).map(addressed))

    @schemathesis.hook
    def after_call(hook: schemathesis.HookContext, case: schemathesis.Case, response: schemathesis.Response) -> None:
        if case.method.upper() != "DELETE" or response.status_code >= 300:
            return
        if case.meta is not None and case.meta.phase.name == "stateful":
            # The stateful phase checks that a deleted object stays deleted (use_after_free); it
            # runs last, so what it deletes is not needed afterwards.
            return
        for method, path, body in restore.get(unquote(case.formatted_path), []):
            requests.request(method, base_url + path, json=body, headers=headers, timeout=10)


_raw = os.environ.get(CONTEXT_ENV)
if _raw:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    _register(json.loads(_raw))
