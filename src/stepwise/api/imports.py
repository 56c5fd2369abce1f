"""/imports: CSV upload (multipart) with the import report, and import records for progress (SPEC §5)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from stepwise.api.auth import Account, App
from stepwise.api.checked import CheckedRoute
from stepwise.api.common import Limit
from stepwise.domain.keys import is_key
from stepwise.domain.problems import Problem
from stepwise.errors import AppError, TooLarge, Unprocessable
from stepwise.services import imports as service
from stepwise.services.imports import ImportRecord, ImportReport, ImportsOut

router = APIRouter(prefix="/imports", tags=["imports"], route_class=CheckedRoute)

_FIELDS = ("file", "list", "update_existing", "trigger_events")
_BOOLEANS = {"true": True, "1": True, "on": True, "yes": True, "false": False, "0": False, "off": False, "no": False}
_UPLOAD = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "UTF-8 CSV with a header row"},
                        "list": {"type": "string", "description": "add every row to this list"},
                        "update_existing": {"type": "boolean", "default": True},
                        "trigger_events": {"type": "boolean", "default": False},
                    },
                }
            }
        },
    }
}


class Malformed(AppError):
    """The request is not a multipart upload we can read."""

    status = 400
    code = "malformed"


async def _limited(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    # The body-size middleware lets uploads stream, so their size is counted here.
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the upload is larger than {limit} bytes")
        yield chunk


def _options(fields: dict[str, str]) -> service.ImportOptions:
    problems: list[Problem] = []
    flags: dict[str, bool] = {}
    for name, default in (("update_existing", True), ("trigger_events", False)):
        raw = fields.get(name, "").strip().lower()
        if raw and raw not in _BOOLEANS:
            problems.append(Problem(f"$.{name}", "must be true or false"))
        flags[name] = _BOOLEANS.get(raw, default)
    list_key = fields.get("list", "").strip() or None
    if list_key is not None and not is_key(list_key):
        problems.append(Problem("$.list", "must be a list key"))
    if problems:
        raise Unprocessable.of(problems)
    return service.ImportOptions(list_key=list_key, **flags)


@router.post(
    "",
    status_code=201,
    openapi_extra=_UPLOAD,
    response_model=ImportReport,
    responses={201: {"description": "The import report"}},
)
async def create_import(request: Request, account: Account, app: App, response: Response) -> ImportReport:
    """Import a CSV file (field `file`) with options `list`, `update_existing`, `trigger_events`.

    Rows are processed as the file is read; the reply is the report (line 1 is the header). A file
    that cannot be imported at all (no `email` column, not UTF-8, empty) gets 422 with the report
    as details. `GET /imports/{id}` shows the same record while an import runs.
    """
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise Malformed("send the file as multipart/form-data in the field `file`")
    parser = MultiPartParser(
        request.headers,
        _limited(request, app.settings.max_upload_bytes),
        max_files=1,
        max_fields=len(_FIELDS),
        max_part_size=4096,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise Malformed(f"the multipart body cannot be read: {exc.message}") from exc
    try:
        unknown = sorted({name for name in form if name not in _FIELDS})
        if unknown:
            raise Unprocessable.of([Problem(f"$.{name}", "unknown field") for name in unknown])
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Unprocessable.one("$.file", "attach the CSV file in the field `file`")
        fields = {name: value for name, value in form.items() if isinstance(value, str)}
        options = _options(fields)
        report = await run_in_threadpool(
            service.run_import,
            app.db,
            account.id,
            upload.file,
            options,
            app.clock(),
            filename=(upload.filename or "").replace("\0", "")[:300] or None,
            clock=app.clock,
        )
    finally:
        await form.close()
    response.headers["Location"] = f"{request.url.path}/{report.id}"
    return report


@router.get("", response_model=ImportsOut)
def list_imports(account: Account, app: App, limit: Limit = 50) -> ImportsOut:
    """The account's imports, newest first."""
    return ImportsOut(items=service.list_imports(app.db, account.id, limit))


@router.get("/{import_id}", response_model=ImportRecord)
def get_import(account: Account, app: App, import_id: str = Path(max_length=64)) -> ImportRecord:
    """One import: status (running, done, failed), options, counts so far and the first row errors."""
    return service.get_import(app.db, account.id, import_id)
