"""The sample shop over real HTTP: browse, check out, orders in SQLite, metrics, migrations."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rollsafe.demo.shop.orders import PRODUCTS, migrate
from rollsafe.demo.shop.release import Release
from tests.demo.servers import FakeFlags, Server, Shops, checkout_body, client


def query(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, args).fetchall()


def samples(server: Server, name: str) -> list[tuple[dict[str, str], float]]:
    text = httpx.get(server.url + "/metrics").text
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def test_browse_products(shops: Shops) -> None:
    with client(shops.start()) as http:
        products = http.get("/products").json()["products"]
        assert [(p["id"], p["name"], p["price_cents"]) for p in products] == list(PRODUCTS)
        assert http.get("/products/3").json() == {
            "id": 3, "name": "Ceramic mug", "price_cents": 1450,
        }  # fmt: skip
        missing = http.get("/products/99")
        assert missing.status_code == 404
        assert missing.json() == {"error": "no product 99"}


def test_checkout_writes_an_order_to_the_database(shops: Shops) -> None:
    with client(shops.start()) as http:
        response = http.post("/checkout", json=checkout_body("alice", (1, 2), (3, 1)))
        assert response.status_code == 201
        order = response.json()
        assert order["user_id"] == "alice"
        assert order["total_cents"] == 2 * 2490 + 1450
        assert order["variant"] == "old"
        assert "express" not in order  # 1.0.0 knows nothing of schema 2
        fetched = http.get(f"/orders/{order['id']}").json()
        assert fetched == {k: v for k, v in order.items() if k != "variant"}
        assert http.get("/orders/12345").status_code == 404
    assert query(shops.db, "SELECT id, user_id, total_cents FROM orders") == [
        (order["id"], "alice", 6430)
    ]
    assert query(shops.db, "SELECT product_id, quantity, price_cents FROM order_items") == [
        (1, 2, 2490), (3, 1, 1450),
    ]  # fmt: skip
    assert query(shops.db, "PRAGMA journal_mode") == [("wal",)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body must be valid JSON"),
        (b"[]", "body must be a JSON object with user_id and items"),
        (b'{"items": [{"product_id": 1, "quantity": 1}]}', "user_id: must be a non-empty"),
        (b'{"user_id": "a", "items": []}', "items: must be a list of 1 to 50 items"),
        (b'{"user_id": "a", "items": [{"product_id": 99, "quantity": 1}]}',
         "items[0].product_id: no product 99"),
        (b'{"user_id": "a", "items": [{"product_id": 1, "quantity": 1},'
         b' {"product_id": 2, "quantity": 0}]}',
         "items[1].quantity: must be an integer from 1 to 100, got 0"),
        (b'{"user_id": "a", "items": [{"product_id": "1", "quantity": 1}]}',
         "items[0].product_id: no product '1'"),
        (b'{"user_id": "a", "items": [], "coupon": "x"}', "unknown fields: coupon"),
    ],
)  # fmt: skip
def test_bad_checkout_is_refused_with_a_clear_message(
    shops: Shops, body: bytes, message: str
) -> None:
    with client(shops.start()) as http:
        response = http.post(
            "/checkout", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert query(shops.db, "SELECT count(*) FROM orders") == [(0,)]


def test_health_names_the_release(shops: Shops) -> None:
    with client(shops.start("1.1.0")) as http:
        assert http.get("/health").json() == {"status": "ok", "release": "1.1.0"}


def test_metrics_count_and_time_requests_by_route_template(shops: Shops) -> None:
    shop = shops.start()
    with client(shop) as http:
        for product in (1, 2, 3):
            http.get(f"/products/{product}")
        http.post("/checkout", json=checkout_body())
        http.post("/checkout", json={"user_id": "a"})
        http.get("/no/such/path")
    counts = {
        (s["route"], s["method"], s["status"], s["variant"], s["release"]): value
        for s, value in samples(shop, "http_requests_total")
    }
    assert counts[("/products/{id}", "GET", "200", "old", "1.0.0")] == 3
    assert counts[("/checkout", "POST", "201", "old", "1.0.0")] == 1
    assert counts[("/checkout", "POST", "400", "old", "1.0.0")] == 1
    assert counts[("unmatched", "GET", "404", "old", "1.0.0")] == 1
    buckets = {
        s["le"]: value
        for s, value in samples(shop, "http_request_duration_seconds_bucket")
        if s["route"] == "/products/{id}"
    }
    assert {"0.005", "0.05", "0.1", "0.25", "0.5", "1.0", "+Inf"} <= set(buckets)
    assert buckets["+Inf"] == 3
    ((_, rss),) = samples(shop, "process_resident_memory_bytes")
    assert rss > 10_000_000


def test_fast_checkout_flag_sends_users_down_the_new_path(shops: Shops) -> None:
    flags = FakeFlags(lambda context: context["userId"] == "bob")
    shop = shops.start("1.1.0", flags=flags)
    with client(shop) as http:
        new = http.post("/checkout", json=checkout_body("bob", (2, 3))).json()
        old = http.post("/checkout", json=checkout_body("carol", (2, 3))).json()
        assert http.get(f"/orders/{new['id']}").json()["express"] is True
    assert (new["variant"], new["express"], old["variant"], old["express"]) == (
        "new", True, "old", False,
    )  # fmt: skip
    assert new["total_cents"] == old["total_cents"] == 3 * 1190
    assert flags.calls == [
        ("fast-checkout", {"userId": "bob"}),
        ("fast-checkout", {"userId": "carol"}),
    ]
    assert query(shops.db, "SELECT user_id, total_cents, express FROM orders ORDER BY id") == [
        ("bob", 3570, 1), ("carol", 3570, 0),
    ]  # fmt: skip
    checkouts = {
        s["variant"]: value
        for s, value in samples(shop, "http_requests_total")
        if s["route"] == "/checkout"
    }
    assert checkouts == {"new": 1, "old": 1}


def test_release_1_0_0_never_asks_the_flag(shops: Shops) -> None:
    flags = FakeFlags(True)
    with client(shops.start("1.0.0", flags=flags)) as http:
        assert http.post("/checkout", json=checkout_body()).json()["variant"] == "old"
    assert flags.calls == []


def test_migrations_run_once_when_instances_start_together(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    release = Release("1.1.0")
    barrier = threading.Barrier(4)
    applied: list[list[int]] = []

    def start() -> None:
        with closing(sqlite3.connect(db, timeout=5, isolation_level=None)) as conn:
            barrier.wait()
            applied.append(migrate(conn, release))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(applied) == [[], [], [], [1, 2]]
    assert query(db, "PRAGMA user_version") == [(2,)]
    assert query(db, "SELECT version, release FROM schema_migrations") == [
        (1, "1.1.0"), (2, "1.1.0"),
    ]  # fmt: skip


def test_release_1_0_0_serves_a_database_migrated_by_1_1_0(shops: Shops) -> None:
    first, second = shops.start("1.1.0", flags=FakeFlags(True)), shops.start("1.1.0")
    with client(first) as http:
        express = http.post("/checkout", json=checkout_body("dave")).json()
    first.stop()
    second.stop()
    old = shops.start("1.0.0")  # the release rollback: same database, schema 2
    with client(old) as http:
        assert http.get("/health").status_code == 200
        placed = http.post("/checkout", json=checkout_body("erin"))
        assert placed.status_code == 201
        fetched = http.get(f"/orders/{express['id']}")
        assert fetched.status_code == 200
        assert fetched.json()["total_cents"] == express["total_cents"]
    assert query(shops.db, "PRAGMA user_version") == [(2,)]
    assert query(shops.db, "SELECT version FROM schema_migrations") == [(1,), (2,)]
    assert query(shops.db, "SELECT user_id, express FROM orders ORDER BY id") == [
        ("dave", 1), ("erin", 0),
    ]  # fmt: skip
