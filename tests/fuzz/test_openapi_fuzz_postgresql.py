"""The fuzzing tier on PostgreSQL (see test_openapi_fuzz.py): a file of its own, so that pytest-xdist
(`--dist loadfile`) runs it on one worker while the SQLite run goes on the other."""

from __future__ import annotations

import pytest

from tests.fuzz.harness import FuzzTarget
from tests.fuzz.test_openapi_fuzz import test_every_operation_of_the_openapi_document as fuzz_every_operation


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_every_operation_of_the_openapi_document(fuzz_target: FuzzTarget) -> None:
    fuzz_every_operation(fuzz_target)
