"""`AsyncFlagClient`: the asyncio SDK, with its updates in one task of the running loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx

from rollsafe.sdk.backoff import Backoff
from rollsafe.sdk.base import (
    ClientBase,
    ServiceRefusedError,
    StreamUnsupportedError,
    check_status,
)
from rollsafe.sdk.protocol import FEATURES_PATH, STREAM_PATH
from rollsafe.sdk.sse import SSEParser

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
            if connected[0]:
                backoff.reset()
            delay = backoff.next()
            if isinstance(problem, ServiceRefusedError) and problem.status in (401, 403):
                delay = self.backoff_max
            self.status = "disconnected"
            if problem is not None:
                self._failed(problem, delay)
                await self._fallback()
            await asyncio.sleep(delay)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.url or "",
                headers=self._headers,
                timeout=httpx.Timeout(self.connect_timeout),
                verify=self._verify(),
            )
        return self._http

    async def _stream_once(self, connected: list[bool]) -> None:
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
