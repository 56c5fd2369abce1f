"""Tracking pages reached from emails: click redirect, open pixel, unsubscribe (SPEC §6.3).

There is no API key here: the signed token in the path is the credential (services/tracking.py
checks it). A token that does not verify gets 404 and changes nothing.
"""

from __future__ import annotations

import base64
import html

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from stepwise.services.context import Context
from stepwise.services.tracking import record_click, record_open, unsubscribe, unsubscribe_state

router = APIRouter(prefix="/t", include_in_schema=False)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")  # 1x1 transparent GIF
_NO_STORE = {"Cache-Control": "no-store, private", "X-Robots-Tag": "noindex, nofollow"}


def app_of(request: Request) -> Context:
    context: Context = request.app.state.stepwise
    return context


# -- routes ------------------------------------------------------------------------------------


@router.get("/c/{token}")
def click(token: str, request: Request) -> Response:
    """Redirect (302) to the link's original URL after recording the click."""
    app = app_of(request)
    url = record_click(app, token, app.clock())
    if url is None:
        return _not_found()
    # Location must be ASCII: percent-encode only non-ASCII characters, leaving the URL otherwise exact.
    location = "".join(ch if ch.isascii() else "".join(f"%{b:02X}" for b in ch.encode()) for ch in url)
    return Response(status_code=302, headers={"Location": location, "Referrer-Policy": "no-referrer", **_NO_STORE})


@router.get("/o/{token}")
def pixel(token: str, request: Request) -> Response:
    """Return the 1x1 open pixel after recording the open."""
    app = app_of(request)
    if not record_open(app, token, app.clock()):
        return _not_found()
    return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)


@router.get("/u/{token}")
def unsubscribe_page(token: str, request: Request) -> Response:
    """Show the unsubscribe page with a confirm button; a GET changes nothing (link scanners follow links)."""
    app = app_of(request)
    state = unsubscribe_state(app, token)
    if state is None:
        return _not_found()
    if state.unsubscribed:
        return _page("Unsubscribed", f"<p>{html.escape(state.email)} is unsubscribed.</p>")
    form = (
        f"<p>Stop emails to <strong>{html.escape(state.email)}</strong>?</p>"
        '<form method="post">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button>'
        "</form>"
    )
    return _page("Unsubscribe", form)


@router.post("/u/{token}")
def unsubscribe_post(token: str, request: Request) -> Response:
    """Unsubscribe: the page's button and the RFC 8058 one-click POST (List-Unsubscribe=One-Click)."""
    app = app_of(request)
    state = unsubscribe(app, token, app.clock())
    if state is None:
        return _not_found()
    return _page("Unsubscribed", f"<p>{html.escape(state.email)} will get no more of these emails.</p>")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:1.1rem/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}"
        "button{font:inherit;padding:.5rem 1.25rem;cursor:pointer}</style>"
        f"</head><body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(text, status_code=status, headers=_NO_STORE)


def _not_found() -> HTMLResponse:
    return _page("Link not valid", "<p>This link is not valid. It may have been copied incompletely.</p>", 404)
