"""``python -m bench.unleash_compare``: rollsafe server and unleash-server, one after the other.

Options: ``--seconds`` per scenario (10), ``--connections`` (32), ``--server-cores``
(``1``) and ``--load-cores`` (``0``) for taskset, ``--no-unleash`` to measure rollsafe
alone, ``--write`` to replace the section in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.unleash_compare import flagset, load, peer, servers, streams
from bench.unleash_compare.load import Result, Scenario
from bench.unleash_compare.report import render, replace_section
from rollsafe.flags import Engine

OFREP_BODY = '{"context":{"targetingKey":"user-{n}"}}'
FRONTEND_BODY = '{"context":{"userId":"user-{n}"}}'
ROLLOUT_FLAG = "bench-002"


def scenarios(server: servers.Running) -> list[Scenario]:
    auth = {"Authorization": server.client_token}
    response = httpx.get(f"{server.url}/api/client/features", headers=auth, timeout=10)
    etag = response.headers.get("etag", "")
    out = [
        Scenario("features", "/api/client/features", auth),
        Scenario("features, ETag (304)", "/api/client/features",
                 {**auth, "If-None-Match": etag.replace('"', '\\"')}, expect=304),
    ]  # fmt: skip
    evaluate = {"Authorization": server.evaluate_token, "Content-Type": "application/json"}
    if server.name == "rollsafe":
        out += [
            Scenario("evaluate one flag", f"/ofrep/v1/evaluate/flags/{ROLLOUT_FLAG}",
                     evaluate, "POST", OFREP_BODY),
            Scenario("evaluate all flags", "/ofrep/v1/evaluate/flags",
                     evaluate, "POST", OFREP_BODY),
        ]  # fmt: skip
    else:
        out.append(Scenario("evaluate all flags", "/api/frontend", evaluate, "POST", FRONTEND_BODY))
    return out


def measure(
    server: servers.Running, args: argparse.Namespace, documents: dict[str, Any]
) -> list[Result]:
    documents[server.name] = httpx.get(
        f"{server.url}/api/client/features",
        headers={"Authorization": server.client_token},
        timeout=10,
    ).json()
    if server.name == "unleash-server":
        documents["unleash-openapi"] = httpx.get(
            f"{server.url}/docs/openapi.json", timeout=30
        ).json()
    else:
        documents["rollsafe-openapi"] = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    documents[f"{server.name}-probes"] = peer.capture(server)
    if server.name == "unleash-server":
        documents["unleash-client-paths"] = peer.client_paths(server)
    results = []
    for scenario in scenarios(server):
        result = load.run(
            server.name, server.url, server.process.pid, scenario,
            seconds=args.seconds, connections=args.connections, cores=args.load_cores,
        )  # fmt: skip
        print(
            f"{server.name:15} {scenario.name:22} {result.rate:9.0f} req/s "
            f"p50 {result.p50_ms:6.2f} ms p99 {result.p99_ms:6.2f} ms "
            f"{result.per_cpu_second:9.0f} req/CPU-s errors {result.errors}",
            file=sys.stderr,
        )
        results.append(result)
    return results


def peer_check(documents: dict[str, Any], flags: list[dict[str, Any]]) -> dict[str, Any]:
    """Do both servers' feature documents mean the same? Evaluated by one engine for 1,000 users."""
    ours = Engine.from_unleash(documents["rollsafe"])
    theirs = Engine.from_unleash(documents["unleash-server"])
    names = [flag["name"] for flag in flags]
    agree = total = 0
    for user in range(1000):
        context = {"userId": f"user-{user}"}
        for name in names:
            total += 1
            same_enabled = ours.is_enabled(name, context) == theirs.is_enabled(name, context)
            ours_variant = ours.get_variant(name, context)
            theirs_variant = theirs.get_variant(name, context)
            same_variant = (ours_variant["name"], ours_variant.get("payload")) == (
                theirs_variant["name"], theirs_variant.get("payload"),
            )  # fmt: skip
            agree += same_enabled and same_variant
    theirs_client = sorted(
        p for p in documents["unleash-openapi"]["paths"] if p.startswith("/api/client/")
    )
    ours_paths = set(documents["rollsafe-openapi"]["paths"])
    ours_shapes = {peer.template(p) for p in ours_paths}
    covered = [p for p in theirs_client if peer.template(p) in ours_shapes]
    return {
        "features": (
            len(documents["rollsafe"]["features"]),
            len(documents["unleash-server"]["features"]),
        ),
        "agree": agree,
        "total": total,
        "client_paths": theirs_client,
        "covered": covered,
    }


def machine() -> str:
    load_average = os.getloadavg()[0]
    return (
        f"`{' '.join(platform.uname()[i] for i in (0, 1, 2, 3, 4))}`, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, node {_version(['node', '--version'])}, "
        f"wrk {_version(['wrk', '-v'])}; load average {load_average:.2f} when the run started"
    )


def _version(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        return "missing"
    done = subprocess.run(command, capture_output=True, text=True)
    words = (done.stdout + done.stderr).split()
    return words[1] if command[0] == "wrk" and len(words) > 1 else (words[0] if words else "?")


def _append(section: str, text: str) -> str:
    """``text`` after the rendered section (the end marker is added by `replace_section`)."""
    if not text:
        return section
    return f"{section.rstrip()}\n\n{text}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.unleash_compare")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--server-cores", default="1")
    parser.add_argument("--load-cores", default="0")
    parser.add_argument("--no-unleash", action="store_true")
    parser.add_argument("--no-streams", action="store_true", help="skip the 10,000 streams")
    parser.add_argument("--streams", type=int, default=10_000, help="streams to open (10,000)")
    parser.add_argument("--write", action="store_true", help="replace the docs section")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is missing: run scripts/install-servers.sh (Debian's wrk)", file=sys.stderr)
        return 1
    started = time.monotonic()
    machine_line = machine()
    flags = flagset.flags()
    documents: dict[str, Any] = {}
    results = []
    with servers.rollsafe(flags, args.server_cores) as running:
        results += measure(running, args, documents)
    why_not = "--no-unleash given" if args.no_unleash else servers.unleash_available()
    agreement = None
    if why_not is None:
        with servers.unleash(flags, args.server_cores) as running:
            results += measure(running, args, documents)
        agreement = peer_check(documents, flags)
    else:
        print(f"unleash-server not measured: {why_not}", file=sys.stderr)
    stream_results = [] if args.no_streams else streams.measure(args.streams)
    command = "python -m bench.unleash_compare " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    machine_line += f", {os.getloadavg()[0]:.2f} when it ended"
    section = render(
        results, agreement, why_not, args=args, machine=machine_line, command=command.strip(),
        seconds=time.monotonic() - started,
    )  # fmt: skip
    extra = [streams.render(stream_results)]
    if agreement is not None:
        rows = peer.compare(documents["rollsafe-probes"], documents["unleash-server-probes"])
        extra.append(peer.render(rows, documents["unleash-client-paths"]))
    section = _append(section, "\n\n".join(e for e in extra if e))
    print(section)
    print(json.dumps([r.__dict__ for r in results], indent=1), file=sys.stderr)
    if args.write:
        path = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
        path.write_text(replace_section(path.read_text(), section))
    return 0


if __name__ == "__main__":
    sys.exit(main())
