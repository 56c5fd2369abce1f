"""Checks at the edge of every API route: JSON bodies, path and query parameters (SPEC §8).

`CheckedRoute` parses a JSON body once, with `domain.jsonvalues.loads`, before FastAPI validates it:
NaN, Infinity, numbers that overflow, integers beyond 64 bits, NUL characters and nesting deeper
than `MAX_DEPTH` get a 422 naming the JSON path. FastAPI then validates the value already parsed.
Malformed JSON is left to FastAPI, which answers 400 `malformed`. Path and query parameters may not
hold NUL either (PostgreSQL cannot compare text with it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

from stepwise.domain import jsonvalues
from stepwise.domain.problems import Invalid, Problem
from stepwise.errors import Unprocessable, UnsupportedMediaType
from stepwise.services.edge import parameter_problems

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class CheckedRequest(Request):
    """A request whose JSON body was parsed and checked before FastAPI asks for it."""

    checked: bool = False
    value: Any = None
    takes_json: bool = False

    async def json(self) -> Any:
        if self.checked:
            return self.value
        return await super().json()

    async def check(self) -> None:
        """Refuse parameters with NUL and JSON bodies that hold values Stepwise cannot store."""
        problems = parameter_problems(self)
        if problems:
            raise Unprocessable.of(problems, _message(problems))
        if self.method in ("GET", "HEAD", "DELETE", "OPTIONS"):
            return
        content_type = self.headers.get("content-type")
        if not _is_json(content_type):
            if self.takes_json and await self.body():
                sent = f"it was sent as {content_type.split(';', 1)[0][:80]}" if content_type else "no Content-Type"
                raise UnsupportedMediaType(f"send the body as application/json ({sent})")
            return
        body = await self.body()
        if not body:
            return
        try:
            self.value = jsonvalues.loads(body)
        except json.JSONDecodeError:
            return  # FastAPI parses it again and answers 400 with where it failed
        except UnicodeDecodeError:
            return
        except Invalid as exc:
            raise Unprocessable.of(exc.problems, _message(exc.problems)) from exc
        self.checked = True


class CheckedRoute(APIRoute):
    """An API route whose input passes `CheckedRequest.check` before FastAPI reads it.

    A path segment in the place of an `{email}` or `{address}` parameter selects the route only if it
    holds an @: `/subscribers/bulk-update` is the bulk update's path (405 for other methods), not an
    address, and so are `/suppressions/import` and `/suppressions/export.csv`.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        params = child_scope.get("path_params", {}) if match != Match.NONE else {}
        for name in ("email", "address"):  # an address (or @domain) always holds an @
            value = params.get(name)
            if isinstance(value, str) and "@" not in value:
                return Match.NONE, {}
        return match, child_scope

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            wrapped = CheckedRequest(request.scope, request.receive)
            wrapped.takes_json = self.body_field is not None
            await wrapped.check()
            return await handler(wrapped)

        return checked


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def _message(problems: list[Problem]) -> str:
    return f"the input is invalid: {jsonvalues.first_problem_text(problems)}"
