"""``/api/admin/rollouts``: read rollouts and steer them (pause, resume, abort, approve).

The same actions as the dashboard's buttons (`rollsafe.server.actions`), for
scripts and chat bots: an admin token in ``Authorization``, the caller journaled
as actor (``X-Rollsafe-Actor`` names the person behind a shared token).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from rollsafe.controller import approvals
from rollsafe.server import actions
from rollsafe.server.admin import ERRORS, INVALID, NOT_FOUND
from rollsafe.server.errors import ApiError
from rollsafe.server.models import ErrorBody
from rollsafe.server.service import AdminCaller, ServiceDep
from rollsafe.store import RolloutState

router = APIRouter(prefix="/api/admin/rollouts", tags=["rollouts"], responses=ERRORS)


@router.get("", responses=INVALID)
def list_rollouts(
    caller: AdminCaller,
    service: ServiceDep,
    state: Annotated[RolloutState | None, Query()] = None,
    service_name: Annotated[str | None, Query(alias="service")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    """Rollouts, newest first, filtered by state and service."""
    del caller
    listed = service.reader.list_rollouts(limit=10_000)
    chosen = [
        r
        for r in listed
        if (state is None or r.state is state) and (service_name in (None, r.service))
    ]
    return [r.summary() for r in chosen[:limit]]


@router.get("/{rollout_id}", responses=NOT_FOUND)
def get_rollout(rollout_id: str, caller: AdminCaller, service: ServiceDep) -> dict[str, Any]:
    del caller
    rollout = service.reader.get_rollout(rollout_id)
    wait = approvals.waiting(service.reader, rollout_id)
    return {**rollout.summary(), "waiting_for_approval": wait.to_dict() if wait else None}


@router.post(
    "/{rollout_id}/{action}",
    responses={
        **NOT_FOUND,
        **INVALID,
        409: {"model": ErrorBody, "description": "The rollout's state refuses the action"},
    },
)
def act(
    rollout_id: str,
    action: str,
    caller: AdminCaller,
    service: ServiceDep,
    comment: Annotated[str, Body(embed=True, max_length=500)] = "",
) -> dict[str, Any]:
    """``pause``, ``resume``, ``abort`` or ``approve`` (with an optional ``comment``).

    Needs a token for all environments: a rollout is not bound to one.
    """
    if caller.token.environment != "*":
        raise ApiError(403, "forbidden", "only a token for all environments may steer rollouts")
    if action not in actions.ROLLOUT_ACTIONS:
        raise ApiError(
            404, "not_found", f"no action {action!r}; one of pause, resume, abort, approve"
        )
    said = actions.act(service.store, rollout_id, action, actor=caller.actor, comment=comment)
    return {"message": said, "rollout": service.store.get_rollout(rollout_id).summary()}
