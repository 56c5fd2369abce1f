"""Checks at the HTTP edge that the API and the UI share: who is asking, and parameters holding NUL."""

from __future__ import annotations

from starlette.requests import Request

from stepwise.domain import jsonvalues
from stepwise.domain.problems import Problem


def client_address(request: Request) -> str:
    """The address failures are counted against (the proxy's, unless uvicorn trusts its forwarded headers)."""
    return request.client.host if request.client else "unknown"


def parameter_problems(request: Request) -> list[Problem]:
    """Path and query parameters holding NUL, as `path.<name>` and `query.<name>` problems."""
    found = [
        Problem(f"path.{name}", jsonvalues.HAS_NUL)
        for name, value in request.path_params.items()
        if isinstance(value, str) and "\0" in value
    ]
    for name, value in request.query_params.multi_items():
        if "\0" in name or "\0" in value:
            found.append(Problem(f"query.{name.replace(chr(0), '?')}", jsonvalues.HAS_NUL))
    return found
