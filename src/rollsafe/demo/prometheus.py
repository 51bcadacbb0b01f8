"""A Prometheus of the demo's own (``rollsafe demo --metrics prometheus``).

Everything it uses lives under one directory of the demo's workdir: the generated
``prometheus.yml``, the ``targets.json`` its file-based service discovery reads,
the TSDB in ``data/``, ``prometheus.log`` and ``queries.log`` (Prometheus's own
query log: every PromQL query the controller sent, with its time). It listens on
a free loopback port and scrapes every second.

The process target gives each instance it starts a new port, so every deploy and
rollback changes what there is to scrape. :class:`TargetsFile` rewrites the
targets file from the target's live endpoints every 0.25 s (atomically, only when
they changed). Prometheus reads the file as soon as it changes (inotify;
``refresh_interval`` is only a fallback), but its discovery and scrape managers
pass target changes on at 5-second ticks (not configurable in Prometheus 2.x), so
a new instance is first scraped 0 to 6 s after it joins the endpoints (2 to 5.4 s
measured). The plan's ``lookback`` (:data:`LOOKBACK`) spans that gap: the stopped
instances' last samples stay in each look's window, so a look does not find the
service unscraped, and a new instance's counters, first seen late, count in full
(see :mod:`rollsafe.metrics.prometheus`); the demo's analyses (6 s at least) and
guards see every instance's traffic, a few seconds late after a deploy.

Whatever happens (an error, Ctrl-C, SIGTERM turned into KeyboardInterrupt by the
demo), :meth:`PrometheusServer.stop` ends the process and reaps it; a demo killed
outright leaves a pid file from which the next run in the same workdir stops it
(:func:`stop_leftover`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from rollsafe.config import ScrapeMetrics, load_plan
from rollsafe.errors import RollsafeError
from rollsafe.support.http import http_get
from rollsafe.support.ports import free_port
from rollsafe.targets.procs import start_ticks

log = logging.getLogger(__name__)

JOB = "shop"
"""The scrape job of the shop's instances: the plan selects its series with ``{job: shop}``."""
SCRAPE_INTERVAL = "1s"
"""As often as the demo's analysis looks (``analysis.interval: 1s``)."""
LOOKBACK = "15s"
"""The plan's ``metrics.lookback``: well over the up to 6 s between an instance's last
scrape and its successor's first (a look re-reads this much: ~60 samples of requests)."""
REFRESH_SECONDS = 0.25
"""How often the targets file is compared with the live endpoints."""
READY_SECONDS = 30.0
"""Bound on start-up and on the first scrape of new targets (a busy machine is slow)."""
STOP_SECONDS = 10.0
"""How long Prometheus may take to shut down after SIGTERM before it is killed."""
INSTALL_HINT = (
    "install it with `make servers` (scripts/install-servers.sh) or `apt install prometheus`"
)
PID_FILE = "prometheus.pid"


def prometheus_binary(name: str = "prometheus") -> str:
    """The Prometheus executable: ``name`` on ``PATH`` or in /usr/sbin (not on every PATH)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise RollsafeError(f"{name} not found on PATH nor in /usr/sbin: {INSTALL_HINT}")
    return found


def write_atomically(path: Path, text: str) -> None:
    """Readers (Prometheus's file discovery) see the old file or the new one, never half."""
    partial = path.with_name(path.name + ".partial")  # a name no ``files`` pattern matches
    partial.write_text(text)
    os.replace(partial, path)


class PrometheusServer:
    """One Prometheus process, its files under ``root``, on a free loopback port.

    :meth:`start` takes the ``scrape_configs`` of its configuration and returns once
    Prometheus answers ``/-/ready``; :attr:`url` is then its base URL.
    """

    def __init__(
        self,
        root: Path,
        *,
        scrape_interval: str = SCRAPE_INTERVAL,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        self.root = root
        self.scrape_interval = scrape_interval
        self.extra_config = extra_config or {}
        """Merged into the configuration (``global`` key by key): rule files, say."""
        self.url = ""
        self.config_file = root / "prometheus.yml"
        self.log_file = root / "prometheus.log"
        self.query_log = root / "queries.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, scrape_configs: list[dict[str, Any]]) -> str:
        binary = prometheus_binary()
        self.root.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "scrape_timeout": self.scrape_interval,
                "query_log_file": str(self.query_log),
            },
            "scrape_configs": scrape_configs,
        }
        for key, value in self.extra_config.items():
            merge = isinstance(value, dict) and isinstance(config.get(key), dict)
            config[key] = {**config[key], **value} if merge else value
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        # Another process may take the free port before Prometheus binds it: try another.
        for _ in range(3):
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            process = self._spawn(binary, port)
            try:
                if self._wait_ready(process):
                    return self.url
            except BaseException:
                self.stop()
                raise
        raise RollsafeError(f"Prometheus could not bind a loopback port:\n{self.log_tail()}")

    def _spawn(self, binary: str, port: int) -> subprocess.Popen[bytes]:
        argv = [
            binary,
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        with self.log_file.open("ab") as out:
            # A session of its own: Ctrl-C reaches the demo only, which stops Prometheus
            # last, after the controller no longer queries it.
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.root / PID_FILE).write_text(f"{self._process.pid}\n")
        return self._process

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> bool:
        """True once ready; False if it exited for want of its port; RollsafeError otherwise."""
        deadline = time.monotonic() + READY_SECONDS
        while True:
            code = process.poll()
            if code is not None:
                self._process = None
                if "address already in use" in self.log_tail():
                    return False
                raise RollsafeError(f"Prometheus exited with code {code}:\n{self.log_tail()}")
            try:
                if http_get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RollsafeError(
                    f"Prometheus not ready within {READY_SECONDS:g}s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def active_targets(self) -> list[dict[str, Any]]:
        """``activeTargets`` of ``/api/v1/targets``: labels, ``health``, ``lastScrape``..."""
        try:
            response = http_get(self.url + "/api/v1/targets", params={"state": "active"}, timeout=2)
            response.raise_for_status()
            targets: list[dict[str, Any]] = response.json()["data"]["activeTargets"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            raise RollsafeError(
                f"cannot list Prometheus's targets at {self.url}: {error}"
            ) from error
        return targets

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """SIGTERM, SIGKILL after :data:`STOP_SECONDS`; the process is reaped either way."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.terminate()
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        except BaseException:
            process.kill()  # interrupted again while waiting: do not leave it behind
            process.wait()
            raise
        finally:
            (self.root / PID_FILE).unlink(missing_ok=True)


class TargetsFile:
    """A ``file_sd_configs`` targets file kept equal to ``endpoints()``, from a thread."""

    def __init__(
        self, path: Path, endpoints: Callable[[], list[str]], *, interval: float = REFRESH_SECONDS
    ) -> None:
        self.path = path
        self.endpoints = endpoints
        self.interval = interval
        self.addresses: list[str] | None = None
        self._lock = threading.Lock()  # the refresher thread and wait_scraping both refresh
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prometheus-targets", daemon=True)

    def refresh(self) -> list[str]:
        """Rewrite the file if the live endpoints changed; the addresses it now lists."""
        addresses = sorted(urlsplit(url).netloc for url in self.endpoints())
        with self._lock:
            if addresses != self.addresses:
                # One group even when empty: an empty group is what removes the old targets.
                group = {"targets": addresses, "labels": {}}
                write_atomically(self.path, json.dumps([group]) + "\n")
                self.addresses = addresses
        return addresses

    def start(self) -> None:
        self.refresh()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception as error:
                # Whatever failed (the target's state mid-update, a full disk), the thread
                # must live on: a dead refresher would leave Prometheus scraping stale ports.
                log.warning("cannot refresh %s: %s", self.path, error)


class DemoPrometheus:
    """Prometheus scraping the live ``endpoints`` (job :data:`JOB`) every second.

    A context manager: entering starts Prometheus and the targets file's refresher,
    leaving stops both, whatever ended the block.
    """

    def __init__(
        self, root: Path, endpoints: Callable[[], list[str]], *, metrics_path: str = "/metrics"
    ) -> None:
        self.server = PrometheusServer(root)
        self.targets = TargetsFile(root / "targets.json", endpoints)
        self.metrics_path = metrics_path

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> DemoPrometheus:
        self.server.root.mkdir(parents=True, exist_ok=True)
        try:
            self.targets.start()
            self.server.start(
                [
                    {
                        "job_name": JOB,
                        "metrics_path": self.metrics_path,
                        # inotify picks up each change; the interval is only a fallback.
                        "file_sd_configs": [
                            {"files": [str(self.targets.path)], "refresh_interval": "5s"}
                        ],
                    }
                ]
            )
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.targets.stop()
        finally:
            self.server.stop()

    def wait_scraping(self, timeout: float = READY_SECONDS) -> None:
        """Until Prometheus has scraped every live endpoint successfully (a first scrape
        comes up to 6 s after a target appears); RollsafeError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            wanted = set(self.targets.refresh())
            up = {
                str(target.get("labels", {}).get("instance"))
                for target in self.server.active_targets()
                if target.get("health") == "up"
            }
            if wanted and wanted <= up:
                return
            if not self.server.running:
                raise RollsafeError(f"Prometheus exited:\n{self.server.log_tail()}")
            if time.monotonic() > deadline:
                missing = ", ".join(sorted(wanted - up)) or "no target to scrape"
                raise RollsafeError(
                    f"Prometheus did not scrape {missing} within {timeout:g}s "
                    f"(see {self.server.log_file})"
                )
            time.sleep(0.1)


def metrics_section(scrape: ScrapeMetrics, url: str) -> dict[str, Any]:
    """The plan's ``metrics`` for the demo's Prometheus, reading what ``scrape`` reads."""
    shared = {
        name: value
        # Only what the bundled plan spells out, so the section reads like the one it replaces.
        for name, value in scrape.model_dump(mode="json", exclude_unset=True).items()
        if name not in ("provider", "path", "timeout")
    }
    return {
        "provider": "prometheus",
        "url": url,
        "selector": {"job": JOB},
        "lookback": LOOKBACK,
        **shared,
    }


def plan_with_prometheus(text: str, url: str, scrape: ScrapeMetrics) -> str:
    """``text`` (the bundled plan) with its top-level ``metrics:`` block swapped for one
    querying the Prometheus at ``url``; the rest, comments included, is left as written."""
    lines = text.splitlines(keepends=True)
    try:
        start = lines.index("metrics:\n")
    except ValueError:
        raise RollsafeError("the demo plan has no top-level 'metrics:' block to replace") from None
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
        end += 1
    block = (
        "# Rewritten by `rollsafe demo --metrics prometheus`: PromQL over the demo's own\n"
        "# Prometheus, which scrapes every instance each second.\n"
        + yaml.safe_dump({"metrics": metrics_section(scrape, url)}, sort_keys=False)
    )
    return "".join([*lines[:start], block, *lines[end:]])


def use_prometheus(plan_path: Path, url: str) -> None:
    """Rewrite the plan file so its metrics come from the Prometheus at ``url``.

    Checked before it is written: the new text must load, and every section but
    ``metrics`` must be what it was (RollsafeError otherwise, the file unchanged).
    """
    text = plan_path.read_text()
    before = load_plan(plan_path, text)
    if not isinstance(before.metrics, ScrapeMetrics):
        raise RollsafeError(f"{plan_path}: metrics are not the scrape provider's to replace")
    rewritten = plan_with_prometheus(text, url, before.metrics)
    after = load_plan(plan_path, rewritten)
    if after.model_dump(exclude={"metrics"}) != before.model_dump(exclude={"metrics"}):
        raise RollsafeError(f"{plan_path}: replacing its metrics would change other sections")
    write_atomically(plan_path, rewritten)


def stop_leftover(root: Path) -> None:
    """Stop the Prometheus a killed demo left running under ``root`` (its pid file says
    which; its command line must name ``root``'s configuration, as pids get reused)."""
    try:
        pid = int((root / PID_FILE).read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return
    if f"--config.file={root / 'prometheus.yml'}".encode() not in cmdline.split(b"\0"):
        return
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline:
            if start_ticks(pid) is None:  # gone, or a zombie its new parent has yet to reap
                return
            time.sleep(0.05)
