"""What a flag server can be tuned with; every limit that bounds its memory lives here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSettings:
    poll_interval: float = 0.05
    """Seconds between checks of the store's flag revision (writes by other processes)."""
    notified_poll_interval: float = 5.0
    """The same while a PostgreSQL store's change notifications (LISTEN) are up.

    Each commit then wakes the feed at once, so polling is only the safety net for
    what NOTIFY cannot tell: changes committed while the listener's connection was
    silently dead (keepalives take ~25s to notice) and rows edited outside rollsafe
    or restored from a backup. A few seconds bounds how stale that leaves a replica;
    polling every 50 ms instead would cost every replica 20 reads/s of the shared
    database for nothing. Never shorter than ``poll_interval``.
    """
    heartbeat: float = 15.0
    """Seconds between SSE heartbeats; clients treat a few missed ones as a dead stream."""
    max_streams: int = 10_000
    """Open SSE streams at most; more get 503 and retry later.

    Lowered at start-up to what the open-file limit affords (`rollsafe.server.descriptors`).
    """
    queue_limit: int = 256
    """Messages queued per stream at most; a client that falls this far behind is dropped."""
    send_timeout: float = 10.0
    """Seconds one write to a stream may block before the client is dropped as too slow."""
    max_stream_age: float = 3600.0
    """Seconds a stream stays open; the client then reconnects (and resumes) on its own."""
    access_log: str | None = None
    """Where the access log goes: ``"-"`` standard error, else a file appended to; None: off."""
    token_cache_ttl: float = 2.0
    """Seconds a verified token is trusted without reading the store again.

    Also how often open streams' tokens are checked: a revoked token's streams end
    within about this long, on every replica.
    """
