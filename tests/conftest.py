"""Fixtures every test package may use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controller.rig import Rig, store_template
from tests.endpoints import healthy_server


@pytest.fixture
def healthy_endpoint() -> Iterator[str]:
    """A loopback endpoint whose health checks pass (tests/endpoints.py), for command targets."""
    with healthy_server() as url:
        yield url


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite store the module's rigs start from (copying is faster)."""
    return store_template(tmp_path_factory.mktemp("store"))


@pytest.fixture
def rig(tmp_path: Path, template: Path) -> Iterator[Rig]:
    """Fakes from rollsafe.testing over a real SQLite store (tests/controller/rig.py)."""
    rig = Rig(tmp_path, template=template)
    try:
        yield rig
    finally:
        rig.close()


# -- pytest-xdist ------------------------------------------------------------------------
# `make test WORKERS=4` runs on 4 workers with --dist loadgroup. These modules drive real
# services at a request rate and judge what comes back within set windows (the demo, the
# load generator, canaries under load): run all at once they starve each other of CPU on
# two cores and analyses turn inconclusive. Each group runs on one worker, one test at a
# time, beside the other workers' lighter tests; two groups of about equal length (serial
# seconds from a --durations profile) keep the critical path short. Even so they failed
# beside the other workers on a loaded machine (docs/benchmarks.md, "Test suite time").
_THROUGHPUT_GROUPS = {
    "tests/rollback/test_faults_end_to_end.py": "throughput-a",  # ~157 s
    "tests/demo/test_demo_scaled.py": "throughput-a",  # ~105 s
    "tests/controller/test_router_metrics_canary.py": "throughput-a",  # ~32 s
    "tests/demo/test_load.py": "throughput-a",  # ~10 s
    "tests/controller/test_release_canary.py": "throughput-b",  # ~128 s
    "tests/thirdparty/test_sqlite_web_rollouts.py": "throughput-b",  # ~115 s (was 125)
    "tests/demo/test_demo_prometheus.py": "throughput-b",  # ~60 s
    "tests/sdk/test_middleware_rollout.py": "throughput-b",  # ~52 s
    "tests/cli/test_demo_command.py": "throughput-a",  # ~34 s
    "tests/routers/test_switching_under_load.py": "throughput-a",  # ~14 s
}
# Latency measured side by side: starved of CPU beside the others, its services answered
# in 1.6 s instead of 200 ms and the gate (rightly) found too little traffic.
_THROUGHPUT_GROUPS["tests/load/test_load_gate.py"] = "throughput-b"  # ~25 s


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        group = _THROUGHPUT_GROUPS.get(item.nodeid.split("::", 1)[0])
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
