"""The provider interface: how one kind of channel turns a message into a request.

Each format lives in a module of its own (webhook, slack, teams, discord) and
registers a factory under its plan ``type``; the sender (`delivery`) knows
only this interface: a body, and headers computed over the exact body bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from rollsafe.config.notify import NotifyChannel
from rollsafe.notify.message import Message


class Provider(Protocol):
    name: str
    """The plan's ``type``."""

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON document the receiver expects."""
        ...

    def headers(self, body: bytes, now: float) -> dict[str, str]:
        """Extra headers for ``body`` sent at ``now`` (signatures); usually none."""
        ...


ProviderFactory = Callable[[NotifyChannel, Mapping[str, str]], Provider]
"""Builds a provider from its config and the environment (where secrets are)."""

PROVIDERS: dict[str, ProviderFactory] = {}


def register(name: str) -> Callable[[ProviderFactory], ProviderFactory]:
    def add(factory: ProviderFactory) -> ProviderFactory:
        PROVIDERS[name] = factory
        return factory

    return add


def encode(payload: dict[str, Any]) -> bytes:
    """The request body: compact UTF-8 JSON (the bytes a signature covers)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class Unsigned:
    """Headers for receivers that verify nothing (chat incoming webhooks)."""

    def headers(self, body: bytes, now: float) -> dict[str, str]:
        del body, now
        return {}
