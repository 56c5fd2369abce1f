"""The fuzzing tier's second SQLite part (see test_openapi_fuzz.py): every operation but those of a
sequence's draft, in a file of its own so that pytest-xdist (`--dist loadfile`) runs it on one worker
while the first part runs on the other."""

from __future__ import annotations

import pytest

from tests.fuzz.harness import FuzzTarget
from tests.fuzz.test_openapi_fuzz import THE_REST, fuzz_operations


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_other_operation(fuzz_target: FuzzTarget) -> None:
    fuzz_operations(fuzz_target, THE_REST)
