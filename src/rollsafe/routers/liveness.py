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
from rollsafe.support.http import http_client


def front_door_problems(router: TrafficRouter, health_path: str, timeout: float) -> list[str]:
    """What keeps requests through ``router`` from being served; empty when nothing does.

    Nothing is checked before the router has a split, or while it shows its
    maintenance page (no instance is meant to serve then).
    """
    split = router.split
    if split is None or router.in_maintenance:
        return []
    problems: dict[str, str] = {}
    # A new connection for every probe: a kept-alive one may outlive what it reached.
    limits = httpx.Limits(max_keepalive_connections=0)
    with http_client(timeout=timeout, limits=limits) as client:
        for address, _, arm in split.server_weights():
            status, error = _probe(client, f"http://{address}{health_path}")
            if error is not None:
                problems[address] = f"{arm} upstream {address} is down ({error})"
            elif not 200 <= status < 300:
                problems[address] = f"{arm} upstream {address} answers {health_path} with {status}"
        problems = _still_routed(router, problems)
        try:
            front = f"{router.url}{health_path}"
        except RouterError as no_port:
            return [*problems.values(), str(no_port)]
        status, error = _probe(client, front)
    if router.in_maintenance:
        return []  # switched to the maintenance page meanwhile: nothing is meant to serve
    found = list(problems.values())
    if error is not None:
        found.append(f"the front door {front} does not answer ({error})")
    elif status >= 500:
        found.append(f"the front door {front} answers {status}")
    return found


def _still_routed(router: TrafficRouter, problems: dict[str, str]) -> dict[str, str]:
    """The problems of servers the router still sends requests to.

    The router is re-pointed before a replaced instance stops, and its split saved
    before that: a server found stopped but gone from the split read afterwards was
    being replaced, and is no problem.
    """
    if not problems:
        return problems
    split = router.split
    routed = {address for address, _, _ in split.server_weights()} if split else set()
    return {address: problem for address, problem in problems.items() if address in routed}


def _probe(client: httpx.Client, url: str) -> tuple[int, str | None]:
    try:
        return client.get(url).status_code, None
    except httpx.HTTPError as error:
        return 0, str(error) or type(error).__name__
