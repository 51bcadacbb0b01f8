"""The load generator against real shop instances: rate, mix, round-robin, retry, prompt stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from rollsafe.demo.load import LoadStats, generate_load
from tests.demo.servers import FakeFlags, Shops, free_socket
from tests.demo.test_shop import samples


def run_for(seconds: float, endpoints: list[str], **options: object) -> tuple[LoadStats, float]:
    """Run the generator for ``seconds``; returns its stats and how long it took to stop."""

    async def main() -> tuple[LoadStats, float]:
        stop = asyncio.Event()
        task = asyncio.create_task(generate_load(lambda: endpoints, stop=stop, **options))  # type: ignore[arg-type]
        await asyncio.sleep(seconds)
        stop.set()
        stopping = time.monotonic()
        stats = await task
        return stats, time.monotonic() - stopping

    return asyncio.run(main())


def dead_endpoint() -> str:
    with free_socket() as sock:
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # bound then closed: connections are refused


def test_rate_is_respected_and_both_instances_get_traffic(shops: Shops) -> None:
    flags = FakeFlags(lambda context: int(context["userId"].split("-")[1]) % 10 == 0)
    first, second = shops.start("1.1.0", flags=flags), shops.start("1.1.0", flags=flags)
    stats, stopping = run_for(2.0, [first.url, second.url], rate=100, seed=1)
    # Never faster than the rate over the time it ran; close to it unless starved of CPU
    # (a stall restarts the schedule instead of bursting: under -n 4 on a loaded 2-core
    # machine 168 in 1.85 s failed a fixed ">= 170", as did a late start of the task).
    assert 1.5 <= stats.seconds <= 3.0, stats
    assert 0.8 * 100 * stats.seconds <= stats.sent <= 100 * stats.seconds + 2, stats
    assert stats.ok == stats.sent
    assert stats.by_status.keys() == {"200", "201"}
    assert 0.25 * stats.sent <= stats.checkouts <= 0.55 * stats.sent
    assert stats.by_status["201"] == stats.checkouts
    assert stopping < 1.0
    per_instance = []
    users = {user for _, context in flags.calls for user in context.values()}
    for shop in (first, second):
        served = sum(v for s, v in samples(shop, "http_requests_total") if s["route"] != "/metrics")
        per_instance.append(served)
    assert abs(per_instance[0] - per_instance[1]) <= 2  # round robin
    assert len(users) > 40  # random users from the pool, so a rollout % splits them
    new = sum(v for s, v in samples(first, "http_requests_total") if s["variant"] == "new")
    assert new > 0


def test_a_refused_connection_is_retried_on_the_next_instance(shops: Shops) -> None:
    shop = shops.start()
    stats, _ = run_for(1.0, [dead_endpoint(), shop.url], rate=50, seed=2)
    assert stats.sent >= max(10, 0.6 * 50 * stats.seconds), stats
    assert stats.ok == stats.sent
    assert stats.connection_failures == 0
    assert stats.retries >= stats.sent // 2 - 1


def test_a_retry_goes_to_another_instance_while_many_requests_are_in_flight(
    shops: Shops,
) -> None:
    """The retry took the next turn of the shared round robin, which the requests in flight
    had moved meanwhile: at 300 requests/s about one in five retried the refusing instance
    and was lost (and ``test_a_refused_connection...`` failed now and then on a busy machine)."""
    shop = shops.start()
    stats, _ = run_for(1.0, [dead_endpoint(), shop.url], rate=300, seed=2)
    assert stats.retries > 20
    assert stats.connection_failures == 0
    assert stats.ok == stats.sent


def test_endpoints_are_reread_for_every_request(shops: Shops) -> None:
    first, second = shops.start(), shops.start()
    live: list[str] = [first.url]

    def endpoints() -> Sequence[str]:
        return list(live)

    async def main() -> LoadStats:
        stop = asyncio.Event()
        task = asyncio.create_task(generate_load(endpoints, rate=100, stop=stop, seed=3))
        await asyncio.sleep(1.0)  # ~100 each side: ">= 30" holds on a starved machine too
        live[:] = [second.url]  # a rolling deploy swapped the instance
        await asyncio.sleep(1.0)
        stop.set()
        return await task

    stats = asyncio.run(main())
    for shop in (first, second):
        assert sum(v for s, v in samples(shop, "http_requests_total")) >= 30
    assert stats.ok == stats.sent


def test_no_live_instance_counts_failures_and_still_stops_promptly() -> None:
    stats, stopping = run_for(0.5, [dead_endpoint()], rate=100, seed=4)
    # At the rate over the time it ran: a starved machine starts the task late (CI once
    # ran it for 0.26 of the 0.5 s, 26 requests: at the rate, but below a fixed 30).
    assert stats.sent >= max(10, 0.6 * 100 * stats.seconds), stats
    assert stats.ok == 0
    assert stats.connection_failures == stats.sent
    assert stopping < 1.0
    empty, _ = run_for(0.2, [], rate=100)
    assert empty.connection_failures == empty.sent > 0


def test_stop_cancels_requests_stuck_in_flight() -> None:
    with free_socket() as silent:  # accepts connections (backlog), never answers
        silent.listen(64)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        stats, stopping = run_for(0.3, [url], rate=200, concurrency=5)
    assert stats.sent == 5  # bounded: no more than `concurrency` in flight, no task pile
    assert stats.connection_failures == 5
    assert stopping < 1.5


@pytest.mark.parametrize("options", [{"rate": 0}, {"checkout_share": 1.5}])
def test_bad_options_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        run_for(0.0, [], **options)
