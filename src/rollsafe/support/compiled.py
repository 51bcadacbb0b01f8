"""Whether the judge runs compiled (mypyc, ``make compile``), and whether that build is stale.

Python imports an extension module in place of the ``.py`` beside it. After an edit of
the source, an older build would go on answering for it, silently: :func:`stale` finds
such sources, and the judge warns about them when it is imported.
"""

from __future__ import annotations

import importlib.util
import shutil
import sysconfig
import warnings
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType

COMPILE_COMMAND = "make compile"
PACKAGES = ("rollsafe/judge", "rollsafe/stats")
"""The packages ``make compile`` compiles, relative to the folder that holds ``rollsafe``."""


def is_compiled(module: ModuleType) -> bool:
    """The module was loaded from an extension module (compiled), not from Python source."""
    return str(module.__file__).endswith(tuple(EXTENSION_SUFFIXES))


def cannot_compile() -> str | None:
    """Why this Python cannot build the compiled judge here, or None when it can: mypyc,
    setuptools, a C compiler and Python's headers are all needed."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "no Python headers (Python.h; Debian: python3-dev)"
    for module, package in (("mypyc", "mypy"), ("setuptools", "setuptools")):
        if importlib.util.find_spec(module) is None:
            return f"no {module} (pip install {package})"
    return None


def stale(*packages: Path) -> list[Path]:
    """Sources in the package folders newer than the extension module built from them."""
    found = []
    for package in packages:
        for built in package.iterdir():
            # The most specific suffix first (".cpython-311-x86_64-linux-gnu.so", then ".so").
            suffix = next((s for s in EXTENSION_SUFFIXES if built.name.endswith(s)), None)
            if suffix is None:
                continue
            source = built.with_name(built.name.removesuffix(suffix) + ".py")
            if source.exists() and source.stat().st_mtime > built.stat().st_mtime:
                found.append(source)
    return sorted(found)


def warn_if_stale(*packages: Path) -> None:
    """Warn (RuntimeWarning) when a compiled module is older than its source."""
    sources = stale(*packages)
    if sources:
        names = ", ".join(str(source) for source in sources[:3])
        more = f" and {len(sources) - 3} more" if len(sources) > 3 else ""
        warnings.warn(
            f"the compiled judge is older than its source ({names}{more}), which it "
            f"shadows: run `{COMPILE_COMMAND}`, or `make pure` to run the source",
            RuntimeWarning,
            stacklevel=2,
        )
