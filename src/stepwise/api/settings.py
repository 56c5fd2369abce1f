"""/settings: the account's time zone, default sender, reply-to, send window, caps, soft-bounce limit."""

from __future__ import annotations

from fastapi import APIRouter

from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.services import settings as service
from stepwise.services.settings import AccountSettings

router = APIRouter(prefix="/settings", tags=["settings"], route_class=CheckedRoute)


@router.get("", response_model=AccountSettings, response_model_by_alias=True)
def get_settings(account: Account, app: App) -> AccountSettings:
    """The settings; what was never set shows its default."""
    return service.get(app.db, account.id)


@router.put("", response_model=AccountSettings, response_model_by_alias=True)
def put_settings(body: AccountSettings, account: Account, app: App) -> AccountSettings:
    """Replace the settings as a whole (a field left out goes back to its default)."""
    return service.put(app.db, account.id, body, app.clock())
