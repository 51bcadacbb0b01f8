"""The WSGI middleware in real Flask (under werkzeug) and Django (under wsgiref) apps."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from rollsafe.sdk import AsyncFlagClient, FlagClient
from rollsafe.sdk.middleware import RollsafeWSGIMiddleware
from tests.sdk.middleware_support import (
    CHECKOUT,
    COLOUR,
    FEATURES,
    BoomError,
    assert_counted,
    exercise,
    flags,
    requests_to_send,
    scrape,
    werkzeug_server,
    wsgiref_server,
)

_client: FlagClient | None = None
"""The flags the Django views read (Django finds views through this module's urlpatterns)."""


def flask_app(client: FlagClient, **options: Any) -> Any:
    from flask import Flask, request

    app = Flask(__name__)

    @app.get("/checkout")
    def checkout() -> tuple[str, int]:
        on = client.is_enabled(CHECKOUT, {"userId": request.args["user"]})
        if on and request.args.get("fail"):
            return "new path failed", 500
        return ("on" if on else "off"), 200

    @app.get("/colour")
    def colour() -> str:
        return str(client.get_variant(COLOUR, {"userId": request.args["user"]})["name"])

    @app.get("/both")
    def both() -> str:
        client.is_enabled(CHECKOUT, {"userId": request.args["user"]})
        return str(client.get_variant(COLOUR, {"userId": request.args["user"]})["name"])

    @app.get("/plain")
    def plain() -> str:
        return "plain"

    @app.get("/boom")
    def boom() -> str:
        client.is_enabled(CHECKOUT, {"userId": request.args["user"]})
        raise BoomError(request.args["user"])

    app.wsgi_app = RollsafeWSGIMiddleware(app.wsgi_app, client=client, **options)  # type: ignore[method-assign]
    return app


def _django_checkout(request: Any) -> Any:
    from django.http import HttpResponse

    assert _client is not None
    on = _client.is_enabled(CHECKOUT, {"userId": request.GET["user"]})
    if on and request.GET.get("fail"):
        return HttpResponse("new path failed", status=500)
    return HttpResponse("on" if on else "off")


def _django_colour(request: Any) -> Any:
    from django.http import HttpResponse

    assert _client is not None
    return HttpResponse(_client.get_variant(COLOUR, {"userId": request.GET["user"]})["name"])


def _django_both(request: Any) -> Any:
    assert _client is not None
    _client.is_enabled(CHECKOUT, {"userId": request.GET["user"]})
    return _django_colour(request)


def _django_plain(request: Any) -> Any:
    from django.http import HttpResponse

    return HttpResponse("plain")


def _django_boom(request: Any) -> Any:
    assert _client is not None
    _client.is_enabled(CHECKOUT, {"userId": request.GET["user"]})
    raise BoomError(request.GET["user"])


def _urlpatterns() -> list[Any]:
    from django.urls import path

    return [
        path("checkout", _django_checkout),
        path("colour", _django_colour),
        path("both", _django_both),
        path("plain", _django_plain),
        path("boom", _django_boom),
    ]


def __getattr__(name: str) -> Any:
    # Django reads ROOT_URLCONF's urlpatterns after it is set up; built lazily, so that
    # importing this module does not import Django.
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


def django_app(client: FlagClient, **options: Any) -> Any:
    import django
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    global _client
    _client = client
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="tests-only",
            ROOT_URLCONF=__name__,
            ALLOWED_HOSTS=["127.0.0.1"],
            INSTALLED_APPS=[],
            MIDDLEWARE=[],
            LOGGING_CONFIG=None,
        )
        django.setup()
    return RollsafeWSGIMiddleware(get_wsgi_application(), client=client, **options)


Serving = Callable[[Any], AbstractContextManager[str]]


@pytest.fixture(
    params=[(flask_app, werkzeug_server), (django_app, wsgiref_server)], ids=["flask", "django"]
)
def framework(request: pytest.FixtureRequest) -> tuple[Callable[..., Any], Serving]:
    pair: tuple[Callable[..., Any], Serving] = request.param
    return pair


@pytest.fixture(autouse=True)
def quiet_errors() -> Iterator[None]:
    """The apps log the exceptions ``/boom`` raises; they are expected here."""
    loggers = [logging.getLogger(name) for name in ("django.request", "rollsafe.sdk")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def test_counts_every_request_per_variant_and_sets_the_header(
    framework: tuple[Callable[..., Any], Serving],
) -> None:
    make_app, serving = framework
    client = flags()
    with serving(make_app(client, release="2.0.1")) as url:
        sent = requests_to_send()
        exercise(url, sent)
        exposition = assert_counted(url, sent)
        assert exposition.requests[CHECKOUT, "on", "500"] > 3
        assert all(labels["release"] == "2.0.1" for labels in exposition.labels)
        assert scrape(url).requests == exposition.requests
    assert client._running  # the first request started it
    client.stop()


def test_path_and_header_are_configurable(framework: tuple[Callable[..., Any], Serving]) -> None:
    make_app, serving = framework
    client = flags()
    app = make_app(client, metrics_path="/-/flagmetrics", variant_header="X-Arm")
    with serving(app) as url:
        response = httpx.get(f"{url}/checkout", params={"user": "u9"})
        variant = "on" if client.is_enabled(CHECKOUT, {"userId": "u9"}) else "off"
        assert response.headers["x-arm"] == f"{CHECKOUT}={variant}"
        assert "x-rollsafe-variant" not in response.headers
        assert httpx.get(f"{url}/metrics").status_code == 404
        assert scrape(url, "/-/flagmetrics").requests == {
            (CHECKOUT, variant, "200"): 1,
            ("", "none", "404"): 1,
        }
    client.stop()


def test_an_exception_that_reaches_the_middleware_is_a_500_on_its_variant() -> None:
    """A bare WSGI app (no framework turning errors into 500s) that raises."""
    client = flags()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        client.is_enabled(CHECKOUT, {"userId": "u1"})
        raise BoomError("no answer")

    variant = "on" if client.is_enabled(CHECKOUT, {"userId": "u1"}) else "off"
    with wsgiref_server(RollsafeWSGIMiddleware(app)) as url:
        response = httpx.get(f"{url}/anything")
        assert response.status_code == 500
        assert response.headers["x-rollsafe-variant"] == f"{CHECKOUT}={variant}"
        assert scrape(url).requests == {(CHECKOUT, variant, "500"): 1}


def test_an_async_client_is_refused() -> None:
    with pytest.raises(TypeError, match="FlagClient"):
        RollsafeWSGIMiddleware(lambda e, s: [], client=AsyncFlagClient(bootstrap=FEATURES))  # type: ignore[arg-type]
