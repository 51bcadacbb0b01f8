"""The sample service rollsafe rolls out: a small shop over SQLite, releases 1.0.0 and 1.1.0.

Run one instance with ``python -m rollsafe.demo.shop --release-dir DIR --port N
--db PATH --home HOME``; ``DIR/release.json`` is ``{"version": "1.0.0" | "1.1.0",
"fault": null | "errors" | "latency" | "leak" | "corrupt"}``.

Endpoints: ``GET /products``, ``GET /products/{id}``, ``POST /checkout``
(``{"user_id": ..., "items": [{"product_id": ..., "quantity": ...}]}``, 201 with the
order, 400 naming the bad field), ``GET /orders/{id}``, ``GET /health`` and
``GET /metrics`` (Prometheus text; see :mod:`rollsafe.demo.shop.telemetry`).

1.1.0 adds schema version 2 (:mod:`rollsafe.demo.shop.orders`) and a fast-checkout
path behind flag ``fast-checkout``, evaluated per checkout with context
``{"userId": user_id}``. Faults are described in :mod:`rollsafe.demo.shop.faults`.
"""

from rollsafe.demo.shop.app import FLAG, FlagReader, create_app
from rollsafe.demo.shop.orders import PRODUCT_IDS
from rollsafe.demo.shop.release import FAULTS, VERSIONS, Release

__all__ = ["FAULTS", "FLAG", "PRODUCT_IDS", "VERSIONS", "FlagReader", "Release", "create_app"]
