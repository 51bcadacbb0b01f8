"""Which entries are which events, what a plan may subscribe to, and how a bad ``notify:``
entry is refused (file:line: field, before anything is written)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollsafe.config import load_plan
from rollsafe.config.notify import (
    DERIVED_EVENTS,
    FAILURE_EVENTS,
    KNOWN_EVENTS,
    SUCCESS_EVENTS,
    SlackNotify,
    WebhookNotify,
)
from rollsafe.errors import PlanError
from rollsafe.journal import JournalEntry, Kind
from rollsafe.notify import build_notifications, describe, event_of
from tests.config.test_plan_errors import VALID


def make(kind: str, data: dict[str, object]) -> JournalEntry:
    return JournalEntry(
        seq=7, ts=0.0, kind=kind, actor="t", rollout_id="r-1", data=data, prev_hash="", hash="h"
    )


def test_every_known_event_is_a_kind_or_derived_from_one() -> None:
    kinds = {kind.value for kind in Kind}
    for event in KNOWN_EVENTS:
        if event in DERIVED_EVENTS:
            assert DERIVED_EVENTS[event] in kinds, event
        else:
            assert event in kinds, event
    assert set(SUCCESS_EVENTS).isdisjoint(FAILURE_EVENTS)  # success stays opt-in


@pytest.mark.parametrize(
    ("kind", "data", "event"),
    [
        (Kind.ANALYSIS_VERDICT, {"verdict": {"verdict": "fail", "metrics": []}}, "analysis.failed"),
        (Kind.ANALYSIS_VERDICT, {"verdict": {"verdict": "pass"}}, "analysis.verdict"),
        (Kind.ROLLBACK_LEVEL_ENDED, {"level": 1, "recovered": False}, "rollback.level_failed"),
        (Kind.ROLLBACK_LEVEL_ENDED, {"level": 1, "recovered": True}, "rollback.level_ended"),
        (Kind.GUARD_TRIPPED, {"guard": "g"}, "guard.tripped"),
    ],
)
def test_event_of(kind: str, data: dict[str, object], event: str) -> None:
    assert event_of(make(kind, data)) == event


def test_a_channel_hears_only_its_events_derived_ones_by_their_condition() -> None:
    config = WebhookNotify(url="http://127.0.0.1:9/", events=["analysis.failed"])
    notifications = build_notifications([config], "shop")
    (channel,) = notifications.channels
    try:
        assert channel.wants(make(Kind.ANALYSIS_VERDICT, {"verdict": {"verdict": "fail"}}))
        assert not channel.wants(make(Kind.ANALYSIS_VERDICT, {"verdict": {"verdict": "pass"}}))
        assert not channel.wants(make(Kind.GUARD_TRIPPED, {}))
    finally:
        notifications.close()


def test_subscribing_to_a_kind_hears_every_entry_of_it_failed_or_not() -> None:
    config = WebhookNotify(url="http://127.0.0.1:9/", events=["rollback.level_ended"])
    notifications = build_notifications([config], "shop")
    (channel,) = notifications.channels
    try:
        assert channel.wants(make(Kind.ROLLBACK_LEVEL_ENDED, {"recovered": False}))
        assert channel.wants(make(Kind.ROLLBACK_LEVEL_ENDED, {"recovered": True}))
    finally:
        notifications.close()


def test_waiting_for_approval_says_how_to_approve_and_is_sent_by_default() -> None:
    data = {
        "index": 2,
        "message": "Check the dashboard first",
        "timeout": 60.0,
        "on_timeout": "rollback",
        "deadline": 1764900000.0,
    }
    waiting = make(Kind.APPROVAL_WAITING, data)
    message = describe(waiting, "shop")
    assert (message.title, message.severity) == ("shop: waiting for approval", "warning")
    assert message.text == (
        "Check the dashboard first Approve with 'rollsafe rollout approve r-1' or on the dashboard."
    )
    assert ("Deadline", "2025-12-05T02:00:00+00:00") in message.fields
    assert ("Then", "rollback") in message.fields
    notifications = build_notifications(
        [SlackNotify(type="slack", url="http://127.0.0.1:9/")], "shop"
    )
    try:
        assert notifications.channels[0].wants(waiting)
    finally:
        notifications.close()


def test_a_rolled_back_rollout_reads_with_its_reason() -> None:
    entry = make(
        Kind.ROLLOUT_ROLLED_BACK,
        {"from": "rolling_back", "to": "rolled_back", "step_index": 2, "reason": "guard x"},
    )
    message = describe(entry, "shop")
    assert message.title == "shop: rollout rolled back"
    assert message.text == "guard x"
    assert ("Rollout", "r-1") in message.fields


def plan_with(tmp_path: Path, notify: str) -> list[str]:
    path = tmp_path / "plan.yaml"
    path.write_text(VALID.replace("steps:\n", f"notify:\n{notify}steps:\n"))
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    return caught.value.problems


def test_a_valid_notify_list_loads(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    notify = (
        "  - {type: slack, url_env: SLACK_HOOK, events: [guard.tripped, rollout.promoted]}\n"
        "  - {type: teams, url: 'https://example.invalid/wf'}\n"
        "  - {type: discord, url_env: DISCORD_HOOK, timeout: 500ms, retries: 1}\n"
        "  - {url: 'http://127.0.0.1:9/hook', secret_env: HOOK_SECRET}\n"
    )
    path.write_text(VALID.replace("steps:\n", f"notify:\n{notify}steps:\n"))
    plan = load_plan(path)
    assert [channel.type for channel in plan.notify] == ["slack", "teams", "discord", "webhook"]
    assert plan.notify[2].timeout == 0.5
    assert plan.notify[1].events == list(FAILURE_EVENTS)


@pytest.mark.parametrize(
    ("notify", "field", "says"),
    [
        (
            "  - {type: slack, events: [guard.trip], url_env: X}\n",
            "notify[0].events",
            "unknown event 'guard.trip'",
        ),
        ("  - {type: teams}\n", "notify[0].teams", "give exactly one of url and url_env"),
        ("  - {type: discord, url: 'http://a/', url_env: X}\n", "notify[0].discord", "exactly one"),
        ("  - {url_env: 'not a name'}\n", "notify[0].url_env", "environment variable name"),
        (
            "  - {type: irc, url: 'http://a/'}\n",
            "notify[0]",
            "type must be webhook, slack, teams or discord",
        ),
        ("  - {type: slack, url: 'ftp://a/'}\n", "notify[0].url", "^https?://"),
        (
            "  - {type: slack, url: 'http://a/', secret_env: S}\n",
            "notify[0].secret_env",
            "unknown key",
        ),
    ],
)
def test_bad_notify_entries_are_refused_naming_the_field(
    tmp_path: Path, notify: str, field: str, says: str
) -> None:
    (problem,) = plan_with(tmp_path, notify)
    assert problem.startswith(f"{tmp_path}/plan.yaml:14: {field}"), problem
    assert says in problem


def test_an_entry_whose_data_surprises_the_wording_still_goes_out() -> None:
    # A level entry whose verification is not a mapping: worded generically, not dropped.
    odd = make(Kind.ROLLBACK_LEVEL_ENDED, {"recovered": False, "verification": "not a dict"})
    notifications = build_notifications([WebhookNotify(url="http://127.0.0.1:9/")], "shop")
    try:
        message = notifications._describe(odd)
    finally:
        notifications.close()
    assert (message.event, message.title) == ("rollback.level_failed", "shop: rollback.level_ended")


def test_a_minor_guard_trip_is_a_warning_not_a_failure() -> None:
    minor = describe(make(Kind.GUARD_TRIPPED, {"guard": "g", "severity": "minor"}), "shop")
    critical = describe(make(Kind.GUARD_TRIPPED, {"guard": "g", "severity": "critical"}), "shop")
    assert (minor.severity, critical.severity) == ("warning", "failure")
