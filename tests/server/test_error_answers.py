"""The server answers every error of the tree with one handler, from the status and code
the class carries (issue 11: a PlanError was answered as ``invalid_flag``)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from rollsafe.errors import (
    ConflictError,
    FlagError,
    NotFoundError,
    PlanError,
    RollsafeError,
    StoreError,
    StoreUnavailableError,
    TargetError,
)
from rollsafe.server.errors import ApiError, install


def _answer(error: Exception) -> tuple[int, dict[str, object]]:
    app = FastAPI()
    install(app)

    @app.get("/fails")
    def fails() -> None:
        raise error

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rollsafe") as client:
            return await client.get("/fails")

    response = asyncio.run(get())
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (PlanError(["plan.yaml:3: steps: required"]), 422, "invalid_plan"),
        (FlagError("no such strategy"), 422, "invalid_flag"),
        (NotFoundError("no flag 'x'"), 404, "not_found"),
        (ConflictError("stale version"), 409, "conflict"),
        (StoreError("cannot read"), 503, "store_unavailable"),
        (StoreUnavailableError("restarting"), 503, "store_unavailable"),
        (TargetError("cannot start"), 500, "internal_error"),
        (RollsafeError("anything else"), 500, "internal_error"),
    ],
)
def test_each_error_answers_with_its_class_status_and_code(
    error: RollsafeError, status: int, code: str
) -> None:
    assert _answer(error) == (status, {"error": code, "message": str(error), "problems": []})


def test_an_api_error_keeps_its_own_status_problems_and_headers() -> None:
    error = ApiError(
        422, "invalid_flag", "bad", problems=[{"field": "definition", "message": "bad"}]
    )
    status, body = _answer(error)
    assert (status, body["error"], body["problems"]) == (
        422,
        "invalid_flag",
        [{"field": "definition", "message": "bad"}],
    )
