"""The published OpenAPI lists exactly the status codes each route answers.

Each route declares its codes (`rollsafe.server.admin.ERRORS` and its own), but
FastAPI adds a 422 to every route with a parameter, even when no value of it can
be invalid (``?environment=`` takes any string). Those are told apart from the
declared ones by their schema, FastAPI's ``HTTPValidationError`` (ours answer
`ErrorBody`), and removed with the schemas they used.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

_FASTAPI_ERROR = "#/components/schemas/HTTPValidationError"
_FASTAPI_SCHEMAS = ("HTTPValidationError", "ValidationError")


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) list only the declared codes."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return without_undeclared(generate())

    app.openapi = openapi  # type: ignore[method-assign]


def without_undeclared(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` without FastAPI's own 422s (changed in place: FastAPI caches it)."""
    for operations in document["paths"].values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if _FASTAPI_ERROR in json.dumps(responses.get("422", {})):
                del responses["422"]
    if _FASTAPI_ERROR not in json.dumps(document["paths"]):
        schemas = document.get("components", {}).get("schemas", {})
        for name in _FASTAPI_SCHEMAS:
            schemas.pop(name, None)
    return document
