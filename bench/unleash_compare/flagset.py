"""The 350 flags both servers serve, in Unleash's client format, and how each server gets them.

Seven shapes in turn: on for everyone (twice as common), a percentage rollout, a
user list, strategy variants with string payloads, off, and a rollout behind a
constraint. Strategy variants rather than feature variants: Unleash 5+ keeps
variants per strategy, and rollsafe's engine evaluates both.
"""

from __future__ import annotations

from typing import Any

COUNT = 350
TAGGED_EVERY = 25
TAG = {"type": "simple", "value": "peer"}
"""Every 25th flag carries this tag, for the protocol peer's ``tag`` filter (`peer`)."""
ENVIRONMENT = "development"
"""The Unleash environment the flags live in (its client tokens ``default:development``)."""


def flags(count: int = COUNT) -> list[dict[str, Any]]:
    out = []
    for index in range(count):
        name = f"bench-{index:03d}"
        shape = index % 7
        enabled = shape != 5
        strategy: dict[str, Any]
        if shape in (0, 1, 5):
            strategy = {"name": "default", "parameters": {}, "constraints": []}
        elif shape == 2:
            strategy = _rollout(name, index % 100)
        elif shape == 3:
            users = [f"user-{n}" for n in range(index % 10, 200, 10)]
            strategy = {
                "name": "default",
                "parameters": {},
                "constraints": [
                    {"contextName": "userId", "operator": "IN", "values": users,
                     "inverted": False, "caseInsensitive": False}
                ],
            }  # fmt: skip
        elif shape == 4:
            strategy = {
                **_rollout(name, 100),
                "variants": [
                    _variant(name, "blue", "#00f"),
                    _variant(name, "green", "#0f0"),
                ],
            }
        else:
            strategy = {
                **_rollout(name, 50),
                "constraints": [
                    {"contextName": "userId", "operator": "STR_STARTS_WITH", "values": ["user-1"],
                     "inverted": False, "caseInsensitive": False}
                ],
            }  # fmt: skip
        flag = {"name": name, "enabled": enabled, "strategies": [strategy], "variants": [],
                "type": "release", "project": "default"}  # fmt: skip
        if index % TAGGED_EVERY == 0:
            flag["tags"] = [dict(TAG)]
        out.append(flag)
    return out


def _rollout(name: str, percent: int) -> dict[str, Any]:
    return {
        "name": "flexibleRollout",
        "parameters": {"rollout": str(percent), "stickiness": "default", "groupId": name},
        "constraints": [],
    }


def _variant(name: str, variant: str, value: str) -> dict[str, Any]:
    return {
        "name": variant,
        "weight": 500,
        "weightType": "variable",
        "stickiness": "default",
        "payload": {"type": "string", "value": value},
    }
