"""Each format's body as a real loopback receiver gets it, the HMAC signature checked with
the documented algorithm, retries on 429/5xx, and a dead receiver bounded by the timeout."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from rollsafe.config.notify import Notify, NotifyChannel
from rollsafe.journal import JournalEntry, Kind
from rollsafe.notify import build_notifications, verify
from rollsafe.notify.delivery import retry_after
from rollsafe.notify.signing import sign
from rollsafe.store import SqliteStore
from tests.notify.receiver import Receiver, Reply

TRIP = {
    "guard": "error-rate",
    "severity": "critical",
    "t": 12.5,
    "metric": "error_rate",
    "value": 0.25,
    "threshold": 0.05,
    "window": 10.0,
}


def channel(**fields: Any) -> NotifyChannel:
    return TypeAdapter(Notify).validate_python(fields)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = SqliteStore(tmp_path / "rollsafe.db")
    yield store
    store.close()


def entry(store: SqliteStore, kind: Kind = Kind.GUARD_TRIPPED, data: Any = None) -> JournalEntry:
    return store.append(kind, TRIP if data is None else data, actor="t", rollout_id="r-42")


def send(config: NotifyChannel, entries: list[JournalEntry], **options: Any) -> list[Any]:
    failures: list[dict[str, Any]] = []
    notifications = build_notifications([config], "shop", failures.append, **options)
    for item in entries:
        notifications(item)
    notifications.close()
    return failures


def test_slack_gets_text_and_blocks(receiver: Receiver, store: SqliteStore) -> None:
    assert send(channel(type="slack", url=receiver.url), [entry(store)]) == []
    (body,) = receiver.bodies()
    assert body["text"] == ":rotating_light: shop: guard error-rate tripped"
    header, section, fields, context = body["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "shop: guard error-rate tripped"},
    }
    assert section["text"] == {"type": "mrkdwn", "text": "error_rate = 0.25 against 0.05"}
    assert {"type": "mrkdwn", "text": "*Rollout*\nr-42"} in fields["fields"]
    assert {"type": "mrkdwn", "text": "*Severity*\ncritical"} in fields["fields"]
    assert "`guard.tripped`" in context["elements"][0]["text"]
    assert receiver.received[0].headers["Content-Type"] == "application/json"


def test_teams_gets_an_adaptive_card_in_a_message(receiver: Receiver, store: SqliteStore) -> None:
    send(channel(type="teams", url=receiver.url), [entry(store)])
    (body,) = receiver.bodies()
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, text, facts = card["body"]
    assert (title["text"], title["color"]) == ("shop: guard error-rate tripped", "Attention")
    assert text["text"] == "error_rate = 0.25 against 0.05"
    assert {"title": "Rollout", "value": "r-42"} in facts["facts"]
    assert {"title": "Event", "value": "guard.tripped"} in facts["facts"]


def test_discord_gets_content_and_an_embed(receiver: Receiver, store: SqliteStore) -> None:
    data = {**TRIP, "guard": "@everyone " + "x" * 300}
    send(channel(type="discord", url=receiver.url), [entry(store, data=data)])
    (body,) = receiver.bodies()
    (embed,) = body["embeds"]
    assert body["content"].startswith("shop: guard @everyone")
    assert body["allowed_mentions"] == {"parse": []}  # the @everyone pings nobody
    assert len(embed["title"]) == 256  # Discord's limit
    assert embed["color"] == 0xD93025
    assert embed["description"] == "error_rate = 0.25 against 0.05"
    assert {"name": "Event", "value": "guard.tripped", "inline": True} in embed["fields"]
    assert embed["timestamp"].endswith("+00:00")


def test_the_generic_webhook_carries_the_whole_entry(
    receiver: Receiver, store: SqliteStore
) -> None:
    tripped = entry(store)
    send(channel(url=receiver.url), [tripped])
    (request,) = receiver.received
    body = request.json
    assert (body["event"], body["severity"], body["service"]) == (
        "guard.tripped",
        "failure",
        "shop",
    )
    assert body["entry"]["hash"] == tripped.hash
    assert body["entry"]["data"] == TRIP
    assert request.headers["X-Rollsafe-Delivery"] == tripped.hash
    assert "X-Rollsafe-Signature" not in request.headers  # no secret, no signature


def test_signed_webhooks_verify_with_the_documented_algorithm(
    receiver: Receiver, store: SqliteStore
) -> None:
    secret = "s3cret-from-env"
    config = channel(url=receiver.url, secret_env="HOOK_SECRET")
    send(config, [entry(store)], environ={"HOOK_SECRET": secret})
    (request,) = receiver.received
    timestamp = request.headers["X-Rollsafe-Timestamp"]
    signed = request.headers["X-Rollsafe-Signature"]
    # docs/notifications.md: HMAC-SHA256(secret, timestamp + "." + body), hex, "sha256=" prefix.
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert signed == f"sha256={expected}"
    assert abs(int(timestamp) - time.time()) < 5
    now = time.time()
    assert verify(secret.encode(), request.body, timestamp, signed, now) is None
    assert verify(b"wrong", request.body, timestamp, signed, now) == "signature does not match"
    tampered = request.body.replace(b"error-rate", b"error-rat3")
    assert verify(secret.encode(), tampered, timestamp, signed, now) == "signature does not match"
    replayed = verify(secret.encode(), request.body, timestamp, signed, now + 301)
    assert replayed == "timestamp outside the replay window"
    assert verify(secret.encode(), request.body, None, signed, now) == "missing signature headers"


def test_a_missing_secret_leaves_the_channel_out_and_says_so(
    receiver: Receiver, store: SqliteStore
) -> None:
    config = channel(url=receiver.url, secret_env="HOOK_SECRET")
    failures = send(config, [entry(store)], environ={})
    assert receiver.received == []  # never sent unsigned
    assert failures[0]["disabled"] is True
    assert "HOOK_SECRET" in failures[0]["error"]


def test_the_url_comes_from_the_environment(receiver: Receiver, store: SqliteStore) -> None:
    send(
        channel(type="slack", url_env="SLACK_HOOK"),
        [entry(store)],
        environ={"SLACK_HOOK": receiver.url},
    )
    assert len(receiver.received) == 1
    failures = send(channel(type="slack", url_env="SLACK_HOOK"), [entry(store)], environ={})
    assert failures == [
        {
            "channel": "notify[0] slack",
            "error": "url_env names SLACK_HOOK, which is not set",
            "disabled": True,
        }
    ]


def test_429_is_retried_after_retry_after(receiver: Receiver, store: SqliteStore) -> None:
    receiver.script.append(Reply(429, {"Retry-After": "0.3"}))
    failures = send(
        channel(type="discord", url=receiver.url, timeout="2s"), [entry(store)], backoff=0.01
    )
    first, second = receiver.wait_for(2)
    assert failures == []
    assert second.at - first.at >= 0.3  # waited as asked, not the 10 ms backoff
    assert first.body == second.body


def test_5xx_is_retried_with_backoff_until_it_works(receiver: Receiver, store: SqliteStore) -> None:
    receiver.script.extend([Reply(500), Reply(503)])
    failures = send(channel(url=receiver.url, retries=3), [entry(store)], backoff=0.05)
    requests = receiver.wait_for(3)
    assert failures == []
    assert len(requests) == 3
    gaps = [b.at - a.at for a, b in itertools.pairwise(requests)]
    assert gaps[0] >= 0.05
    assert gaps[1] >= 0.1  # doubled


def test_a_receiver_that_keeps_failing_is_journaled_not_raised(
    receiver: Receiver, store: SqliteStore
) -> None:
    receiver.default = Reply(500)
    failures = send(channel(url=receiver.url, retries=2), [entry(store)], backoff=0.01)
    assert len(receiver.received) == 3  # the first attempt and two retries
    (failure,) = failures
    assert (failure["attempts"], failure["status"]) == (3, 500)
    assert failure["event"] == "guard.tripped"


def test_a_client_error_is_not_retried(receiver: Receiver, store: SqliteStore) -> None:
    receiver.default = Reply(400)
    failures = send(channel(url=receiver.url, retries=3), [entry(store)], backoff=0.01)
    assert len(receiver.received) == 1
    assert (failures[0]["status"], failures[0]["attempts"]) == (400, 1)


def test_a_hung_receiver_delays_the_end_of_a_run_by_at_most_the_timeout(
    receiver: Receiver, store: SqliteStore
) -> None:
    receiver.default = Reply(204, delay=5.0)
    failures: list[dict[str, Any]] = []
    config = channel(type="slack", url=receiver.url, timeout="300ms", retries=5)
    notifications = build_notifications([config], "shop", failures.append, backoff=0.01)
    started = time.monotonic()
    for _ in range(3):
        notifications(entry(store))
    queued = time.monotonic() - started
    notifications.close()
    closed = time.monotonic() - started
    assert queued < 0.1  # handing entries over never waits on the receiver
    assert closed < 0.3 + 0.25
    assert any(f.get("undelivered") for f in failures)  # what was left is said, not lost


def test_only_subscribed_events_go_out(receiver: Receiver, store: SqliteStore) -> None:
    promoted = {
        "from": "running",
        "to": "promoted",
        "step_index": 3,
        "reason": "all steps succeeded",
    }
    entries = [
        entry(store, Kind.ROLLOUT_PROMOTED, promoted),
        entry(store, Kind.GUARD_FIRING, TRIP),
        entry(store),
    ]
    send(channel(url=receiver.url), entries)  # default: failures only
    assert [body["event"] for body in receiver.bodies()] == ["guard.tripped"]
    receiver.received.clear()
    send(channel(url=receiver.url, events=["rollout.promoted"]), entries)  # success: opt-in
    assert [body["title"] for body in receiver.bodies()] == ["shop: rollout promoted"]


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after("2") == 2.0
    assert retry_after("0.5") == 0.5
    assert retry_after(None) is None
    assert retry_after("soon") is None
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < (retry_after(later) or 0) <= 30


def test_the_documented_receiver_snippet_verifies_a_real_request(
    receiver: Receiver, store: SqliteStore
) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "notifications.md").read_text()
    snippet = doc.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "docs/notifications.md", "exec"), namespace)  # noqa: S102
    verify_rollsafe = namespace["verify_rollsafe"]
    config = channel(url=receiver.url, secret_env="HOOK_SECRET")
    send(config, [entry(store)], environ={"HOOK_SECRET": "k"})
    (request,) = receiver.received
    assert verify_rollsafe(b"k", request.headers, request.body) is True
    assert verify_rollsafe(b"other", request.headers, request.body) is False
    assert verify_rollsafe(b"k", request.headers, request.body + b" ") is False
    # Correctly signed, but 301 s ago: outside the replay window.
    stale = {**request.headers, **sign(b"k", request.body, time.time() - 301)}
    assert verify(b"k", request.body, *stale_pair(stale), time.time() - 300) is None
    assert verify_rollsafe(b"k", stale, request.body) is False


def stale_pair(headers: dict[str, str]) -> tuple[str, str]:
    return headers["X-Rollsafe-Timestamp"], headers["X-Rollsafe-Signature"]
