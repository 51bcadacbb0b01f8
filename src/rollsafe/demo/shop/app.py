"""The shop's ASGI app: browse products, check out, read orders, health and metrics.

``create_app`` builds one instance; the flag reader is injected, so tests pass a
fake and ``python -m rollsafe.demo.shop`` passes a poller of the rollsafe store.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rollsafe.demo.shop.faults import Faults
from rollsafe.demo.shop.maintenance import MaintenanceMiddleware
from rollsafe.demo.shop.orders import (
    CorruptDataError,
    InvalidCheckoutError,
    ShopDatabase,
    parse_checkout,
)
from rollsafe.demo.shop.release import Release
from rollsafe.demo.shop.telemetry import VARIANT_KEY, Telemetry, TelemetryMiddleware

log = logging.getLogger(__name__)

FLAG = "fast-checkout"


class FlagReader(Protocol):
    """Anything that answers whether a flag is on for a context (Unleash context keys)."""

    def is_enabled(self, name: str, context: dict[str, Any]) -> bool: ...


@runtime_checkable
class BackgroundFlagReader(Protocol):
    """A flag reader with a background refresher; the app starts and stops it."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def create_app(
    release_dir: Path,
    db_path: Path,
    flags: FlagReader,
    *,
    rng: random.Random | None = None,
    maintenance_marker: Path | None = None,
) -> Starlette:
    """One shop instance of the release in ``release_dir`` over the database ``db_path``.

    The lifespan opens (and migrates) the database and starts ``flags`` if it has
    ``start``/``stop``. ``rng`` drives the ``errors`` and ``latency`` faults. While the
    file ``maintenance_marker`` exists, requests other than health and metrics get 503.
    Raises RollsafeError if ``release.json`` is invalid.
    """
    release = Release.load(release_dir)
    db = ShopDatabase(db_path, release)
    telemetry = Telemetry(release.version)
    faults = Faults(release, rng)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        del app
        await run_in_threadpool(db.open)
        if db.applied:
            log.info("release %s migrated %s to schema %s", release.version, db_path, db.applied)
        if isinstance(flags, BackgroundFlagReader):
            flags.start()
        try:
            yield
        finally:
            if isinstance(flags, BackgroundFlagReader):
                flags.stop()
            db.close()

    async def list_products(request: Request) -> Response:
        del request
        return JSONResponse({"products": await run_in_threadpool(db.products)})

    async def get_product(request: Request) -> Response:
        product_id: int = request.path_params["id"]
        product = await run_in_threadpool(db.product, product_id)
        if product is None:
            return JSONResponse({"error": f"no product {product_id}"}, status_code=404)
        return JSONResponse(product)

    async def checkout(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be valid JSON"}, status_code=400)
        try:
            order_request = parse_checkout(body)
        except InvalidCheckoutError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        fast = release.new and flags.is_enabled(FLAG, {"userId": order_request.user_id})
        if not fast:
            order = await run_in_threadpool(db.checkout_classic, order_request)
            return JSONResponse(order | {"variant": "old"}, status_code=201)
        request.scope[VARIANT_KEY] = "new"
        delay = faults.fast_checkout_delay()
        if delay:
            await asyncio.sleep(delay)
        if faults.fast_checkout_fails():
            return JSONResponse(
                {"error": "fast checkout failed (injected fault 'errors')"}, status_code=500
            )
        order = await run_in_threadpool(db.checkout_fast, order_request)
        return JSONResponse(order | {"variant": "new"}, status_code=201)

    async def get_order(request: Request) -> Response:
        order_id: int = request.path_params["id"]
        order = await run_in_threadpool(db.order, order_id)
        if order is None:
            return JSONResponse({"error": f"no order {order_id}"}, status_code=404)
        return JSONResponse(order)

    async def health(request: Request) -> Response:
        del request
        try:
            await run_in_threadpool(db.check_health)
        except sqlite3.Error as error:
            return JSONResponse(
                {"status": "error", "release": release.version, "error": str(error)},
                status_code=503,
            )
        return JSONResponse({"status": "ok", "release": release.version})

    async def metrics(request: Request) -> Response:
        del request
        return Response(
            generate_latest(telemetry.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def database_error(request: Request, error: Exception) -> Response:
        log.error("%s %s failed: %s", request.method, request.url.path, error)
        return JSONResponse({"error": f"database error: {error}"}, status_code=500)

    app = Starlette(
        routes=[
            Route("/products", list_products, methods=["GET"]),
            Route("/products/{id:int}", get_product, methods=["GET"]),
            Route("/checkout", checkout, methods=["POST"]),
            Route("/orders/{id:int}", get_order, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        middleware=[
            Middleware(TelemetryMiddleware, telemetry=telemetry, on_request=faults.on_request),
            Middleware(MaintenanceMiddleware, marker=maintenance_marker),
        ],
        exception_handlers={sqlite3.Error: database_error, CorruptDataError: database_error},
        lifespan=lifespan,
    )
    app.state.release = release
    app.state.db = db
    app.state.faults = faults
    app.state.telemetry = telemetry
    return app
