"""``POST /api/admin/alerts``: Alertmanager's webhook receiver; a matching alert rolls back.

Point an Alertmanager receiver at it with an admin token (``http_config:
authorization: {credentials: <token>}``). The token is checked before the body
is read, like every ``/api/admin`` route; the journal names the token (and an
``X-Rollsafe-Actor`` if sent) as the actor.

Answers:

- 200 with what each alert did (``rollback``, ``rolling_back`` or ``ignored`` and
  why) and counts. Resolved alerts and alerts matching no rollout are answered
  200 too, and journaled as ignored: Alertmanager would otherwise retry them.
- 400 naming the field when the body is not an Alertmanager webhook (nothing is
  acted on; Alertmanager does not retry a 4xx).
- 503 when the store is unavailable (Alertmanager retries a 5xx).

Matching and acting are in :mod:`rollsafe.server.alert_actions`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from rollsafe.server.admin import ERRORS
from rollsafe.server.alert_actions import handle
from rollsafe.server.alertmanager import parse_body
from rollsafe.server.models import ErrorBody
from rollsafe.server.service import AdminCaller, ServiceDep

router = APIRouter(prefix="/api/admin", tags=["alerts"], responses=ERRORS)


@router.post(
    "/alerts",
    responses={
        400: {"model": ErrorBody, "description": "Not an Alertmanager webhook; nothing done"},
        413: {"model": ErrorBody, "description": "The body is larger than 1 MiB"},
    },
)
async def receive_alerts(request: Request, service: ServiceDep, caller: AdminCaller) -> Any:
    """Alertmanager webhook (version 4): a firing alert matching a rollout rolls it back."""
    notification = parse_body(await request.body())  # PayloadError: 400 naming the field
    outcomes = await run_in_threadpool(handle, service.store, notification, actor=caller.actor)
    counts = {"rollback": 0, "rolling_back": 0, "ignored": 0}
    for outcome in outcomes:
        counts[outcome.action] += 1
    return {
        "received": len(notification.alerts),
        "counts": counts,
        "outcomes": [outcome.to_dict() for outcome in outcomes],
    }
