"""Process start-up stays light: the CLI's help and light commands, the SDK and the
demo shop load no web server, statistics, PostgreSQL or metrics stack they do not use.

Each check runs a fresh interpreter (the test process has everything loaded
already) and reads which top-level packages ended up in ``sys.modules``. A
module-level import of, say, the controller in a CLI command module brings
fastapi, numpy and psycopg back into every ``rollsafe`` invocation; these tests
name the heavy package and the entry point that loaded it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Never needed to show help, read flags or the journal, or import the SDK.
WEB_AND_NUMERICS = ["fastapi", "uvicorn", "starlette", "numpy", "scipy", "psycopg", "psycopg_pool"]
HEAVY = [*WEB_AND_NUMERICS, "prometheus_client", "httpx"]

# Prints, at exit, the heavy top-level packages the process loaded (sorted JSON list).
_REPORT = (
    "import atexit, json, sys\n"
    "def _report(heavy={heavy!r}):\n"
    "    loaded = {{name.partition('.')[0] for name in sys.modules}}\n"
    "    print('LOADED=' + json.dumps(sorted(loaded & set(heavy))), file=sys.stderr)\n"
    "atexit.register(_report)\n"
)


def loaded_by(code: str, heavy: list[str]) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """The packages of ``heavy`` that a fresh interpreter running ``code`` loads."""
    done = subprocess.run(
        [sys.executable, "-c", _REPORT.format(heavy=heavy) + code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("LOADED=")]
    assert len(lines) == 1, done.stderr
    return json.loads(lines[0].removeprefix("LOADED=")), done


def cli(home: Path, *args: str) -> str:
    """Code that runs ``rollsafe --home HOME ARGS`` through the console entry point."""
    argv = ["rollsafe", "--home", str(home), *args]
    return f"from rollsafe.launcher import main\nsys.argv = {argv!r}\nmain()\n"


@pytest.mark.parametrize(
    "module",
    ["rollsafe.cli", "rollsafe.sdk", "rollsafe.config", "rollsafe.targets", "rollsafe.store"],
)
def test_importing_loads_no_heavy_package(module: str) -> None:
    loaded, done = loaded_by(f"import {module}\n", HEAVY)
    assert done.returncode == 0, done.stderr
    assert loaded == [], f"import {module} loads {loaded}"


def test_the_sdk_loads_neither_the_cli_nor_the_plan_models() -> None:
    loaded, done = loaded_by("import rollsafe.sdk\n", ["typer", "rich", "pydantic", "yaml"])
    assert done.returncode == 0, done.stderr
    assert loaded == [], f"import rollsafe.sdk loads {loaded}"


def test_the_shop_process_loads_only_its_web_stack() -> None:
    """``python -m rollsafe.demo.shop`` serves with starlette, uvicorn and
    prometheus_client; it needs no plan models, httpx, numerics or PostgreSQL."""
    heavy = [*HEAVY, "pydantic", "yaml", "typer"]
    loaded, done = loaded_by("import rollsafe.demo.shop.__main__\n", heavy)
    assert done.returncode == 0, done.stderr
    assert loaded == ["prometheus_client", "starlette", "uvicorn"]


def test_the_flag_server_loads_no_numerics_or_postgres_driver() -> None:
    """The server holds thousands of streams in one process: every idle megabyte counts.
    The judge (numpy) runs only when a dashboard page replays an analysis."""
    loaded, done = loaded_by("import rollsafe.server.app\n", HEAVY)
    assert done.returncode == 0, done.stderr
    assert not {"numpy", "scipy", "psycopg", "psycopg_pool"} & set(loaded), loaded


# (arguments, exit code) of the commands a script or a test runs many times
LIGHT_COMMANDS = [
    (["--help"], 0),
    (["flags", "--help"], 0),
    (["rollout", "--help"], 0),
    (["notify", "--help"], 0),
    (["flags", "list"], 0),
    (["flags", "get", "checkout"], 0),
    (["flags", "set", "checkout", "--off"], 0),
    (["journal", "verify"], 0),
    (["rollout", "list"], 0),
    (["rollout", "status"], 1),  # no rollouts yet: exits 1, loading nothing heavy first
]


@pytest.mark.parametrize(
    ("args", "code"), LIGHT_COMMANDS, ids=[" ".join(a) for a, _ in LIGHT_COMMANDS]
)
def test_light_commands_load_no_heavy_package(tmp_path: Path, args: list[str], code: int) -> None:
    home = tmp_path / "home"
    made, done = loaded_by(cli(home, "flags", "set", "checkout", "--rollout", "10"), HEAVY)
    assert done.returncode == 0, done.stderr
    assert made == []
    loaded, done = loaded_by(cli(home, *args), HEAVY)
    assert done.returncode == code, done.stdout + done.stderr
    assert loaded == [], f"rollsafe {' '.join(args)} loads {loaded}"


def test_plan_validate_loads_no_web_or_numerics(tmp_path: Path) -> None:
    plan = Path(__file__).parents[2] / "src" / "rollsafe" / "demo" / "plan.yaml"
    loaded, done = loaded_by(
        cli(tmp_path / "home", "plan", "validate", str(plan), "--text-only"), HEAVY
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout
    assert loaded == [], f"rollsafe plan validate loads {loaded}"
