"""The nginx processes of the benchmark: instances that cost nothing, and rollsafe's router.

The instances are a second nginx answering ``200 ok`` on two ports, one with
``X-Rollsafe-Variant: new`` and one with ``old``, so the benchmark measures the
router and the reader of its records, not a Python service. The router is
rollsafe's own :class:`~rollsafe.routers.NginxRouter` with client keep-alive on
(the load generator reuses its connections), splitting 50/50. For the syslog
transport, :class:`SyslogRouter` writes the same records to a unix datagram
socket instead of the file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from rollsafe.config import NginxRouter as NginxRouterConfig
from rollsafe.routers import NginxRouter
from rollsafe.routers.processes import wait_gone
from rollsafe.support.ports import free_port

NGINX = "/usr/sbin/nginx"


class Instances:
    """Two "instances" served by one nginx: ``new`` and ``old`` (``host:port`` each)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.new = f"127.0.0.1:{free_port()}"
        self.old = f"127.0.0.1:{free_port()}"

    def start(self) -> None:
        servers = "".join(
            f"""    server {{
        listen {address};
        location / {{
            add_header X-Rollsafe-Variant {variant};
            return 200 "ok\\n";
        }}
    }}
"""
            for variant, address in (("new", self.new), ("old", self.old))
        )
        conf = self.home / "nginx.conf"
        conf.write_text(
            f"""worker_processes 1;
daemon on;
pid "{self.home / "nginx.pid"}";
error_log "{self.home / "error.log"}" warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
{servers}}}
"""
        )
        subprocess.run([NGINX, "-p", f"{self.home}/", "-c", str(conf)], check=True)
        time.sleep(0.3)

    def stop(self) -> None:
        pid_file = self.home / "nginx.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGQUIT)
            wait_gone(pid, 10)


def router_config() -> NginxRouterConfig:
    return NginxRouterConfig(client_keepalive=75)


class SyslogRouter(NginxRouter):
    """rollsafe's router with its records sent to ``socket`` (nginx's syslog output)."""

    def __init__(self, config: NginxRouterConfig, *, home: Path, socket: Path) -> None:
        super().__init__(config, home=home)
        self.socket = socket

    def render(self, *args: object, **kwargs: object) -> str:
        text = super().render(*args, **kwargs)  # type: ignore[arg-type]
        to_file = f'access_log "{self.records_log}"'
        assert to_file in text
        return text.replace(to_file, f"access_log syslog:server=unix:{self.socket},nohostname")
