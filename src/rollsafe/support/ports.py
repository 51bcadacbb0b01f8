"""Pick a free TCP port by binding port 0 and letting the kernel choose."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` right now (``[::1]``-style brackets mark an IPv6 address).

    Free only at the moment it is asked: a caller that must not collide with its
    own listeners checks the answer against them.
    """
    family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host.strip("[]"), 0))
        return int(sock.getsockname()[1])
