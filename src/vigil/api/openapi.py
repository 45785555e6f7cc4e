"""The OpenAPI document, with every error declared as the problem+json it really is.

FastAPI documents validation errors as its own ``HTTPValidationError`` JSON;
this API answers them, like every error, as ``application/problem+json``, so
the generated document is corrected here once rather than route by route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from vigil.api.problems import problem_responses
from vigil.api.schemas import DatasetRowsCreate, Problem

_REF_TEMPLATE = "#/components/schemas/{model}"
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
# Bodies referenced by hand-written parts of the document (no signature names them).
_EXTRA_MODELS = (Problem, DatasetRowsCreate)


def openapi_builder(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """Returns the function FastAPI calls (once, then cached) to build ``/openapi.json``."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for model in _EXTRA_MODELS:
            schema = model.model_json_schema(ref_template=_REF_TEMPLATE)
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        unprocessable = problem_responses(422)[422]
        for path_item in document.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.get("responses", {})
                content = responses.get("422", {}).get("content", {})
                if "application/json" in content:
                    responses["422"] = unprocessable
        for name in _FASTAPI_VALIDATION_SCHEMAS:
            schemas.pop(name, None)
        app.openapi_schema = document
        return document

    return build
