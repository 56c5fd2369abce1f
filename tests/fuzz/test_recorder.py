"""The server recorder of the fuzzing tier sees every 5xx, with its request and traceback (no server needed)."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fuzz.harness import Recorder


async def _fine(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def _broken(request: Request) -> JSONResponse:
    await request.body()
    raise ValueError("boom at the bottom")


async def _unavailable(request: Request) -> JSONResponse:
    return JSONResponse({"error": "busy"}, status_code=503)


def test_the_recorder_keeps_each_5xx_with_its_request_and_traceback() -> None:
    recorder = Recorder()
    app = Starlette(
        routes=[
            Route("/fine", _fine),
            Route("/broken", _broken, methods=["POST"]),
            Route("/unavailable", _unavailable),
        ]
    )
    transport = httpx.ASGITransport(app=recorder.wrap(app), raise_app_exceptions=False)

    async def calls() -> list[int]:
        async with httpx.AsyncClient(transport=transport, base_url="http://fuzz.test") as client:
            return [
                (await client.get("/fine")).status_code,
                (
                    await client.post(
                        "/broken?x=1", content=b'{"a": 1}', headers={"X-Schemathesis-TestCaseId": "abc123"}
                    )
                ).status_code,
                (await client.get("/unavailable")).status_code,
            ]

    assert asyncio.run(calls()) == [200, 500, 503]
    assert recorder.requests() == 3
    assert dict(recorder.statuses) == {200: 1, 500: 1, 503: 1}
    broken, unavailable = recorder.server_errors
    assert (broken.method, broken.path, broken.query, broken.body) == ("POST", "/broken", "x=1", '{"a": 1}')
    assert broken.case_id == "abc123"
    assert broken.traceback is not None and "ValueError: boom at the bottom" in broken.traceback
    assert (unavailable.status, unavailable.traceback) == (503, None)
