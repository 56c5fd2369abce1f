"""CSV imports: upload with progress, the report, and the account's recent imports (SPEC §5).

With htmx the upload returns at once and the import runs in a thread of this process while the page
polls its progress; without JavaScript the upload waits for the import and then shows its report.
"""

from __future__ import annotations

import importlib
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from stepwise.errors import AppError, NotFound
from stepwise.services import lists as list_service
from stepwise.web.pages import FormDep, Page, PageDep, PageRoute, is_htmx, text_of
from stepwise.web.problems import from_error

if TYPE_CHECKING:
    from stepwise.services.imports import ImportReport

router = APIRouter(route_class=PageRoute, include_in_schema=False)
UPLOAD_PATH = "/ui/imports"  # under the upload prefix of the body limit: streamed, not buffered
KEEP_JOBS_SECONDS = 3600
MAX_JOBS = 200
NOT_INSTALLED = "CSV import is not available in this build (stepwise.services.imports is missing)."


def import_service() -> ModuleType | None:
    """Return the import service module, or None while it is not part of the build."""
    try:
        return importlib.import_module("stepwise.services.imports")
    except ImportError:
        return None


@dataclass
class Job:
    """An import running in a thread of this process."""

    id: str
    account_id: int
    filename: str
    size: int
    started: float = field(default_factory=time.monotonic)
    progress: dict[str, Any] = field(default_factory=dict)
    report: ImportReport | None = None
    error: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False


class Jobs:
    """The imports this process runs in the background, by id; finished ones are kept for a while."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

    def add(self, job: Job) -> None:
        """Register a job, forgetting finished ones that are old or too many."""
        with self._lock:
            cutoff = time.monotonic() - KEEP_JOBS_SECONDS
            for key in [k for k, j in self._jobs.items() if j.done and j.started < cutoff]:
                del self._jobs[key]
            if len(self._jobs) >= MAX_JOBS:
                oldest = min((j for j in self._jobs.values() if j.done), key=lambda j: j.started, default=None)
                if oldest is not None:
                    del self._jobs[oldest.id]
            self._jobs[job.id] = job

    def get(self, job_id: str, account_id: int) -> Job | None:
        """Return an account's job by id."""
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.account_id == account_id else None


def _jobs(page: Page) -> Jobs:
    jobs = page.ui.state.get("import_jobs")
    if not isinstance(jobs, Jobs):
        jobs = page.ui.state.setdefault("import_jobs", Jobs())
    assert isinstance(jobs, Jobs)
    return jobs


@router.get("/imports")
def import_page(page: PageDep) -> Response:
    """Show the upload form and the account's recent imports."""
    module = import_service()
    recent = module.list_imports(page.stepwise.db, page.account.id, limit=50) if module else []
    return page.render(
        "imports/index.html",
        nav="imports",
        available=module is not None,
        not_installed=NOT_INSTALLED,
        lists=list_service.all_lists(page.stepwise.db, page.account.id),
        recent=recent,
        upload_path=UPLOAD_PATH,
    )


def _spool(upload: UploadFile) -> tuple[IO[bytes], int]:
    copy = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the import, which closes it
    shutil.copyfileobj(upload.file, copy, 1 << 20)
    size = copy.tell()
    copy.seek(0)
    return copy, size


@router.post(UPLOAD_PATH)
def upload(page: PageDep, form: FormDep) -> Response:
    """Take a CSV upload and import it (in the background for htmx, else before answering)."""
    module = import_service()
    if module is None:
        raise AppError(NOT_INSTALLED, code="not_installed")
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        page.flash("Choose a CSV file to import.", "error")
        return page.redirect("/imports")
    options = module.ImportOptions(
        list_key=text_of(form, "list") or None,
        update_existing=text_of(form, "update_existing") == "on",
        trigger_events=text_of(form, "trigger_events") == "on",
    )
    stream, size = _spool(upload)
    job = Job(id=secrets.token_hex(8), account_id=page.account.id, filename=upload.filename or "upload.csv", size=size)
    if is_htmx(page.request):
        _jobs(page).add(job)
        thread = threading.Thread(target=_run, args=(page, module, job, stream, options), daemon=True)
        thread.start()
        return page.render("imports/progress.html", job=job, poll=True, import_outcome=outcome)
    _run(page, module, job, stream, options)
    if job.report is not None:
        page.flash(*outcome(job.filename, job.report))
        return page.redirect(f"/imports/{job.report.id}")
    page.flash(f"{job.filename} was not imported: {job.error}", "error")
    return page.redirect("/imports")


def outcome(filename: str, report: ImportReport) -> tuple[str, str]:
    """The banner for a finished import: its text and kind (ok, warn when rows failed, error when all did)."""
    rows, failed = report.rows, report.failed
    if not failed:
        return f"Imported {filename}: {rows:,} rows.", "ok"
    text = f"Imported {rows - failed:,} of {rows:,} rows from {filename}; {failed:,} failed (see the problems below)."
    return text, "error" if failed >= rows else "warn"


def _run(page: Page, module: ModuleType, job: Job, stream: IO[bytes], options: Any) -> None:
    def progress(report: dict[str, Any]) -> None:
        job.progress = dict(report)

    try:
        job.report = module.run_import(
            page.stepwise.db,
            page.account.id,
            stream,
            options,
            page.now(),
            filename=job.filename,
            progress=progress,
            clock=page.stepwise.clock,
        )
    except AppError as exc:
        placed = from_error(exc, ())
        report = exc.details if isinstance(exc.details, dict) else None
        job.errors = list(report.get("errors") or []) if report else []
        job.error = exc.message if report else ("; ".join(placed.general) or exc.message)
    except Exception as exc:  # the thread must always finish its job record
        job.error = f"the import stopped: {type(exc).__name__}"
    finally:
        stream.close()
        job.done = True


@router.get("/imports/jobs/{job_id}")
def job_status(page: PageDep, job_id: str) -> Response:
    """Show the progress of a background import (htmx polls this until it is done)."""
    job = _jobs(page).get(job_id, page.account.id)
    if job is None:
        raise NotFound("no such import in progress (it may have finished long ago)")
    if job.done and not is_htmx(page.request) and job.report is not None:
        return page.redirect(f"/imports/{job.report.id}")
    template = "imports/progress.html" if is_htmx(page.request) else "imports/job.html"
    return page.render(template, nav="imports", job=job, poll=not job.done, import_outcome=outcome)


@router.get("/imports/{import_id}")
def report(page: PageDep, import_id: str) -> Response:
    """Show the report of one import."""
    module = import_service()
    if module is None:
        raise NotFound(NOT_INSTALLED)
    found = module.get_import(page.stepwise.db, page.account.id, import_id)
    return page.render("imports/report.html", nav="imports", item=found)
