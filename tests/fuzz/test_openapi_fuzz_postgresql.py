"""The fuzzing tier on PostgreSQL (see test_openapi_fuzz.py): every operation in one run (without the
coverage phase, it takes about a tenth of the SQLite run's time), in a file of its own so that pytest-xdist
(`--dist loadfile`) runs it beside the SQLite parts."""

from __future__ import annotations

import pytest

from tests.fuzz.harness import FuzzTarget
from tests.fuzz.test_openapi_fuzz import EVERY_OPERATION, fuzz_operations


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_every_operation_of_the_openapi_document(fuzz_target: FuzzTarget) -> None:
    fuzz_operations(fuzz_target, EVERY_OPERATION)
