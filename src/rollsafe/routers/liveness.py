"""Whether users get through the front door: the router's upstreams alive, and a request
through the router answered.

What the router sees is the truth (DESIGN principle 7), and the router must
always point at live instances: a router pointed at stopped ports answers
every request with a 502 while each instance, looked at on its own, may be
fine. This looks where users are, with no metric source: it probes the health
path of every server the router sends requests to, then the same path through
the router.
"""

from __future__ import annotations

import httpx

from rollsafe.routers.base import RouterError, TrafficRouter


def front_door_problems(router: TrafficRouter, health_path: str, timeout: float) -> list[str]:
    """What keeps requests through ``router`` from being served; empty when nothing does.

    Nothing is checked before the router has a split, or while it shows its
    maintenance page (no instance is meant to serve then).
    """
    split = router.split
    if split is None or router.in_maintenance:
        return []
    problems = []
    # A new connection for every probe: a kept-alive one may outlive what it reached.
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(timeout=timeout, limits=limits) as client:
        for address, _, arm in split.server_weights():
            status, error = _probe(client, f"http://{address}{health_path}")
            if error is not None:
                problems.append(f"{arm} upstream {address} is down ({error})")
            elif not 200 <= status < 300:
                problems.append(f"{arm} upstream {address} answers {health_path} with {status}")
        try:
            front = f"{router.url}{health_path}"
        except RouterError as no_port:
            return [*problems, str(no_port)]
        status, error = _probe(client, front)
        if error is not None:
            problems.append(f"the front door {front} does not answer ({error})")
        elif status >= 500:
            problems.append(f"the front door {front} answers {status}")
    return problems


def _probe(client: httpx.Client, url: str) -> tuple[int, str | None]:
    try:
        return client.get(url).status_code, None
    except httpx.HTTPError as error:
        return 0, str(error) or type(error).__name__
