"""Batch jobs over HTTP (operators): import files and re-sign runs, their progress and failures.

``POST /api/v1/batches`` plans the job and answers 202 at once. With the Celery engine the job
is handed to the ``certsvc worker`` nodes and this process does no batch work; with the local
engine (the embedded default) it runs in a background thread of this process, which starts the
local worker pool. If this process dies, the job stays in the database: workers carry on (Celery)
or ``certsvc batch resume JOB`` finishes it (local).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from certsvc.api.deps import ContextDep, OperatorPrincipal
from certsvc.api.derived import derive, many, to_api
from certsvc.api.ids import RowId, RowIdField
from certsvc.api.pagination import PAGINATED, PageDep, send_page
from certsvc.errors import (
    BadRequestError,
    CertsvcError,
    DocumentTooLargeError,
    ValidationFailedError,
)
from certsvc.jobs.api import JobProgress
from certsvc.jobs.local import default_workers
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal
from certsvc.services.requests import pydantic_problems

__all__ = ["BatchCreate", "BatchRead", "router"]

router = APIRouter(prefix="/api/v1/batches", tags=["batches"])
_log = logging.getLogger("certsvc.api.batches")
# An import file may be far larger than one licence PDF: a department's whole register.
_IMPORT_LIMIT_FACTOR = 10


class BatchCreate(BaseModel):
    """JSON body (re-sign) or the form fields beside the uploaded ``file`` (import)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["import", "resign"]
    dry_run: bool = False
    workers: int | None = Field(default=None, ge=0, le=64)
    # import
    template: str | None = None
    department: str | None = None
    mapping: dict[str, str] | None = None
    # resign
    to_seal: RowIdField | None = None
    from_seal: RowIdField | None = None
    issued_before: date | None = None
    reason: str = Field(default="seal rollover", max_length=150)
    # Set for a re-sign after a key compromise (needs from_seal); absent: a key rotation.
    compromised_at: AwareDatetime | None = None


BatchRead = derive(
    JobProgress,
    "BatchRead",
    exclude={"job_id"},  # answered as ``id``, like every other resource
    describe={"rate_per_second": "over the current run"},
    add={"id": (int, ...), "links": (dict[str, str], ...)},
)


def batch_read(progress: JobProgress) -> dict[str, Any]:
    """A job's progress as the API answers it: its id and the links to its failures and cancel."""
    base = f"/api/v1/batches/{progress.job_id}"
    links = {"self": base, "failures": f"{base}/failures", "cancel": f"{base}/cancel"}
    return {**to_api(progress), "id": progress.job_id, "links": links}


def _start_in_background(ctx: ServiceContext, job_id: int, principal: Principal, workers: int) -> None:
    def run() -> None:
        try:
            BatchService(ctx).run(job_id, principal=principal, workers=workers)
        except CertsvcError as exc:
            _log.warning("batch job %s stopped: %s (%s)", job_id, exc.code, exc.message)
        except Exception:
            _log.exception("batch job %s stopped unexpectedly; certsvc batch resume %s finishes it", job_id, job_id)

    threading.Thread(target=run, name=f"certsvc-batch-{job_id}", daemon=True).start()


async def _parse(request: Request, ctx: ServiceContext) -> tuple[BatchCreate, Path | None, str | None]:
    """The body as a BatchCreate, and the uploaded import file saved to a temporary path."""
    content_type = request.headers.get("content-type", "")
    upload_path: Path | None = None
    filename: str | None = None
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        data: dict[str, Any] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key == "file":
                    filename = value.filename or "upload.csv"
                    upload_path = await run_in_threadpool(_save_upload, value, ctx, filename)
                continue
            data[key] = json.loads(value) if key == "mapping" and value else value
    else:
        try:
            data = await request.json()
        except ValueError as exc:
            raise BadRequestError("the body is not JSON (or multipart with a file)") from exc
    try:
        return BatchCreate.model_validate(data), upload_path, filename
    except ValidationError as exc:
        raise ValidationFailedError("the batch request is not valid", details=pydantic_problems(exc)) from exc


def _save_upload(upload: UploadFile, ctx: ServiceContext, filename: str) -> Path:
    limit = ctx.settings.max_upload_bytes * _IMPORT_LIMIT_FACTOR
    suffix = Path(filename).suffix.lower() if Path(filename).suffix.lower() in (".csv", ".xlsx", ".xlsm", ".txt") else ".csv"
    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as out:
        copied = 0
        while block := upload.file.read(1 << 20):
            copied += len(block)
            if copied > limit:
                out.close()
                Path(out.name).unlink(missing_ok=True)
                raise DocumentTooLargeError(f"the import file is larger than {limit} bytes", details={"limit": limit})
            out.write(block)
        return Path(out.name)


@router.post("", status_code=202, response_model=None)
async def create_batch(request: Request, ctx: ContextDep, principal: OperatorPrincipal) -> Response:
    """Start a batch job: ``{"kind": "resign", "to_seal": 7, ...}`` as JSON, or ``kind=import``
    with ``template``, ``department`` and the ``file`` (CSV/XLSX) as multipart. ``dry_run``
    answers 200 with the check report and stores nothing."""
    body, upload, filename = await _parse(request, ctx)
    service = BatchService(ctx)
    workers = default_workers() if body.workers is None else body.workers
    try:
        if body.kind == "import":
            if upload is None or not body.template or not body.department:
                raise BadRequestError("an import needs the file, template and department", code="import_incomplete")
            if body.dry_run:
                report = await run_in_threadpool(
                    service.check_import, upload, template=body.template, department_code=body.department,
                    principal=principal, mapping=body.mapping, filename=filename,
                )
                return JSONResponse(json.loads(json.dumps(asdict(report), default=str)), status_code=200)
            created, _report = await run_in_threadpool(
                service.create_import_job, upload, template=body.template, department_code=body.department,
                principal=principal, mapping=body.mapping, filename=filename,
            )
        else:
            if body.to_seal is None:
                raise BadRequestError("a re-sign needs to_seal", code="resign_incomplete")
            filters: dict[str, Any] = {
                "to_seal_id": body.to_seal, "department_code": body.department, "from_seal_id": body.from_seal,
                "issued_before": body.issued_before, "template": body.template,
            }
            if body.dry_run:
                plan = await run_in_threadpool(lambda: service.check_resign(principal=principal, **filters))
                return JSONResponse(asdict(plan), status_code=200)
            created = await run_in_threadpool(
                lambda: service.create_resign_job(
                    principal=principal, reason=body.reason, compromised_at=body.compromised_at, **filters
                )
            )
    finally:
        if upload is not None:
            upload.unlink(missing_ok=True)
    if service.is_queued:
        progress = await run_in_threadpool(service.submit, created.job_id, principal=principal)
    else:
        _start_in_background(ctx, created.job_id, principal, workers)
        progress = await run_in_threadpool(service.status, created.job_id, principal=principal)
    return JSONResponse(
        BatchRead.model_validate(batch_read(progress)).model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/api/v1/batches/{created.job_id}"},
    )


@router.get("", response_model=many(BatchRead), responses=PAGINATED)
def list_batches(request: Request, response: Response, ctx: ContextDep, principal: OperatorPrincipal, page: PageDep) -> list[dict[str, Any]]:
    """Every batch job, newest first, with its progress."""
    return send_page(BatchService(ctx).jobs(principal=principal, page=page).map(batch_read), request, response)


@router.get("/{job_id}", response_model=BatchRead)
def get_batch(job_id: RowId, ctx: ContextDep, principal: OperatorPrincipal) -> dict[str, Any]:
    """State and counts of a job, with the rate and ETA of its current run."""
    return batch_read(BatchService(ctx).status(job_id, principal=principal))


@router.get(
    "/{job_id}/failures",
    response_model=None,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV with format=csv"}},
)
def get_failures(
    job_id: RowId,
    ctx: ContextDep,
    principal: OperatorPrincipal,
    format: Literal["json", "csv"] = Query(default="json"),
) -> Response:
    """Every failed item: row (import) or sequence number, key, error code and message."""
    rows = BatchService(ctx).failures(job_id, principal=principal)
    if format == "json":
        return JSONResponse([asdict(r) for r in rows])

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["seq", "key", "error_code", "error_message"])
        for row in rows:
            writer.writerow([row.seq, row.key, row.error_code, row.error_message])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        lines(), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="batch-{job_id}-failures.csv"'},
    )


@router.post("/{job_id}/cancel", response_model=BatchRead)
def cancel_batch(job_id: RowId, ctx: ContextDep, principal: OperatorPrincipal) -> dict[str, Any]:
    """Stop a job: running workers stop at their next claim; items not done stay pending."""
    return batch_read(BatchService(ctx).cancel(job_id, principal=principal))

