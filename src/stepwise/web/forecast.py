"""The Forecast panel of a sequence's page (SPEC S21): sample size, horizon, open and click rates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from stepwise.domain.problems import from_validation_error
from stepwise.errors import AppError, Unprocessable
from stepwise.services import forecast as forecast_service
from stepwise.services import sequences as sequence_service
from stepwise.services.forecast import ForecastRequest
from stepwise.web.pages import FormDep, PageDep, is_htmx, text_of

router = APIRouter(include_in_schema=False)
DEFAULTS = {"version": "live", "sample": "1000", "horizon": "30d", "open_rate": "40", "click_rate": "10", "seed": ""}


def form_values(form: FormData | None = None) -> dict[str, str]:
    """What the panel's fields show: the defaults, or what was posted."""
    return {name: (text_of(form, name).strip() if form is not None else default) for name, default in DEFAULTS.items()}


@router.post("/sequences/{key}/forecast")
def forecast(page: PageDep, form: FormDep, key: str) -> Response:
    """Forecast the chosen definition (live, draft or a version number) and show its predicted counts on its steps."""
    seq = sequence_service.get(page.stepwise.db, page.account.id, key)
    values = form_values(form)
    result: Any = None
    picture = seq.definition
    error = ""
    status = 200
    try:
        body = _request(values)
        result = forecast_service.simulate(page.stepwise.db, page.account.id, key, body, page.now())
        chosen = forecast_service.definition_of(page.stepwise.db, page.account.id, key, body.version)
        picture = chosen.model_dump(mode="json", by_alias=True, exclude_none=True)
    except AppError as exc:
        error, status = _message(exc), exc.status
    context = {"seq": seq, "values": values, "forecast": result, "forecast_error": error, "picture": picture}
    if is_htmx(page.request):
        return page.render("sequences/_forecast.html", status=status, **context)
    return page.render("sequences/forecast.html", status=status, nav="sequences", **context)


def _request(values: dict[str, str]) -> ForecastRequest:
    version = values["version"] or "live"
    raw: dict[str, Any] = {
        "version": int(version) if version.isdigit() else version,
        "sample": _number(values["sample"], 1),
        "horizon": values["horizon"],
        "assume": {"open_rate": _number(values["open_rate"], 0.01), "click_rate": _number(values["click_rate"], 0.01)},
    }
    if values["seed"]:
        raw["seed"] = _number(values["seed"], 1)
    try:
        return ForecastRequest.model_validate(raw)
    except ValidationError as exc:
        raise Unprocessable.of(from_validation_error(exc, raw)) from exc


def _number(text: str, scale: float) -> Any:
    """A whole number (scale 1) or a percentage as a share (scale 0.01); the text itself if it is neither."""
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if scale == 1 and value.is_integer() else value * scale


_LABELS = {
    "$.version": "Version",
    "$.sample": "Sample size",
    "$.horizon": "Horizon",
    "$.assume.open_rate": "Open rate",
    "$.assume.click_rate": "Click rate",
    "$.seed": "Seed",
}


def _message(exc: AppError) -> str:
    details = exc.details if isinstance(exc.details, list) else []
    parts = [f"{_LABELS.get(str(d.get('path')), d.get('path'))}: {d.get('message')}" for d in details]
    return "; ".join(parts) if parts else exc.message
