"""API-key authentication: `Authorization: Bearer <key>` names the account of every call.

The key's scope (SPEC S34) is checked here, for every endpoint at once, by method and path
(domain/access.py): a call outside it gets 403 `forbidden`. The key's name becomes the actor of the
audit log (services/audit.py).

Wrong keys are counted per client address and per key prefix (services/throttle.py); after 20 in a
row the client gets 429 `rate_limited` with Retry-After until its lock runs out.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from stepwise.domain.access import scope_allows
from stepwise.errors import Unauthorized
from stepwise.services import audit
from stepwise.services.accounts import AccountRow, check_key, note_use
from stepwise.services.context import Context
from stepwise.services.edge import client_address
from stepwise.services.throttle import TooManyFailures
from stepwise.services.users import Forbidden

_bearer = HTTPBearer(auto_error=False, description="An account's API key")


def app_of(request: Request) -> Context:
    app: Context = request.app.state.stepwise
    return app


async def current_account(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> AccountRow:
    """Return the account of the bearer key, or fail with 401 (429 after too many wrong keys)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    stepwise = app_of(request)
    try:
        found = await run_in_threadpool(
            check_key, stepwise.db, stepwise.throttle, client_address(request), credentials.credentials
        )
    except TooManyFailures as exc:
        raise HTTPException(
            429,
            f"too many wrong API keys from this address; retry in {exc.retry_after} s",
            headers={"Retry-After": str(exc.retry_after)},
        ) from exc
    if found is None:
        raise Unauthorized("the API key is not valid")
    path = request.url.path.removeprefix("/api/v1")
    if not scope_allows(found.scope, request.method, path):
        raise Forbidden(f"the API key {found.name!r} has scope {found.scope!r}, which does not allow this call")
    audit.set_actor(f"key:{found.name}")
    request.state.key_id = found.key_id
    now = stepwise.clock()
    if found.use_due(now):  # a write at most once a minute per key; no thread hop otherwise
        await run_in_threadpool(note_use, stepwise.db, found.key_id, now)
    return found.account


Account = Annotated[AccountRow, Depends(current_account)]
App = Annotated[Context, Depends(app_of)]
