"""What the sync and asyncio clients share: options, the current engine, evaluation, listeners.

Evaluation reads one attribute (the current immutable `Engine`) and never does
I/O; background work replaces that attribute. Each answer is noted for the SDK
middleware's per-variant metrics (`rollsafe.sdk.variants`). Nothing here raises
into the host application at evaluation time: a broken flag or context gives
the caller's default and a (rate-limited) warning.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rollsafe import __version__
from rollsafe.errors import FlagError
from rollsafe.errors import ServiceRefusedError as ServiceRefusedError
from rollsafe.errors import StreamUnsupportedError as StreamUnsupportedError
from rollsafe.flags import Engine
from rollsafe.sdk import variants
from rollsafe.sdk.backoff import Backoff
from rollsafe.sdk.protocol import CONNECTED, UPDATED, changed_names
from rollsafe.sdk.sse import ServerEvent
from rollsafe.sdk.stores import StoreSource
from rollsafe.store.records import DEFAULT_ENVIRONMENT

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("rollsafe.sdk")

WARNING_INTERVAL = 60.0
"""Seconds between repeated warnings about the same ongoing problem."""


@dataclass(frozen=True, slots=True)
class FlagsChanged:
    """What a listener hears after an update: which flags changed, and from where."""

    names: frozenset[str]
    """Flags added, changed or removed."""
    revision: int | None
    """The service's revision the client now holds (None when unknown)."""
    source: str
    """``stream``, ``poll`` or ``store``."""


Listener = Callable[[FlagsChanged], None]
Bootstrap = Mapping[str, Any] | str | os.PathLike[str]


def load_bootstrap(source: Bootstrap) -> Engine:
    """An engine from an Unleash features document (or a delta document), a dict or a file.

    Raises `FlagError` naming the file when it cannot be read or is not valid.
    """
    where = "bootstrap"
    if isinstance(source, Mapping):
        document: Any = source
    else:
        path = Path(source)
        where = f"bootstrap file {path}"
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise FlagError(f"{where}: cannot read it: {error.strerror or error}") from error
        except ValueError as error:
            raise FlagError(f"{where}: not JSON: {error}") from error
    try:
        if isinstance(document, Mapping) and "features" not in document and "events" in document:
            return Engine.from_delta(document)
        return Engine.from_unleash(document)
    except FlagError as error:
        raise FlagError(f"{where}: {error}") from error


class ClientBase:
    """Options, state and evaluation of a flag client; see `FlagClient` for the options."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        environment: str = DEFAULT_ENVIRONMENT,
        bootstrap: Bootstrap | None = None,
        store: str | os.PathLike[str] | None = None,
        streaming: bool = True,
        poll_interval: float = 15.0,
        store_interval: float = 0.25,
        heartbeat_timeout: float = 45.0,
        connect_timeout: float = 5.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        max_features: int = 10_000,
        max_event_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        for option, value in (
            ("poll_interval", poll_interval),
            ("store_interval", store_interval),
            ("heartbeat_timeout", heartbeat_timeout),
            ("connect_timeout", connect_timeout),
            ("backoff_initial", backoff_initial),
            ("backoff_max", backoff_max),
        ):
            if not value > 0:
                raise ValueError(f"{option} must be positive, got {value!r}")
        if backoff_initial > backoff_max:
            raise ValueError("backoff_initial must not exceed backoff_max")
        if max_features < 1 or max_event_bytes < 1:
            raise ValueError("max_features and max_event_bytes must be at least 1")
        self.url = url.rstrip("/") if url else None
        self.environment = environment
        self.streaming = streaming
        self.poll_interval = poll_interval
        self.store_interval = store_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.connect_timeout = connect_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_features = max_features
        self.max_event_bytes = max_event_bytes
        self._headers = {"User-Agent": f"rollsafe-sdk/{__version__}"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._store_source = StoreSource(store, environment) if store is not None else None
        self._engine = load_bootstrap(bootstrap) if bootstrap is not None else Engine()
        self.revision: int | None = None
        self.status = "bootstrap" if bootstrap is not None else "idle"
        """idle, bootstrap, streaming, polling, store, disconnected or stopped."""
        self._ready = threading.Event()
        self._listeners: list[Listener] = []
        self._update_lock = threading.Lock()
        self._etag: str | None = None
        self._failing_since: float | None = None
        self._last_warning = 0.0
        self._last_eval_warning = 0.0
        self._forked = False
        _CLIENTS.add(self)

    # -- evaluation (never raises, never blocks) ------------------------------------------

    @property
    def engine(self) -> Engine:
        """The current immutable engine (a snapshot: later updates replace it)."""
        if self._forked:
            self._after_fork_use()
        return self._engine

    def is_enabled(
        self, name: str, context: Mapping[str, Any] | None = None, *, default: bool = False
    ) -> bool:
        """Whether flag ``name`` is on for ``context``; ``default`` for a flag it does not know."""
        if self._forked:
            self._after_fork_use()
        engine = self._engine
        try:
            enabled = engine.is_enabled(name, context) if name in engine else default
        except Exception as error:  # never raise into the host application
            self._evaluation_failed(name, error)
            enabled = default
        variants.note(name, variants.ON if enabled else variants.OFF)
        return enabled

    def get_variant(self, name: str, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The variant of flag ``name`` (Unleash's shape); the disabled variant when unknown."""
        if self._forked:
            self._after_fork_use()
        try:
            variant = self._engine.get_variant(name, context)
        except Exception as error:  # never raise into the host application
            self._evaluation_failed(name, error)
            variant = {"name": "disabled", "enabled": False, "feature_enabled": False}
        variants.note(name, str(variant.get("name", "disabled")))
        return variant

    def __contains__(self, name: object) -> bool:
        return name in self._engine

    @property
    def ready(self) -> bool:
        """True once flags came from the service or store (not only from the bootstrap)."""
        return self._ready.is_set()

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after each update (from a background thread); returns a remover."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    # -- updating (background) -----------------------------------------------------------

    def _apply(self, document: Mapping[str, Any], revision: int | None, source: str) -> None:
        """Apply a delta document; raises `FlagError` (the engine is then unchanged).

        The document must be the client's own (just parsed): the engine keeps its parts.
        """
        with self._update_lock:
            old = self._engine
            engine = old.apply_delta(document, copy=False)
            self._install(old, engine, changed_names(document), revision, source)

    def _load(self, document: Mapping[str, Any], revision: int | None, source: str) -> None:
        """Replace everything with an Unleash features document (the client's own, as for
        `_apply`); raises `FlagError`."""
        with self._update_lock:
            old = self._engine
            self._install(old, Engine.from_unleash(document, copy=False), None, revision, source)

    def _install(
        self,
        old: Engine,
        engine: Engine,
        names: set[str] | None,
        revision: int | None,
        source: str,
    ) -> None:
        if len(engine) > self.max_features:
            raise FlagError(
                f"{len(engine)} flags exceed max_features={self.max_features}; keeping the last"
            )
        if names is None:
            names = _differences(old, engine)
        self._engine = engine
        if revision is not None:
            self.revision = revision
        if not self._ready.is_set():  # set() takes a lock even when already set
            self._ready.set()
        if names:
            self._notify(FlagsChanged(frozenset(names), revision, source))

    def _notify(self, event: FlagsChanged) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a flag listener failed on %s", sorted(event.names))

    def _http_client(self) -> httpx.Client:
        import httpx  # on first use: `import rollsafe.sdk` stays light

        return httpx.Client(
            base_url=self.url or "",
            headers=self._headers,
            timeout=httpx.Timeout(self.connect_timeout),
            verify=self._verify(),
        )

    def _verify(self) -> ssl.SSLContext | bool:
        """No TLS context for plain HTTP; one shared context for HTTPS (loading CAs is slow)."""
        if self.url is not None and self.url.startswith("https:"):
            return _tls_context()
        return False

    def _stream_timeout(self) -> httpx.Timeout:
        # The read timeout is the heartbeat timeout: silence that long means a dead stream.
        import httpx  # on first use: `import rollsafe.sdk` stays light

        return httpx.Timeout(self.connect_timeout, read=self.heartbeat_timeout)

    def _stream_request(self) -> tuple[dict[str, str], dict[str, str]]:
        headers = {"Accept": "text/event-stream"}
        if self.revision is not None:
            headers["Last-Event-ID"] = str(self.revision)
        return headers, {"environment": self.environment}

    def _on_event(self, event: ServerEvent) -> bool:
        """Apply one stream event; True for the connected event. Raises to reconnect."""
        if event.event not in (CONNECTED, UPDATED):
            return False
        revision = int(event.id) if event.id and event.id.isdigit() else None
        try:
            self._apply(json.loads(event.data), revision, "stream")
        except Exception:
            # A change we could not apply leaves the state unknown: start again from scratch.
            self.revision = None
            raise
        if event.event == CONNECTED:
            self.status = "streaming"
            self._recovered(f"flag service {self.url}")
            return True
        return False

    def _poll_request(self) -> tuple[dict[str, str], dict[str, str]]:
        headers = {"If-None-Match": self._etag} if self._etag else {}
        return headers, {"environment": self.environment}

    def _polled(self, response: httpx.Response) -> None:
        if response.status_code == 304:
            self._ready.set()
            return
        check_status(response)
        document = response.json()
        meta = document.get("meta") if isinstance(document, dict) else None
        revision = meta.get("revision") if isinstance(meta, dict) else None
        self._load(document, revision if isinstance(revision, int) else None, "poll")
        self._etag = response.headers.get("etag")

    def _read_store(self) -> bool:
        """One read of the store source; True if it worked. Never raises."""
        source = self._store_source
        if source is None:
            return False
        try:
            result = source.read()
            if result is not None:
                self._apply(result[0], result[1], "store")
            elif source.exists():
                self._ready.set()
        except Exception as error:
            source.forget()
            self._failed(error, None, what=f"flag store {source.where}")
            return False
        self._recovered(f"flag store {source.where}")
        return True

    # -- problems: warn once per change of health, then at most every minute ------------

    def _reconnect_delay(
        self, backoff: Backoff, connected: bool, problem: BaseException | None
    ) -> float:
        """Seconds to wait before streaming again after a stream ended (``problem``, if it
        failed, is reported): the backoff starts over after a stream that connected."""
        if connected:
            backoff.reset()
        delay = backoff.next()
        if isinstance(problem, ServiceRefusedError) and problem.status in (401, 403):
            delay = self.backoff_max  # a bad token will not fix itself quickly
        self.status = "disconnected"
        if problem is not None:
            self._failed(problem, delay)
        return delay

    def _failed(
        self, error: BaseException, delay: float | None, *, what: str | None = None
    ) -> None:
        now = time.monotonic()
        what = what or f"flag service {self.url}"
        retry = f"; retrying in {delay:.1f} s" if delay is not None else ""
        if self._failing_since is None or now - self._last_warning >= WARNING_INTERVAL:
            log.warning(
                "%s unavailable (%s: %s); serving the last known flags, defaults for others%s",
                what, type(error).__name__, error, retry,
            )  # fmt: skip
            self._last_warning = now
        else:
            log.debug("%s still unavailable: %s%s", what, error, retry)
        if self._failing_since is None:
            self._failing_since = now

    def _recovered(self, what: str) -> None:
        if self._failing_since is not None:
            log.info(
                "%s reachable again after %.1f s", what, time.monotonic() - self._failing_since
            )
            self._failing_since = None

    def _evaluation_failed(self, name: str, error: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_eval_warning >= WARNING_INTERVAL:
            self._last_eval_warning = now
            log.warning("flag %r could not be evaluated, using the default: %r", name, error)

    # -- fork ---------------------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        """Called in the child right after ``fork``: the parent's threads and sockets are gone."""
        self._update_lock = threading.Lock()
        ready, self._ready = self._ready.is_set(), threading.Event()
        if ready:
            self._ready.set()  # the inherited flags stay usable until the restart catches up
        if self._store_source is not None:
            self._store_source.forget()
        self._forked = True

    def _after_fork_use(self) -> None:
        """First use in a child: restart the background work (overridden by the clients)."""
        self._forked = False


def check_status(response: httpx.Response) -> None:
    """Raise for anything but 200: `StreamUnsupportedError` if a stream URL does not exist."""
    if response.status_code == 200:
        return
    try:
        body = response.json()
        message = str(body.get("message") or body.get("detail") or response.text)
    except (ValueError, AttributeError):
        message = response.text
    no_route = response.status_code in (404, 405, 501) and "environment" not in message
    if no_route and response.request.url.path.endswith("/stream"):
        raise StreamUnsupportedError(f"no stream at {response.request.url}")
    raise ServiceRefusedError(response.status_code, message[:300])


def _differences(old: Engine, new: Engine) -> set[str]:
    if not len(old):
        return set(new.feature_names())
    before = {f["name"]: f for f in old.to_unleash()["features"]}
    after = {f["name"]: f for f in new.to_unleash()["features"]}
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


@functools.cache
def _tls_context() -> ssl.SSLContext:
    import certifi  # httpx's own CA bundle, so HTTPS verifies as httpx would by default

    return ssl.create_default_context(cafile=certifi.where())


_CLIENTS: weakref.WeakSet[ClientBase] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for client in list(_CLIENTS):
        client._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
