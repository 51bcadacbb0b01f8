"""The shop's SQLite database: products, orders, migrations versioned by ``user_version``.

Several instances, possibly of different releases, share one database file, so:

- WAL journal and a busy timeout; every write is one ``BEGIN IMMEDIATE`` transaction;
- migrations run once at startup, inside a ``BEGIN IMMEDIATE`` transaction that
  re-reads ``user_version`` first, so two instances starting together apply each
  migration exactly once (the second finds the work done); each applied
  migration is also recorded in ``schema_migrations``;
- a release never lowers ``user_version``: 1.0.0 (schema 1) runs unchanged on a
  database 1.1.0 migrated to schema 2, because migration 2 only adds a column
  with a default. That is what makes rolling the release back possible.

Schema 1 (1.0.0): ``products``, ``orders(id, user_id, total_cents, created_at)``,
``order_items(order_id, line, product_id, quantity, price_cents)``.
Schema 2 (1.1.0): adds ``orders.express`` (``1`` for orders placed through the
fast-checkout path), ``NOT NULL DEFAULT 0`` so 1.0.0's inserts still work.

Fault ``corrupt`` (1.1.0 only) replaces migration 2 with a broken one: it
rebuilds ``orders`` with the integer ``total_cents`` column replaced by a text
column ``total`` holding the amount as decimal text (``1234`` becomes
``'12.34'``), plus ``express``, and still sets schema version 2. Afterwards:

- 1.0.0 cannot serve the table: ``POST /checkout`` and ``GET /orders/{id}`` answer
  500 (``no such column: total_cents``) and ``GET /health`` answers 503, since its
  health check reads every ``orders`` column 1.0.0 uses. Rolling back the flag or
  the release does not help; restoring the database from a backup does.
- 1.1.0 itself also fails every checkout and order read with 500, on both paths
  (its code still writes ``total_cents``), yet its ``/health`` stays 200: its health
  check only looks for what its own migration added (schema version 2 and the
  ``express`` column), which is exactly how such a migration ships.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollsafe.demo.shop.release import Release

BUSY_TIMEOUT = 5.0
"""Seconds a statement waits for another instance's write lock before failing."""

PRODUCTS: tuple[tuple[int, str, int], ...] = (
    (1, "Espresso beans, 1 kg", 2490),
    (2, "Filter coffee, 500 g", 1190),
    (3, "Ceramic mug", 1450),
    (4, "Pour-over dripper", 2900),
    (5, "Paper filters (100)", 590),
    (6, "Hand grinder", 7900),
    (7, "Milk jug", 1890),
    (8, "Tamper", 3400),
    (9, "Digital scale", 4290),
    (10, "Gooseneck kettle", 6900),
    (11, "Cold brew bottle", 2600),
    (12, "Cleaning tablets", 890),
)
PRODUCT_IDS = tuple(product[0] for product in PRODUCTS)
MAX_ITEMS = 50
MAX_QUANTITY = 100


class CorruptDataError(Exception):
    """A row is not in the shape this release understands; the request answers 500."""


class InvalidCheckoutError(ValueError):
    """A checkout payload is wrong; the message says where and why (answered with 400)."""


@dataclass(frozen=True)
class Item:
    product_id: int
    quantity: int


@dataclass(frozen=True)
class CheckoutRequest:
    user_id: str
    items: tuple[Item, ...]


def parse_checkout(body: Any, product_ids: Sequence[int] = PRODUCT_IDS) -> CheckoutRequest:
    """Check a ``POST /checkout`` body; InvalidCheckoutError names the first bad field."""
    if not isinstance(body, dict):
        raise InvalidCheckoutError("body must be a JSON object with user_id and items")
    unknown = sorted(set(body) - {"user_id", "items"})
    if unknown:
        raise InvalidCheckoutError(f"unknown fields: {', '.join(unknown)}")
    user_id = body.get("user_id")
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > 100:
        raise InvalidCheckoutError("user_id: must be a non-empty string of at most 100 characters")
    raw_items = body.get("items")
    if not isinstance(raw_items, list) or not 1 <= len(raw_items) <= MAX_ITEMS:
        raise InvalidCheckoutError(f"items: must be a list of 1 to {MAX_ITEMS} items")
    items = []
    for index, raw in enumerate(raw_items):
        where = f"items[{index}]"
        if not isinstance(raw, dict) or set(raw) != {"product_id", "quantity"}:
            raise InvalidCheckoutError(f"{where}: must be an object with product_id and quantity")
        product_id, quantity = raw["product_id"], raw["quantity"]
        if type(product_id) is not int or product_id not in product_ids:
            raise InvalidCheckoutError(f"{where}.product_id: no product {product_id!r}")
        if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidCheckoutError(
                f"{where}.quantity: must be an integer from 1 to {MAX_QUANTITY}, got {quantity!r}"
            )
        items.append(Item(product_id, quantity))
    return CheckoutRequest(user_id, tuple(items))


Migration = Callable[[sqlite3.Connection], None]


def _schema_1(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " price_cents INTEGER NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,"
        " total_cents INTEGER NOT NULL, created_at REAL NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE order_items (order_id INTEGER NOT NULL REFERENCES orders(id),"
        " line INTEGER NOT NULL, product_id INTEGER NOT NULL REFERENCES products(id),"
        " quantity INTEGER NOT NULL, price_cents INTEGER NOT NULL,"
        " PRIMARY KEY (order_id, line))"
    )
    conn.execute("CREATE INDEX orders_by_user ON orders (user_id)")
    conn.executemany("INSERT INTO products (id, name, price_cents) VALUES (?, ?, ?)", PRODUCTS)


def _schema_2(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE orders ADD COLUMN express INTEGER NOT NULL DEFAULT 0")


def _schema_2_corrupt(conn: sqlite3.Connection) -> None:
    """Fault ``corrupt``: the orders table rebuilt without ``total_cents`` (see module doc)."""
    conn.execute(
        "CREATE TABLE orders_v2 (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,"
        " total TEXT NOT NULL, created_at REAL NOT NULL, express INTEGER NOT NULL DEFAULT 0)"
    )
    conn.execute(
        "INSERT INTO orders_v2 (id, user_id, total, created_at)"
        " SELECT id, user_id, printf('%d.%02d', total_cents / 100, total_cents % 100),"
        " created_at FROM orders"
    )
    conn.execute("DROP TABLE orders")
    conn.execute("ALTER TABLE orders_v2 RENAME TO orders")
    conn.execute("CREATE INDEX orders_by_user ON orders (user_id)")


def migrations_for(release: Release) -> list[tuple[int, str, Migration]]:
    """The migrations a release knows, in order; their count is its schema version."""
    known: list[tuple[int, str, Migration]] = [(1, "products, orders, order_items", _schema_1)]
    if release.new:
        if release.active_fault == "corrupt":
            known.append((2, "orders.express (rebuilds orders)", _schema_2_corrupt))
        else:
            known.append((2, "orders.express", _schema_2))
    return known


def migrate(conn: sqlite3.Connection, release: Release) -> list[int]:
    """Bring the schema up to the release's version; returns the versions applied here.

    Safe when several instances start at once: the whole check-and-apply is one
    ``BEGIN IMMEDIATE`` transaction (DDL and ``user_version`` are transactional
    in SQLite), so a second instance waits for the first, then finds nothing to do.
    """
    _wait_for_wal(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
            " name TEXT NOT NULL, release TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        (current,) = conn.execute("PRAGMA user_version").fetchone()
        applied = []
        for version, name, step in migrations_for(release):
            if version <= current:
                continue
            step(conn)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, release, applied_at)"
                " VALUES (?, ?, ?, ?)",
                (version, name, release.version, time.time()),
            )
            # user_version takes no parameters; version is an int from the list above.
            conn.execute(f"PRAGMA user_version = {int(version)}")
            applied.append(version)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return applied


def _wait_for_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL; a brand-new file raced by two instances can report 'locked' once."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class ShopDatabase:
    """One connection per instance, used by one thread at a time (callers use a thread pool)."""

    def __init__(self, path: Path, release: Release) -> None:
        self.path = path
        self.release = release
        self.applied: list[int] = []
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._prices: dict[int, int] = {}

    def open(self) -> None:
        """Connect, migrate and cache the catalogue; idempotent."""
        with self._lock:
            if self._conn is not None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
                conn.execute("PRAGMA synchronous = NORMAL")
                self.applied = migrate(conn, self.release)
                rows = conn.execute("SELECT id, price_cents FROM products").fetchall()
            except BaseException:
                conn.close()
                raise
            self._prices = dict(rows)
            self._conn = conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise sqlite3.ProgrammingError("the shop database is not open")
        return self._conn

    def products(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT id, name, price_cents FROM products ORDER BY id"
            ).fetchall()
        return [{"id": id_, "name": name, "price_cents": price} for id_, name, price in rows]

    def product(self, product_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self.conn.execute(
                "SELECT id, name, price_cents FROM products WHERE id = ?", (product_id,)
            ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "name": row[1], "price_cents": row[2]}

    def checkout_classic(self, request: CheckoutRequest) -> dict[str, Any]:
        """The original path: the order, then each line priced from the table, then the total."""
        created = time.time()
        lines = []
        with self._lock, self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO orders (user_id, total_cents, created_at) VALUES (?, 0, ?)",
                (request.user_id, created),
            )
            order_id = int(cursor.lastrowid or 0)
            total = 0
            for line, item in enumerate(request.items, start=1):
                (price,) = conn.execute(
                    "SELECT price_cents FROM products WHERE id = ?", (item.product_id,)
                ).fetchone()
                conn.execute(
                    "INSERT INTO order_items (order_id, line, product_id, quantity, price_cents)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (order_id, line, item.product_id, item.quantity, price),
                )
                lines.append(_line(item, price))
                total += price * item.quantity
            conn.execute("UPDATE orders SET total_cents = ? WHERE id = ?", (total, order_id))
        return self._order(order_id, request.user_id, total, created, lines, express=False)

    def checkout_fast(self, request: CheckoutRequest) -> dict[str, Any]:
        """The fast-checkout path (1.1.0): prices from the cache, one insert per table."""
        created = time.time()
        lines = [_line(item, self._prices[item.product_id]) for item in request.items]
        total = sum(line["price_cents"] * line["quantity"] for line in lines)
        with self._lock, self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO orders (user_id, total_cents, created_at, express)"
                " VALUES (?, ?, ?, 1)",
                (request.user_id, total, created),
            )
            order_id = int(cursor.lastrowid or 0)
            conn.executemany(
                "INSERT INTO order_items (order_id, line, product_id, quantity, price_cents)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (order_id, number, line["product_id"], line["quantity"], line["price_cents"])
                    for number, line in enumerate(lines, start=1)
                ],
            )
        return self._order(order_id, request.user_id, total, created, lines, express=True)

    def order(self, order_id: int) -> dict[str, Any] | None:
        columns = "id, user_id, total_cents, created_at" + (", express" if self.release.new else "")
        with self._lock:
            row = self.conn.execute(
                f"SELECT {columns} FROM orders WHERE id = ?",  # noqa: S608 (fixed column list)
                (order_id,),
            ).fetchone()
            if row is None:
                return None
            items = self.conn.execute(
                "SELECT product_id, quantity, price_cents FROM order_items"
                " WHERE order_id = ? ORDER BY line",
                (order_id,),
            ).fetchall()
        _, user_id, total, created = row[:4]
        if type(total) is not int or type(user_id) is not str:
            raise CorruptDataError(f"order {order_id}: total_cents {total!r} is not an integer")
        lines = [{"product_id": p, "quantity": q, "price_cents": c} for p, q, c in items]
        express = bool(row[4]) if self.release.new else False
        return self._order(order_id, user_id, total, created, lines, express=express)

    def check_health(self) -> None:
        """Raise sqlite3.Error when this release cannot serve the database.

        1.0.0 reads every ``orders`` column it uses; 1.1.0 checks schema version 2
        and the column its migration added (the shallower check the ``corrupt``
        fault slips through; see the module docstring).
        """
        with self._lock:
            conn = self.conn
            if self.release.new:
                (version,) = conn.execute("PRAGMA user_version").fetchone()
                if version < 2:
                    raise sqlite3.DatabaseError(f"schema version {version}, expected 2")
                conn.execute("SELECT id, user_id, express, created_at FROM orders LIMIT 1")
            else:
                conn.execute("SELECT id, user_id, total_cents, created_at FROM orders LIMIT 1")
            conn.execute("SELECT id, price_cents FROM products LIMIT 1").fetchall()

    def _order(
        self,
        order_id: int,
        user_id: str,
        total: int,
        created: float,
        lines: list[dict[str, int]],
        *,
        express: bool,
    ) -> dict[str, Any]:
        order: dict[str, Any] = {
            "id": order_id,
            "user_id": user_id,
            "items": lines,
            "total_cents": total,
            "created_at": created,
        }
        if self.release.new:
            order["express"] = express
        return order

    def _transaction(self) -> _Transaction:
        return _Transaction(self.conn)


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


def _line(item: Item, price: int) -> dict[str, int]:
    return {"product_id": item.product_id, "quantity": item.quantity, "price_cents": price}
