"""The demo's faults, each as the rollback levels will meet it (rollsafe.demo.shop.faults)."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing

import httpx

from rollsafe.demo.shop.faults import LEAK_BYTES
from tests.demo.servers import FakeFlags, Shops, checkout_body, client
from tests.demo.test_shop import query, samples


def half_new(context: dict[str, str]) -> bool:
    return int(context["userId"].rsplit("-", 1)[1]) % 2 == 0


def test_errors_fail_about_5_percent_of_the_new_path_only(shops: Shops) -> None:
    shop = shops.start("1.1.0", "errors", flags=FakeFlags(half_new), seed=3)
    statuses: dict[tuple[str, int], int] = {}
    with client(shop) as http:
        for number in range(800):
            response = http.post("/checkout", json=checkout_body(f"user-{number}"))
            variant = "new" if number % 2 == 0 else "old"
            key = (variant, response.status_code)
            statuses[key] = statuses.get(key, 0) + 1
    assert statuses.get(("old", 500), 0) == 0
    assert statuses[("old", 201)] == 400
    assert 8 <= statuses[("new", 500)] <= 35  # 5% of 400 is 20
    # Failed checkouts write nothing; the others are real orders.
    written = statuses[("new", 201)] + statuses[("old", 201)]
    assert query(shops.db, "SELECT count(*) FROM orders") == [(written,)]
    errors = {
        s["variant"]: value
        for s, value in samples(shop, "http_requests_total")
        if s["route"] == "/checkout" and s["status"] == "500"
    }
    assert errors == {"new": statuses[("new", 500)]}


def test_errors_are_inactive_on_1_0_0(shops: Shops) -> None:
    with client(shops.start("1.0.0", "errors", flags=FakeFlags(True))) as http:
        codes = {http.post("/checkout", json=checkout_body()).status_code for _ in range(100)}
    assert codes == {201}


def test_latency_slows_the_new_path_at_p95(shops: Shops) -> None:
    shop = shops.start("1.1.0", "latency", flags=FakeFlags(half_new), seed=5)
    with client(shop) as http:
        for number in range(120):
            http.post("/checkout", json=checkout_body(f"user-{number}"))
    buckets = {
        (s["variant"], s["le"]): value
        for s, value in samples(shop, "http_request_duration_seconds_bucket")
        if s["route"] == "/checkout"
    }
    # Old path: everything well under 100 ms. New path: about 10% between 150 and 200 ms,
    # so its p95 lies above 150 ms.
    assert buckets[("old", "0.1")] == buckets[("old", "+Inf")] == 60
    slow = buckets[("new", "+Inf")] - buckets[("new", "0.15")]
    assert buckets[("new", "+Inf")] == 60
    assert slow >= 0.05 * 60
    assert buckets[("new", "0.15")] < 0.95 * 60
    assert buckets[("new", "0.25")] == 60


def test_leak_grows_memory_on_every_path(shops: Shops) -> None:
    shop = shops.start("1.1.0", "leak")
    ((_, before),) = samples(shop, "process_resident_memory_bytes")
    with client(shop) as http:
        for _ in range(200):
            http.get("/products")  # not even a checkout, no flag involved
    ((_, after),) = samples(shop, "process_resident_memory_bytes")
    assert shop.app.state.faults.leaked_bytes >= 200 * LEAK_BYTES
    assert after - before > 10_000_000  # 200 x 96 KiB = 19.7 MB


def test_leak_is_inactive_on_1_0_0(shops: Shops) -> None:
    shop = shops.start("1.0.0", "leak")
    with client(shop) as http:
        for _ in range(20):
            http.get("/products")
    assert shop.app.state.faults.leaked_bytes == 0


def test_corrupt_migration_breaks_1_0_0_and_every_checkout(shops: Shops) -> None:
    before = shops.start("1.0.0")
    with client(before) as http:
        order = http.post("/checkout", json=checkout_body("frank", (6, 1))).json()
    before.stop()

    broken = shops.start("1.1.0", "corrupt", flags=FakeFlags(half_new))
    with client(broken) as http:
        # 1.1.0's health check only sees its own migration, so it deploys "healthy"...
        assert http.get("/health").json() == {"status": "ok", "release": "1.1.0"}
        # ...but every checkout fails, flag on or off (rollback level 1 cannot help).
        for user in ("user-0", "user-1"):
            response = http.post("/checkout", json=checkout_body(user))
            assert response.status_code == 500
            assert "total_cents" in response.json()["error"]
        assert http.get(f"/orders/{order['id']}").status_code == 500
    broken.stop()
    assert query(shops.db, "SELECT id, user_id, total FROM orders") == [
        (order["id"], "frank", "79.00")
    ]
    columns = [row[1] for row in query(shops.db, "PRAGMA table_info(orders)")]
    assert "total_cents" not in columns

    rolled_back = shops.start("1.0.0")  # rollback level 2: the previous release
    with client(rolled_back) as http:
        health = http.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "error"
        assert "total_cents" in health.json()["error"]
        assert http.post("/checkout", json=checkout_body()).status_code == 500
        assert http.get(f"/orders/{order['id']}").status_code == 500
        assert http.get("/products").status_code == 200  # the catalogue is intact


def test_a_restored_database_serves_1_0_0_again(shops: Shops) -> None:
    """Rollback level 3 in miniature: the pre-rollout copy, 1.0.0, healthy again."""
    before = shops.start("1.0.0")
    with client(before) as http:
        order = http.post("/checkout", json=checkout_body("gina")).json()
    before.stop()
    backup = shops.db.with_name("backup.db")
    with closing(sqlite3.connect(shops.db)) as source, closing(sqlite3.connect(backup)) as copy:
        source.backup(copy)
    shops.start("1.1.0", "corrupt").stop()
    restored = shops.start("1.0.0", db=backup)
    with client(restored) as http:
        assert http.get("/health").status_code == 200
        assert http.get(f"/orders/{order['id']}").json()["total_cents"] == order["total_cents"]


def test_startup_is_fast(shops: Shops) -> None:
    started = time.monotonic()
    shop = shops.start("1.1.0")
    assert httpx.get(shop.url + "/health").status_code == 200
    assert time.monotonic() - started < 1.0
