"""Who uses the flag service: requests counted per token and per application since start.

Counted on the event loop after a request's token is accepted, with one dict
increment each, so the count costs the hot path next to nothing. The application
is what Unleash SDKs name themselves with (the ``UNLEASH-APPNAME`` or ``appName``
header); requests without one count as ``(unnamed)``. Both tables are bounded:
past `MAX_NAMES` distinct names, new ones count under ``(other)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.types import Scope

from rollsafe.store.records import TokenRecord

MAX_NAMES = 1000
"""Distinct tokens, and distinct applications, counted by name at most."""
MAX_NAME_LENGTH = 100
"""Characters of an application name kept."""
UNNAMED = "(unnamed)"
OTHER = "(other)"

APP_HEADERS = (b"unleash-appname", b"appname")
"""Request headers naming the calling application, lowercase as ASGI gives them."""


def app_name(scope: Scope) -> str | None:
    """The application a request names in its headers, or None."""
    for key, value in scope["headers"]:
        if key in APP_HEADERS:
            name: str = value.decode("latin-1").strip()[:MAX_NAME_LENGTH]
            if name:
                return name
    return None


class Usage:
    """Request counts per token (by id) and per application name; see the module docstring."""

    __slots__ = ("_applications", "_token_names", "_tokens")

    def __init__(self) -> None:
        self._tokens: dict[str, int] = {}
        self._token_names: dict[str, str] = {}
        self._applications: dict[str, int] = {}

    def count(self, token: TokenRecord, scope: Scope) -> None:
        """One accepted request of ``token`` (its application read from ``scope``)."""
        tokens = self._tokens
        key = token.id
        if key in tokens:
            tokens[key] += 1
        elif len(tokens) < MAX_NAMES:
            tokens[key] = 1
            self._token_names[key] = token.name
        else:
            tokens[OTHER] = tokens.get(OTHER, 0) + 1
        application = app_name(scope) or UNNAMED
        applications = self._applications
        if application in applications:
            applications[application] += 1
        elif len(applications) < MAX_NAMES:
            applications[application] = 1
        else:
            applications[OTHER] = applications.get(OTHER, 0) + 1

    def by_token(self) -> list[dict[str, Any]]:
        """``[{"id", "name", "requests"}]``, most requests first."""
        names = self._token_names
        return [
            {"id": key, "name": names.get(key, key), "requests": count}
            for key, count in _most_first(self._tokens.items())
        ]

    def by_application(self) -> list[dict[str, Any]]:
        """``[{"name", "requests"}]``, most requests first."""
        return [
            {"name": name, "requests": count}
            for name, count in _most_first(self._applications.items())
        ]


def _most_first(items: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    return sorted(items, key=lambda item: (-item[1], item[0]))
