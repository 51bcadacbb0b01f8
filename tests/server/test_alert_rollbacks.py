"""Alerts in: which rollout an Alertmanager alert is about, and what it does to it.

Matching and acting (``alert_actions.handle``) run on fakes from rollsafe.testing
over a real SQLite store (tests/controller/rig.py); the last tests post through a
real flag server in a thread, and a real controller carries the rollback out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rollsafe.cli.output import describe
from rollsafe.controller.daemon import unowned
from rollsafe.journal.kinds import Kind
from rollsafe.server import BackgroundServer
from rollsafe.server.alert_actions import handle
from rollsafe.server.alertmanager import parse
from rollsafe.store import RolloutState
from tests.controller.rig import Rig
from tests.server.servers import FAST, Tokens, add_tokens, bearer

ACTOR = "token alertmanager"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    try:
        yield rig
    finally:
        rig.close()


def webhook(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {"version": "4", "status": status, "receiver": "rollsafe", "alerts": list(alerts)}


def alert(status: str = "firing", starts_at: str | None = None, **labels: str) -> dict[str, Any]:
    started = starts_at or time.strftime("%Y-%m-%dT%H:%M:%S.123456789Z", time.gmtime())
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", **labels},
        "annotations": {"summary": "5xx above 5%"},
        "startsAt": started,
        "fingerprint": "c0ffee",
    }


def send(rig: Rig, *alerts: dict[str, Any], now: float | None = None) -> list[dict[str, Any]]:
    store = rig.stores[-1]
    outcomes = handle(store, parse(webhook(*alerts)), actor=ACTOR, now=now)
    return [outcome.to_dict() for outcome in outcomes]


def paused_rollout(rig: Rig, steps: list[str], **options: str) -> str:
    """A rollout stopped at a pause step waiting for resume (a rollout nobody drives)."""
    controller, rollout_id = rig.create(steps, **options)
    assert controller.run(rollout_id).state is RolloutState.PAUSED
    return rollout_id


def test_a_firing_alert_asks_the_driving_controller_to_roll_back(rig: Rig) -> None:
    controller, rollout_id = rig.create(["deploy", "promote"])

    (outcome,) = send(rig, alert(service="shop"))

    assert outcome["action"] == "rollback"
    assert outcome["rollout"] == rollout_id
    rollout = rig.stores[-1].get_rollout(rollout_id)
    assert rollout.requested == "rollback"
    assert "alert HighErrorRate firing via receiver rollsafe: 5xx above 5%" in rollout.reason
    (entry,) = [e for e in rig.stores[-1].journal(rollout_id) if e.kind == Kind.ALERT_ROLLBACK]
    assert entry.actor == ACTOR
    assert entry.data["alert"]["fingerprint"] == "c0ffee"
    assert entry.data["alert"]["labels"]["service"] == "shop"
    assert describe(entry) == "[bold red]⚠ alert HighErrorRate[/bold red]: rollback"  # live
    # The controller acts on it as on a guard's request: nothing deployed, rolled back.
    assert controller.run(rollout_id).state is RolloutState.ROLLED_BACK
    assert rig.target.called("deploy") == []


@pytest.mark.parametrize(
    ("labels", "status", "reason"),
    [
        ({"service": "shop"}, "resolved", "resolved"),
        ({"service": "cart"}, "firing", "no rollout of 'cart' matches its labels"),
        ({}, "firing", "no service label to match"),
        ({"service": "shop", "rollout": "ro-other"}, "firing", "no rollout of 'shop'"),
        ({"service": "shop", "release": "9.9.9"}, "firing", "release '9.9.9' is not one"),
    ],
    ids=["resolved", "other-service", "no-service", "other-rollout", "other-release"],
)
def test_alerts_about_nothing_running_are_journaled_as_ignored(
    rig: Rig, labels: dict[str, str], status: str, reason: str
) -> None:
    _, rollout_id = rig.create(["deploy", "promote"])

    (outcome,) = send(rig, alert(status, **labels))

    assert outcome["action"] == "ignored"
    assert reason in outcome["reason"]
    assert rig.stores[-1].get_rollout(rollout_id).requested is None
    ignored = [e for e in rig.stores[-1].journal() if e.kind == Kind.ALERT_IGNORED]
    assert [e.data["reason"] for e in ignored] == [outcome["reason"]]
    assert ignored[0].actor == ACTOR


def test_rollout_and_release_labels_narrow_the_match(rig: Rig) -> None:
    _, rollout_id = rig.create(["deploy", "promote"])

    (outcome,) = send(rig, alert(service="shop", rollout=rollout_id, release="1.1.0"))

    assert (outcome["action"], outcome["rollout"]) == ("rollback", rollout_id)


def test_an_alert_older_than_the_rollout_is_not_about_it(rig: Rig) -> None:
    _, rollout_id = rig.create(["deploy", "promote"])

    (outcome,) = send(rig, alert(service="shop", starts_at="2020-01-01T00:00:00Z"))

    assert outcome["action"] == "ignored"
    assert "began before the rollout" in outcome["reason"]
    assert rig.stores[-1].get_rollout(rollout_id).requested is None


def test_a_promoted_rollout_within_its_watch_is_handed_to_a_controller(rig: Rig) -> None:
    controller, rollout_id = rig.create(["deploy", "flag", "promote"], watch="10ms")
    assert controller.run(rollout_id).state is RolloutState.PROMOTED
    promoted = rig.stores[-1].get_rollout(rollout_id)

    (outcome,) = send(rig, alert(service="shop"), now=promoted.updated_at + 0.005)

    assert outcome["action"] == "rolling_back"
    rollout = rig.stores[-1].get_rollout(rollout_id)
    assert rollout.state is RolloutState.ROLLING_BACK
    assert rollout.owner is None
    assert unowned(rollout, time.time())  # claimable by `rollsafe controller run`
    # What a controller that claims it does: the plan's rollback levels, journaled.
    rolled = rig.controller().run(rollout_id)
    assert rolled.state is RolloutState.ROLLED_BACK
    assert "alert HighErrorRate firing" in rolled.reason
    assert rig.flag_rollout()["enabled"] is False
    (finished,) = rig.journaled(rollout_id, "rollback.finished")
    assert finished["ok"] is True
    assert finished["final_level"] == 1


def test_a_promoted_rollout_past_its_watch_is_left_alone(rig: Rig) -> None:
    controller, rollout_id = rig.create(["deploy", "promote"], watch="10ms")
    assert controller.run(rollout_id).state is RolloutState.PROMOTED
    promoted = rig.stores[-1].get_rollout(rollout_id)

    (outcome,) = send(rig, alert(service="shop"), now=promoted.updated_at + 1)

    assert outcome["action"] == "ignored"
    assert "after its watch" in outcome["reason"]
    assert rig.stores[-1].get_rollout(rollout_id).state is RolloutState.PROMOTED


def test_a_paused_rollout_is_rolled_back_by_whoever_drives_it_next(rig: Rig) -> None:
    rollout_id = paused_rollout(rig, ["deploy", "pause: {}", "promote"])

    (outcome,) = send(rig, alert(service="shop"))

    assert outcome["action"] == "rolling_back"
    assert rig.controller().run(rollout_id).state is RolloutState.ROLLED_BACK
    (finished,) = rig.journaled(rollout_id, "rollback.finished")
    assert finished["ok"] is True


def test_a_second_delivery_of_the_same_alert_changes_nothing(rig: Rig) -> None:
    _, rollout_id = rig.create(["deploy", "promote"])
    send(rig, alert(service="shop"))

    (again,) = send(rig, alert(service="shop"))

    assert again["action"] == "ignored"
    assert "already requested" in again["reason"]
    requests = [
        e for e in rig.stores[-1].journal(rollout_id) if e.kind == Kind.ROLLOUT_ROLLBACK_REQUESTED
    ]
    assert len(requests) == 1


# -- through a real flag server ----------------------------------------------------


@pytest.fixture
def served(rig: Rig) -> Iterator[tuple[BackgroundServer, Tokens]]:
    rig.controller()  # opens (and creates) the store
    tokens = add_tokens(rig.stores[-1])
    server = BackgroundServer(rig.root / "rollsafe.db", FAST).start()
    try:
        yield server, tokens
    finally:
        server.stop()


def test_an_alert_posted_to_the_server_rolls_back_a_running_rollout(
    rig: Rig, served: tuple[BackgroundServer, Tokens]
) -> None:
    server, tokens = served
    controller, rollout_id = rig.create(
        ["deploy", "pause: {duration: 30s}", "promote"], levels="[release]"
    )
    ended: list[RolloutState] = []
    driving = threading.Thread(target=lambda: ended.append(controller.run(rollout_id).state))
    driving.start()
    deadline = time.monotonic() + 10
    while rig.target.current_release() != "1.1.0" and time.monotonic() < deadline:
        time.sleep(0.01)

    answer = httpx.post(
        f"{server.url}/api/admin/alerts",
        json=webhook(alert(service="shop"), alert("resolved", service="shop")),
        headers={**bearer(tokens.admin), "X-Rollsafe-Actor": "alertmanager"},
        timeout=5,
    )
    driving.join(10)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["received"] == 2
    assert body["counts"] == {"rollback": 1, "rolling_back": 0, "ignored": 1}
    assert ended == [RolloutState.ROLLED_BACK]
    assert rig.target.current_release() == "1.0.0"
    (entry,) = [e for e in rig.stores[-1].journal(rollout_id) if e.kind == Kind.ALERT_ROLLBACK]
    assert entry.actor == "alertmanager via token ops"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[]", "body"),
        (b'{"version": "3", "status": "firing", "alerts": []}', "version"),
        (b'{"alerts": []}', "status"),
        (b'{"status": "burning", "alerts": []}', "status"),
        (b'{"status": "firing"}', "alerts"),
        (b'{"status": "firing", "alerts": {}}', "alerts"),
        (b'{"status": "firing", "alerts": [1]}', "alerts.0"),
        (b'{"status": "firing", "alerts": [{"status": "firing", "startsAt": "x"}]}',
         "alerts.0.labels"),
        (b'{"status": "firing", "alerts": [{"status": "firing", "labels": {"a": 1},'
         b' "startsAt": "2026-01-01T00:00:00Z"}]}', "alerts.0.labels.a"),
        (b'{"status": "firing", "alerts": [{"status": "firing", "labels": {}}]}',
         "alerts.0.startsAt"),
        (b'{"status": "firing", "alerts": [{"status": "firing", "labels": {},'
         b' "startsAt": "yesterday"}]}', "alerts.0.startsAt"),
        (b'{"status": "firing", "alerts": [{"labels": {}, "startsAt": "2026-01-01T00:00:00Z"}]}',
         "alerts.0.status"),
    ],
)  # fmt: skip
def test_a_malformed_webhook_is_refused_naming_the_field(
    rig: Rig, served: tuple[BackgroundServer, Tokens], body: bytes, field: str
) -> None:
    server, tokens = served
    _, rollout_id = rig.create(["deploy", "promote"])
    before = len(rig.stores[-1].journal())

    answer = httpx.post(
        f"{server.url}/api/admin/alerts",
        content=body,
        headers={**bearer(tokens.admin), "Content-Type": "application/json"},
        timeout=5,
    )

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_alert"
    assert answer.json()["problems"][0]["field"] == field
    assert answer.json()["message"].startswith(f"{field}: ")
    assert len(rig.stores[-1].journal()) == before
    assert rig.stores[-1].get_rollout(rollout_id).requested is None


@pytest.mark.parametrize("who", ["nobody", "client"])
def test_only_an_admin_token_may_post_alerts(
    rig: Rig, served: tuple[BackgroundServer, Tokens], who: str
) -> None:
    server, tokens = served
    _, rollout_id = rig.create(["deploy", "promote"])
    headers = bearer(tokens.client) if who == "client" else {}

    answer = httpx.post(
        f"{server.url}/api/admin/alerts",
        json=webhook(alert(service="shop")),
        headers=headers,
        timeout=5,
    )

    assert answer.status_code == (403 if who == "client" else 401)
    assert rig.stores[-1].get_rollout(rollout_id).requested is None
