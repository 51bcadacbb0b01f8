"""Which flag variants the current request was given, noted as the SDK evaluates them.

The SDK middleware (`rollsafe.sdk.middleware`) opens a notebook for each request
with `noting`; every `is_enabled` (``on``/``off``) and `get_variant` (the variant's
name) made while it is open writes the flag's answer into it. The notebook is a
plain dict held by a context variable, so it follows the request into asyncio
tasks and Starlette's thread pool (both copy the context, and so share the dict)
and never mixes two concurrent requests; a thread the handler starts itself sees
it only if run with ``contextvars.copy_context().run``. Outside a request nothing is noted and the
cost is one context-variable read.

If a handler evaluates a flag twice, the last answer is the one noted: code that
asks ``is_enabled`` and then ``get_variant`` gets the variant's name.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import quote

ON = "on"
OFF = "off"
MAX_NOTED = 64
"""Flags noted per request at most; others evaluated after them are not noted."""
MAX_HEADER_BYTES = 1024
"""Longest variant header value; pairs that would make it longer are left out (a router's
buffer for response headers is typically 4 KiB, and it holds every header)."""

_NOTES: ContextVar[dict[str, str] | None] = ContextVar("rollsafe_sdk_variants", default=None)


def note(name: str, variant: str) -> None:
    """Note that flag ``name`` answered ``variant`` in the current request, if one is open."""
    notes = _NOTES.get()
    if notes is not None and (name in notes or len(notes) < MAX_NOTED):
        notes[name] = variant


@contextmanager
def noting() -> Iterator[dict[str, str]]:
    """Open a notebook for one request: ``{flag: variant}``, filled while the block runs."""
    notes: dict[str, str] = {}
    token = _NOTES.set(notes)
    try:
        yield notes
    finally:
        _NOTES.reset(token)


def header_value(notes: Mapping[str, str]) -> str:
    """The variant header for ``notes``: ``flag=variant`` pairs joined by ``", "``.

    Flag and variant are percent-encoded (RFC 3986 unreserved characters stay as
    they are), so ``,`` and ``=`` inside names cannot break a pair and the value is
    plain ASCII. Empty when nothing was noted.
    """
    pairs: list[str] = []
    size = 0
    for name, variant in notes.items():
        pair = _pair(name, variant)
        size += len(pair) + (2 if pairs else 0)
        if size > MAX_HEADER_BYTES:
            break
        pairs.append(pair)
    return ", ".join(pairs)


@functools.lru_cache(maxsize=4096)
def _pair(name: str, variant: str) -> str:
    # Cached: a service answers the same few pairs all day, and quoting costs microseconds.
    return f"{quote(name, safe='')}={quote(variant, safe='')}"
