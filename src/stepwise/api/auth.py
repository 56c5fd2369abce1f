"""API-key authentication: `Authorization: Bearer <key>` names the account of every call.

Wrong keys are counted per client address and per key prefix (services/throttle.py); after 20 in a
row the client gets 429 `rate_limited` with Retry-After until its lock runs out.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from stepwise.errors import Unauthorized
from stepwise.services.accounts import AccountRow, check_key
from stepwise.services.context import Context
from stepwise.services.edge import client_address
from stepwise.services.throttle import TooManyFailures

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
    return found.account


Account = Annotated[AccountRow, Depends(current_account)]
App = Annotated[Context, Depends(app_of)]
