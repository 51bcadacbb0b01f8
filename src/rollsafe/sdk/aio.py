"""`AsyncFlagClient`: the asyncio SDK, with its updates in one task of the running loop.

The stream is read by `rollsafe.sdk.eventstream.EventStream`, an
`asyncio.BufferedProtocol` on a plain HTTP/1.1 connection of its own: each
event is parsed and applied in the loop's read callback as its bytes arrive.
Reading it through httpx (anyio, httpcore, h11, a task switch and a 256 KiB
allocation per read) cost about 100 µs per event, half of a client's whole cost
of a change; a process holding many clients, or a busy one, pays it for every
change. httpx still does everything else (polling, the fallback fetch), and the
stream itself when the environment sets a proxy for the URL or the URL holds
credentials, which the lean connection does not speak.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from rollsafe.sdk.backoff import Backoff
from rollsafe.sdk.base import (
    ClientBase,
    StreamUnsupportedError,
    check_status,
)
from rollsafe.sdk.eventstream import EventStream, lean_stream_reaches, request_head
from rollsafe.sdk.protocol import FEATURES_PATH, STREAM_PATH
from rollsafe.sdk.sse import (
    SSEParser,
)

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("rollsafe.sdk")


class AsyncFlagClient(ClientBase):
    """The asyncio twin of `rollsafe.sdk.FlagClient` (same options and behaviour).

    ``await client.start()`` (or ``async with``) starts a task on the running
    loop; evaluation (`is_enabled`, `get_variant`) is synchronous and local. After
    ``os.fork`` the child's first use from a running loop restarts the task there.
    """

    def __init__(self, url: str | None = None, token: str | None = None, **options: Any) -> None:
        super().__init__(url, token, **options)
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self._lean = self.url is not None and lean_stream_reaches(self.url)
        self._running = False

    async def start(self) -> AsyncFlagClient:
        if self._running:
            return self
        self._running = True
        if self._store_source is not None:
            await asyncio.to_thread(self._read_store)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="rollsafe-flags")
        return self

    async def aclose(self) -> None:
        self._running = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._store_source is not None:
            self._store_source.close()
        self.status = "stopped"

    async def wait_until_ready(self, timeout: float) -> bool:
        """Wait until flags came from the service or store; False on timeout."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._ready.is_set():
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def __aenter__(self) -> AsyncFlagClient:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        self._http = None  # the parent's connections: forget, never close
        self._task = None

    def _after_fork_use(self) -> None:
        if not self._running:
            self._forked = False
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet in this process: try again on a later use
        self._forked = False
        self._task = loop.create_task(self._run(), name="rollsafe-flags")

    # -- background task ------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            if self.url is None:
                await self._follow_store()
            else:
                await self._follow_service()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the flag client's task failed; flags are no longer updated")

    async def _follow_store(self) -> None:
        if self._store_source is None:
            return
        self.status = "store"
        while True:
            await asyncio.sleep(self.store_interval)
            await asyncio.to_thread(self._read_store)

    async def _follow_service(self) -> None:
        backoff = Backoff(self.backoff_initial, self.backoff_max)
        polling = not self.streaming
        while True:
            if polling:
                self.status = "polling"
                try:
                    await self._poll_once()
                    self._recovered(f"flag service {self.url}")
                except Exception as error:
                    self._failed(error, self.poll_interval)
                    await asyncio.to_thread(self._read_store)
                await asyncio.sleep(self.poll_interval)
                continue
            connected = [False]
            problem: BaseException | None = None
            try:
                await self._stream_once(connected)
            except StreamUnsupportedError:
                log.info("%s has no stream; polling every %s s", self.url, self.poll_interval)
                polling = True
                continue
            except Exception as failure:  # every failure means: reconnect later
                problem = failure
            delay = self._reconnect_delay(backoff, connected[0], problem)
            if problem is not None:
                await self._fallback()
            await asyncio.sleep(delay)

    def _client(self) -> httpx.AsyncClient:
        import httpx  # on first use: `import rollsafe.sdk` stays light

        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.url or "",
                headers=self._headers,
                timeout=httpx.Timeout(self.connect_timeout),
                verify=self._verify(),
            )
        return self._http

    async def _stream_once(self, connected: list[bool]) -> None:
        if self._lean:
            await self._stream_lean(connected)
        else:
            await self._stream_httpx(connected)

    async def _stream_lean(self, connected: list[bool]) -> None:
        assert self.url is not None
        target = urlsplit(self.url)
        assert target.hostname is not None  # checked by lean_stream_reaches
        tls = target.scheme == "https"
        headers, params = self._stream_request()
        request = request_head(
            target.path.rstrip("/") + STREAM_PATH + "?" + urlencode(params),
            {"Host": target.netloc, **self._headers, **headers, "Accept-Encoding": "identity"},
        )
        loop = asyncio.get_running_loop()
        stream = EventStream(self._on_event, self.max_event_bytes, loop, connected)
        async with asyncio.timeout(self.connect_timeout):
            transport, _ = await loop.create_connection(
                lambda: stream,
                target.hostname,
                target.port or (443 if tls else 80),
                ssl=self._verify() if tls else None,
                server_hostname=target.hostname if tls else None,
            )
        try:
            transport.write(request)
            # Silence for heartbeat_timeout seconds means a dead stream; checked at that
            # pace rather than with a timer rescheduled on every read.
            while not stream.closed.done():
                idle = loop.time() - stream.last_data
                if idle >= self.heartbeat_timeout:
                    raise TimeoutError(f"no data from the stream for {idle:.1f} s")
                await asyncio.wait([stream.closed], timeout=self.heartbeat_timeout - idle)
        finally:
            if not stream.closed.done():
                stream.closed.cancel()  # given up on (timeout, aclose): nobody waits for it now
            transport.abort()
        stream.closed.result()  # the stream's failure, if any
        if stream.status != 200:
            check_status(stream.error_response(self.url + STREAM_PATH))

    async def _stream_httpx(self, connected: list[bool]) -> None:
        headers, params = self._stream_request()
        async with self._client().stream(
            "GET", STREAM_PATH, headers=headers, params=params, timeout=self._stream_timeout()
        ) as response:
            if response.status_code != 200:
                await response.aread()
            check_status(response)
            parser = SSEParser(self.max_event_bytes)
            async for chunk in response.aiter_raw():
                for event in parser.feed(chunk):
                    if self._on_event(event):
                        connected[0] = True

    async def _poll_once(self) -> None:
        headers, params = self._poll_request()
        self._polled(await self._client().get(FEATURES_PATH, headers=headers, params=params))

    async def _fallback(self) -> None:
        try:
            await self._poll_once()
        except Exception:
            await asyncio.to_thread(self._read_store)
