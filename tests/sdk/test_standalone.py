"""`pip install rollsafe` (no extra) is enough for the SDK, and the SDK loads none of the
extras' heavy packages (issue 11: installing the SDK pulled in FastAPI, scipy, psycopg).

The checks run in subprocesses of this venv, which holds every extra: one looks at
what importing the SDK loads, the others hide every package outside the base
install's dependencies, as a fresh ``pip install rollsafe`` would lack them. The
last reads every import in ``src/rollsafe``: each must come with some extra other
than ``dev``, which only the tests and benches need.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

SDK_MODULES = ("rollsafe.sdk", "rollsafe.sdk.middleware", "rollsafe.flags")

# What the extras bring: the flag server, PostgreSQL, the CLI, config and the judge's math.
HEAVY = {"fastapi", "uvicorn", "starlette", "scipy", "numpy", "psycopg", "psycopg_pool"}
HEAVY |= {"typer", "pydantic", "yaml", "openfeature"}
# Not rich: httpx imports its command line (click, rich) whenever they are installed.


def _modules_loaded_by(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return {name.partition(".")[0] for name in json.loads(run.stdout.splitlines()[-1])}


def test_importing_the_sdk_loads_no_heavy_package() -> None:
    loaded = _modules_loaded_by("import " + ", ".join(SDK_MODULES))
    assert "rollsafe" in loaded
    assert not loaded & HEAVY


PROJECT = tomllib.loads(PYPROJECT.read_text())["project"]


def _distributions(extras: Iterable[str] = ()) -> set[str]:
    """What ``pip install rollsafe[extras]`` installs: the distributions (as installed
    here) that rollsafe's requirements and those extras' need, and theirs."""
    texts = [*PROJECT["dependencies"], *(f"rollsafe[{extra}]" for extra in extras)]
    pending = [Requirement(text) for text in texts]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if (name, frozenset(requirement.extras)) in seen:
            continue
        seen.add((name, frozenset(requirement.extras)))
        if name == "rollsafe":  # an extra naming others: read them from pyproject.toml
            extra_lists = PROJECT["optional-dependencies"]
            pending += [Requirement(t) for e in requirement.extras for t in extra_lists[e]]
            continue
        for text in importlib.metadata.requires(name) or []:
            nested = Requirement(text)
            wanted = requirement.extras or {""}
            if nested.marker is None or any(
                nested.marker.evaluate({"extra": extra}) for extra in wanted
            ):
                pending.append(nested)
    return {name for name, _ in seen if name != "rollsafe"}


def _top_level_modules(distributions: set[str]) -> set[str]:
    return {
        module
        for module, owners in importlib.metadata.packages_distributions().items()
        if any(canonicalize_name(owner) in distributions for owner in owners)
    }


# Installed in the subprocess: any import outside the standard library, rollsafe and
# the base install fails as it would where only `pip install rollsafe` ran.
BASE_INSTALL_ONLY = """
import importlib.abc, sys
provided = set({provided!r})
class BaseInstallOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in provided or top in sys.stdlib_module_names or top.startswith("_"):
            return None
        raise ModuleNotFoundError(f"No module named {{name!r}} in the base install", name=name)
sys.meta_path.insert(0, BaseInstallOnly())
"""


def _provided() -> set[str]:
    """The top-level modules a base install holds: rollsafe and its dependencies'."""
    return _top_level_modules(_distributions()) | {"rollsafe"}


def test_the_base_install_is_enough_for_the_sdk() -> None:
    provided = _provided()
    assert {"httpx", "mmh3", "prometheus_client"} <= provided
    assert not provided & (HEAVY | {"rich"})
    hide = BASE_INSTALL_ONLY.format(provided=sorted(provided))
    # The finder works: a package of an extra cannot be imported under it.
    refused = subprocess.run(
        [sys.executable, "-c", hide + "import numpy"], capture_output=True, text=True
    )
    assert "No module named 'numpy' in the base install" in refused.stderr
    loaded = _modules_loaded_by(hide + "import " + ", ".join(SDK_MODULES))
    assert {"rollsafe", "prometheus_client"} <= loaded
    # httpx loads when a client first talks HTTP (not at import): build one's HTTP client.
    client = (
        "from rollsafe.sdk import FlagClient\nFlagClient('http://127.0.0.1:9')._client().close()"
    )
    assert "httpx" in _modules_loaded_by(hide + client)


def test_the_command_in_a_base_install_names_the_extra_it_needs() -> None:
    hide = BASE_INSTALL_ONLY.format(provided=sorted(_provided()))
    code = hide + "from rollsafe.launcher import main\nmain()"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1
    assert "pip install 'rollsafe[cli]'" in run.stderr
    assert "Traceback" not in run.stderr


def _third_party_imports(root: Path) -> dict[str, str]:
    """Each top-level module outside the standard library that code under ``root``
    imports, with one place that imports it."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top not in sys.stdlib_module_names and top != "rollsafe":
                    found.setdefault(top, f"{path.relative_to(root.parent)}:{node.lineno}")
    return found


def test_everything_rollsafe_imports_is_installed_by_an_extra() -> None:
    """Not by the dev extra alone: scipy, say, serves only the tests and the benches."""
    every_extra = set(PROJECT["optional-dependencies"]) - {"dev"}
    provided = _top_level_modules(_distributions(every_extra))
    imported = _third_party_imports(PYPROJECT.parent / "src" / "rollsafe")
    assert {"typer", "fastapi", "numpy", "psycopg", "openfeature"} <= set(imported)
    assert {name: where for name, where in imported.items() if name not in provided} == {}
