"""`POST /sequences/{key}/simulate`: forecast a sequence on a sample of real subscribers (SPEC S21)."""

from __future__ import annotations

from fastapi import APIRouter

from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.api.common import KeyPath
from stepwise.services import forecast as service
from stepwise.services.forecast import ForecastOut, ForecastRequest

router = APIRouter(prefix="/sequences", tags=["sequences"], route_class=CheckedRoute)


@router.post("/{key}/simulate", response_model=ForecastOut)
def simulate(key: KeyPath, body: ForecastRequest, account: Account, app: App) -> ForecastOut:
    """Forecast: a seeded random sample enters by S9 now and lives `horizon` on a virtual clock with the
    assumed open, click and custom-event rates. Reads one snapshot; writes nothing, sends nothing."""
    return service.simulate(app.db, account.id, key, body, app.clock())
