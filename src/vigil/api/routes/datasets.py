"""Datasets: uploaded files or inline rows, stored with a content fingerprint."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from vigil.api.deps import ServiceDep, TrainerDep, ViewerDep
from vigil.api.problems import problem_responses
from vigil.api.schemas import DatasetPublic, DatasetRowsCreate
from vigil.errors import InvalidInput

router = APIRouter(
    prefix="/v1/datasets", tags=["datasets"], responses=problem_responses(401, 403, 404, 429)
)

_UPLOAD_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "A .csv, .tsv, .parquet or .jsonl file; the suffix names the format.",
        },
        "name": {"type": "string", "maxLength": 256},
    },
}
# One endpoint takes two bodies, which FastAPI cannot infer from a signature:
# the request body is therefore declared here and parsed by hand below.
_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/DatasetRowsCreate"}},
            "multipart/form-data": {"schema": _UPLOAD_SCHEMA},
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetPublic,
    responses=problem_responses(413, 422),
    openapi_extra=_REQUEST_BODY,
)
async def create_dataset(request: Request, caller: TrainerDep, service: ServiceDep) -> Any:
    """Stores a dataset from an uploaded file (multipart) or from inline rows (JSON)."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        # A malformed form is Starlette's 400, which the problem handlers make a 422.
        form = await request.form(max_files=1, max_fields=4)
        try:
            upload = form.get("file")
            name = form.get("name")
            if not isinstance(upload, UploadFile):
                raise InvalidInput(
                    "Send the data file in the multipart field 'file'.",
                    errors=[{"loc": ["body", "file"], "msg": "a file is required"}],
                )
            payload = await upload.read()
        finally:
            await form.close()
        return await run_in_threadpool(
            service.datasets.create_dataset,
            caller,
            name=name if isinstance(name, str) else "",
            payload=payload,
            filename=upload.filename or "upload",
        )
    if content_type.startswith("application/json") or not content_type:
        body = _parse_rows(await request.body())
        return await run_in_threadpool(
            service.datasets.create_dataset_from_rows, caller, name=body.name, rows=body.rows
        )
    raise InvalidInput(
        "Send a dataset as multipart/form-data (field 'file') or as application/json "
        '({"name", "rows"}).',
        errors=[{"loc": ["header", "content-type"], "msg": "unsupported media type"}],
    )


@router.get("/{dataset_id}", response_model=DatasetPublic)
def get_dataset(dataset_id: str, caller: ViewerDep, service: ServiceDep) -> dict[str, Any]:
    """Returns a dataset's name, shape, columns and fingerprint."""
    return service.datasets.get_dataset(caller, dataset_id)


def _parse_rows(raw: bytes) -> DatasetRowsCreate:
    """Returns the JSON body as DatasetRowsCreate, or the 422 FastAPI would give for it."""
    try:
        return DatasetRowsCreate.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None
