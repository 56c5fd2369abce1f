"""/keys: the account's named, scoped API keys (SPEC S34); a new key's secret is in the answer, once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from stepwise.api import schemas
from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.services import keys
from stepwise.services.keys import KeyList, KeyOut, NewKeyOut

router = APIRouter(prefix="/keys", tags=["keys"], route_class=CheckedRoute)
KeyId = Annotated[int, Path(ge=1, le=2**53, description="the key's id (from GET /keys)")]


@router.get("", response_model=KeyList)
def list_keys(account: Account, app: App) -> KeyList:
    """Every key of the account (revoked ones too), never a secret."""
    return keys.list_keys(app.db, account.id)


@router.post("", response_model=NewKeyOut, status_code=201)
def create_key(body: schemas.KeyCreate, account: Account, app: App) -> NewKeyOut:
    """Make a key with a name and a scope (`read`, `write` or `events`); its secret is shown this once."""
    return keys.create_key(app.db, account.id, body.name, body.scope, app.clock())


@router.delete("/{key_id}", response_model=KeyOut)
def revoke_key(key_id: KeyId, account: Account, app: App, request: Request) -> KeyOut:
    """Revoke a key: calls with it get 401 from now on (409 `key_in_use` for the key making the call)."""
    return keys.revoke(app.db, account.id, key_id, app.clock(), calling=getattr(request.state, "key_id", None))
