"""API-key authentication: `Authorization: Bearer <key>` names the account of every call."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from stepwise.bootstrap import Stepwise
from stepwise.errors import Unauthorized
from stepwise.services.accounts import authenticate
from stepwise.storage.accounts import AccountRow

_bearer = HTTPBearer(auto_error=False, description="An account's API key")


def app_of(request: Request) -> Stepwise:
    app: Stepwise = request.app.state.stepwise
    return app


async def current_account(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> AccountRow:
    """Return the account of the bearer key, or fail with 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    from starlette.concurrency import run_in_threadpool

    account = await run_in_threadpool(authenticate, app_of(request).db, credentials.credentials)
    if account is None:
        raise Unauthorized("the API key is not valid")
    return account


Account = Annotated[AccountRow, Depends(current_account)]
App = Annotated[Stepwise, Depends(app_of)]
