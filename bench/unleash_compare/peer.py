"""unleash-server as a protocol peer: the same requests to both servers, compared.

Two checks, each run against a live server of each kind (one after the other, in
the same benchmark run as the throughput figures):

- **Endpoints.** unleash-server's OpenAPI (``/docs/openapi.json``) lists its
  client API (``/api/client/*``); each is requested the same way from both
  servers and the status codes are set side by side.
- **Documents.** ``/api/client/features``, ``/api/client/features/{name}`` and
  ``/api/client/delta`` with and without the ``project``, ``namePrefix`` and
  ``tag`` filters: the feature documents, normalized (`normalize`), must be equal.

What `normalize` drops, because it legitimately differs between two servers:
``version``/``meta``/``query`` at the top, the delta's ``eventId`` (each server's
own revision counter), and per feature the bookkeeping Unleash adds (``type``,
``description``, ``stale``, ``impressionData``, ``dependencies: []``,
``createdAt``...), per strategy ``id``, ``title``, ``disabled``,
``sortOrder`` and ``segments: []``, and key order. What is compared is what an
SDK evaluates: each feature's name, enabled, strategies (name, parameters,
constraints, variants) and variants.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from bench.unleash_compare import servers

PROBE_FLAG = "bench-004"
TAG = "simple:peer"


@dataclass(frozen=True)
class Probe:
    name: str
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: dict[str, Any] | None = None
    compare: bool = False
    """Compare the normalized feature documents (else only the status code)."""


REGISTER = {
    "appName": "peer-check", "instanceId": "peer-1", "sdkVersion": "unleash-client-node:6.12.2",
    "strategies": ["default", "flexibleRollout"], "started": "2026-12-05T00:00:00Z",
    "interval": 15000, "environment": "default",
}  # fmt: skip
METRICS = {
    "appName": "peer-check", "instanceId": "peer-1", "environment": "default",
    "bucket": {"start": "2026-12-05T00:00:00Z", "stop": "2026-12-05T00:00:15Z",
               "toggles": {PROBE_FLAG: {"yes": 3, "no": 1, "variants": {}}}},
}  # fmt: skip

PROBES = [
    Probe("features", "GET", "/api/client/features", compare=True),
    Probe("features ?project=default", "GET", "/api/client/features",
          (("project", "default"),), compare=True),
    Probe("features ?project=nowhere", "GET", "/api/client/features",
          (("project", "nowhere"),), compare=True),
    Probe("features ?namePrefix=bench-01", "GET", "/api/client/features",
          (("namePrefix", "bench-01"),), compare=True),
    Probe(f"features ?tag={TAG}", "GET", "/api/client/features", (("tag", TAG),), compare=True),
    Probe("features ?tag=simple:none", "GET", "/api/client/features",
          (("tag", "simple:none"),), compare=True),
    Probe(f"features ?namePrefix=bench-0&tag={TAG}", "GET", "/api/client/features",
          (("namePrefix", "bench-0"), ("tag", TAG)), compare=True),
    Probe("features/{name}", "GET", f"/api/client/features/{PROBE_FLAG}", compare=True),
    Probe("features/{name} (absent)", "GET", "/api/client/features/no-such-flag"),
    Probe("delta", "GET", "/api/client/delta", compare=True),
    Probe("delta ?namePrefix=bench-01", "GET", "/api/client/delta",
          (("namePrefix", "bench-01"),), compare=True),
    Probe("register", "POST", "/api/client/register", body=REGISTER),
    Probe("register (malformed)", "POST", "/api/client/register", body={"appName": 5}),
    Probe("metrics", "POST", "/api/client/metrics", body=METRICS),
    Probe("metrics (malformed)", "POST", "/api/client/metrics", body={"bucket": "x"}),
    Probe("metrics/bulk", "POST", "/api/client/metrics/bulk",
          body={"applications": [], "metrics": []}),
    Probe("streaming", "GET", "/api/client/streaming"),
]  # fmt: skip

STRATEGY_KEYS = ("name", "parameters", "constraints", "variants")
CONSTRAINT_KEYS = ("contextName", "operator", "values", "value", "inverted", "caseInsensitive")
VARIANT_KEYS = ("name", "weight", "weightType", "stickiness", "payload", "overrides")


def capture(server: servers.Running) -> dict[str, Any]:
    """Each probe's status and (for compared probes) its normalized document."""
    headers = {"Authorization": server.peer_token or server.client_token}
    headers["Unleash-AppName"] = "peer-check"
    out: dict[str, Any] = {}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        for probe in PROBES:
            if probe.path.endswith("/streaming"):  # an endless body: the status only
                with http.stream("GET", probe.path) as response:
                    out[probe.name] = {"status": response.status_code}
                continue
            response = http.request(
                probe.method, probe.path, params=list(probe.params), json=probe.body
            )
            entry: dict[str, Any] = {"status": response.status_code}
            if probe.compare and response.status_code == 200:
                entry["document"] = normalize(response.json())
            out[probe.name] = entry
    return out


def client_paths(server: servers.Running) -> list[str]:
    """The ``/api/client/`` paths of this server's own OpenAPI."""
    path = "/docs/openapi.json" if server.name == "unleash-server" else "/openapi.json"
    spec = httpx.get(f"{server.url}{path}", timeout=30).json()
    return sorted(p for p in spec["paths"] if p.startswith("/api/client/"))


def normalize(document: Any) -> Any:
    """What an SDK evaluates, in one canonical shape (see the module docstring)."""
    if isinstance(document, dict) and "events" in document:
        return [_event(e) for e in document["events"]]
    if isinstance(document, dict) and "features" in document:
        return sorted((_feature(f) for f in document["features"]), key=lambda f: f["name"])
    return _feature(document)


def _event(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": event.get("type")}
    if "features" in event:
        out["features"] = sorted((_feature(f) for f in event["features"]), key=lambda f: f["name"])
    if "feature" in event:
        out["feature"] = _feature(event["feature"])
    if "featureName" in event:
        out["featureName"] = event["featureName"]
    return out


def _feature(feature: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": feature.get("name"),
        "enabled": feature.get("enabled"),
        "strategies": [_strategy(s) for s in feature.get("strategies") or []],
        "variants": [_pick(v, VARIANT_KEYS) for v in feature.get("variants") or []],
    }


def _strategy(strategy: dict[str, Any]) -> dict[str, Any]:
    out = _pick(strategy, STRATEGY_KEYS)
    out["constraints"] = [_pick(c, CONSTRAINT_KEYS) for c in out.get("constraints") or []]
    out["variants"] = [_pick(v, VARIANT_KEYS) for v in out.get("variants") or []]
    out.setdefault("parameters", {})
    return out


def _pick(item: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: item[k] for k in keys if k in item and item[k] not in (None, [], {})} | (
        {"parameters": item.get("parameters") or {}} if "parameters" in keys else {}
    )


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per probe or path: both statuses, and whether the documents agree."""
    rows = []
    for name in list(dict.fromkeys([*theirs, *ours])):
        a, b = ours.get(name, {}), theirs.get(name, {})
        row: dict[str, Any] = {
            "probe": name,
            "rollsafe": a.get("status"),
            "unleash": b.get("status"),
        }
        if "document" in a or "document" in b:
            row["same"] = a.get("document") == b.get("document")
            row["detail"] = _difference(a.get("document"), b.get("document"))
        rows.append(row)
    return rows


def _difference(a: Any, b: Any) -> str:
    if a == b:
        return f"{_count(a)} equal"
    if isinstance(a, list) and isinstance(b, list) and all(isinstance(x, dict) for x in a + b):
        names_a = {x.get("name") or x.get("type") for x in a}
        names_b = {x.get("name") or x.get("type") for x in b}
        if names_a != names_b:
            only_a, only_b = sorted(names_a - names_b)[:5], sorted(names_b - names_a)[:5]
            return f"names differ: only rollsafe {only_a}, only unleash {only_b}"
        for x, y in zip(a, b, strict=False):
            if x != y:
                return f"first difference: rollsafe {_short(x)} / unleash {_short(y)}"
    return f"rollsafe {_short(a)} / unleash {_short(b)}"


def _count(document: Any) -> str:
    if isinstance(document, list):
        return f"{len(document)} items"
    return "document"


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "…"


def render(rows: list[dict[str, Any]], their_paths: list[str]) -> str:
    lines = [
        "Protocol peer (`bench/unleash_compare/peer.py`): the same requests, with the same "
        "client token kind, to both servers. Documents are compared after normalizing "
        "(`peer.normalize`): dropped are top-level `version`/`meta`/`query`, delta "
        "`eventId`s (each server's own revision counter), Unleash's per-feature bookkeeping "
        "(`type`, `description`, `stale`, `impressionData`, `project`, `dependencies`, dates) and "
        "per-strategy `id`/`title`/`disabled`/`sortOrder`/empty `segments`; compared is what "
        "an SDK evaluates (name, enabled, strategies with parameters, constraints and "
        "variants, feature variants).",
        "",
        f"unleash-server's OpenAPI lists {len(their_paths)} `/api/client/` paths: "
        + ", ".join(f"`{p}`" for p in their_paths)
        + ".",
        "",
        "| request | rollsafe | unleash-server | documents |",
        "|---|---:|---:|---|",
    ]
    probed = {template(p.path) for p in PROBES}
    unprobed = [p for p in their_paths if template(p) not in probed]
    if unprobed:
        lines[2] += " Not probed: " + ", ".join(f"`{p}`" for p in unprobed) + "."
    for row in rows:
        documents = ""
        if "same" in row:
            documents = ("same: " if row["same"] else "**differ**: ") + row["detail"]
        lines.append(f"| {row['probe']} | {row['rollsafe']} | {row['unleash']} | {documents} |")
    return "\n".join(lines)


def template(path: str) -> str:
    """``/api/client/features/{featureName}`` and ``.../bench-004`` alike: a path's shape."""
    parts = path.split("/")
    if len(parts) == 5 and parts[3] == "features":
        parts[4] = "{}"
    return "/".join(parts)
