"""Response classes: JSON rendered by orjson, and RFC 9457 problem documents."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

PROBLEM_MEDIA_TYPE = "application/problem+json"
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


class OrjsonResponse(JSONResponse):
    """A JSON response rendered by orjson (NumPy scalars and non-string keys allowed).

    orjson writes NaN and infinities as null, which is what a client can parse;
    the standard library would write invalid JSON.
    """

    def render(self, content: Any) -> bytes:
        """Returns ``content`` as JSON bytes."""
        return orjson.dumps(content, option=_ORJSON_OPTIONS)


class ProblemResponse(OrjsonResponse):
    """An ``application/problem+json`` error document."""

    media_type = PROBLEM_MEDIA_TYPE
