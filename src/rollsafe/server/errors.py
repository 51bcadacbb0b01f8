"""Errors as JSON: ``{"error": code, "message": ..., "problems": [{"field", "message"}]}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rollsafe.errors import RollsafeError


class ApiError(RollsafeError):
    """An answer a route decides on itself, with field problems and headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        problems: Sequence[dict[str, str]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = list(problems)
        self.headers = headers

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, self.problems, self.headers)


def error_response(
    status: int,
    code: str,
    message: str,
    problems: Sequence[dict[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": code, "message": message, "problems": list(problems)}
    return JSONResponse(body, status_code=status, headers=headers)


def store_unavailable(error: RollsafeError) -> JSONResponse:
    return error_response(503, "store_unavailable", str(error))


def _field(location: Sequence[Any]) -> str:
    return ".".join(str(part) for part in location)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        del request
        problems = [{"field": _field(e["loc"]), "message": e["msg"]} for e in error.errors()]
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return error_response(422, "invalid_request", message or "invalid request", problems)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        del request
        if error.status_code == 400:  # FastAPI: a body json.loads refused but not as JSON
            problem = {"field": "body", "message": "not UTF-8 JSON"}
            return error_response(422, "invalid_request", "body: not UTF-8 JSON", [problem])
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            error.status_code, "http_error"
        )
        return error_response(error.status_code, code, str(error.detail), headers=error.headers)

    @app.exception_handler(RollsafeError)
    async def rollsafe_error(request: Request, error: RollsafeError) -> JSONResponse:
        """Every error of the tree answers with the status and code its class carries."""
        del request
        if isinstance(error, ApiError):
            return error.response()
        return error_response(error.status, error.code, str(error))
