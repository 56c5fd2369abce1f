"""/sequences/{key}/versions, /draft and /publish: versions, the draft and publishing it (SPEC §13, S16-S18)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.api.common import KeyPath
from stepwise.domain.definition import SequenceDefinition
from stepwise.services import publishing
from stepwise.services import versions as service
from stepwise.services.impact import Impact
from stepwise.services.publishing import DraftOut, Published, PublishIn
from stepwise.services.versions import VersionDetail, VersionsOut

router = APIRouter(prefix="/sequences", tags=["sequences"], route_class=CheckedRoute)

Number = Annotated[int, Path(ge=1, le=2_000_000_000, description="the version number")]


@router.get("/{key}/versions", response_model=VersionsOut)
def versions(key: KeyPath, account: Account, app: App) -> VersionsOut:
    """Every published version, newest first: number, when, who, note, mode and the open runs on it now."""
    return service.all_versions(app.db, account.id, key)


@router.get("/{key}/versions/{number}", response_model=VersionDetail)
def version(key: KeyPath, number: Number, account: Account, app: App) -> VersionDetail:
    """One published version with its definition."""
    return service.one_version(app.db, account.id, key, number)


@router.put("/{key}/draft", response_model=DraftOut)
def put_draft(key: KeyPath, definition: SequenceDefinition, account: Account, app: App) -> DraftOut:
    """Store the draft (validated as a definition; 422 lists every problem). Nothing live changes."""
    document = definition.model_dump(mode="json", by_alias=True)
    return publishing.put_draft(app.db, account.id, key, document, app.clock())


@router.get("/{key}/draft", response_model=DraftOut)
def get_draft(key: KeyPath, account: Account, app: App) -> DraftOut:
    """The draft; 404 when there is none."""
    return publishing.get_draft(app.db, account.id, key)


@router.delete("/{key}/draft", status_code=204)
def delete_draft(key: KeyPath, account: Account, app: App) -> Response:
    """Throw the draft away; 404 when there is none."""
    publishing.delete_draft(app.db, account.id, key)
    return Response(status_code=204)


@router.post("/{key}/publish", response_model=Published | Impact)
def publish(key: KeyPath, body: PublishIn, account: Account, app: App) -> Published | Impact:
    """Make the draft the next version (409 `no_draft`); with `dry_run` return the impact preview only."""
    return publishing.publish(app.db, account.id, key, body, app.clock())


@router.post("/{key}/versions/{number}/restore", response_model=DraftOut)
def restore(key: KeyPath, number: Number, account: Account, app: App) -> DraftOut:
    """Copy a version into the draft (publish it to make it live)."""
    return publishing.restore(app.db, account.id, key, number, app.clock())
