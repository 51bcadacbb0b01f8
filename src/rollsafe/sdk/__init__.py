"""The Python SDK: flags evaluated locally, kept current from the flag service or the store.

``FlagClient(url, token)`` (threads) and ``AsyncFlagClient(url, token)`` (asyncio)
stream changes from ``rollsafe server``; ``store=`` reads a rollsafe state store
directly; ``bootstrap=`` starts from a document. `rollsafe.sdk.openfeature` holds
the OpenFeature provider.
"""

from rollsafe.sdk.aio import AsyncFlagClient
from rollsafe.sdk.base import FlagsChanged, Listener, load_bootstrap
from rollsafe.sdk.client import FlagClient
from rollsafe.sdk.stores import StoreSource

__all__ = [
    "AsyncFlagClient",
    "FlagClient",
    "FlagsChanged",
    "Listener",
    "StoreSource",
    "load_bootstrap",
]
