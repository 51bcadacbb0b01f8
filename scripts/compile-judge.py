"""Compile the judge and its statistics to C with mypyc, in place: ``make compile``.

    python scripts/compile-judge.py            # build src/rollsafe/{judge,stats}/*.so
    python scripts/compile-judge.py --remove   # back to the Python source alone

mypyc (mypy's compiler, a dev dependency) turns the modules' typed Python into C
extensions; Python imports an extension module in place of the ``.py`` beside it. The
compiled judge makes the same decisions with the same floats (``make test`` compares
the digests of ``bench.judge.differential`` both ways) and takes 1.4x-1.7x the
observation updates per second (docs/benchmarks.md, "Judge throughput"). A wheel
ships the Python source alone: the judge works the same without a compiler, slower.

Without a C compiler, Python's headers or setuptools this says so and builds nothing
(exit 0): the judge then runs as Python. A failed build says why, leaves no half-built
set behind and exits 0 as well, so that `make demo` still runs; the test suite fails
where the tools are all present but the judge is not compiled.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from rollsafe.support.compiled import PACKAGES, cannot_compile

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
GROUP = "rollsafe_judge"
"""mypyc's name for the shared runtime library of the group (``src/<GROUP>__mypyc*.so``)."""


def sources() -> list[str]:
    """The modules to compile, relative to ``src``."""
    return sorted(str(path.relative_to(SRC)) for p in PACKAGES for path in (SRC / p).glob("*.py"))


def built() -> list[Path]:
    """Every extension module a previous build left in ``src``."""
    found = [path for p in PACKAGES for path in (SRC / p).glob("*.so")]
    return found + list(SRC.glob(f"{GROUP}__mypyc*.so"))


def remove() -> None:
    for path in built():
        path.unlink()


def compile_in_place() -> int:
    from mypyc.build import mypycify
    from setuptools import setup

    with tempfile.TemporaryDirectory(prefix="rollsafe-mypyc-") as scratch:
        modules = mypycify(
            ["--config-file", str(ROOT / "pyproject.toml"), *sources()],
            group_name=GROUP,
            target_dir=str(Path(scratch) / "c"),
        )
        # From src, so that --inplace puts each module beside its source.
        setup(
            name="rollsafe-compiled-judge",
            ext_modules=modules,
            script_args=[
                "--quiet",
                "build_ext",
                "--inplace",
                "--build-temp",
                str(Path(scratch) / "temp"),
                "--build-lib",
                str(Path(scratch) / "lib"),
            ],
        )
    return len(built())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/compile-judge.py", description=__doc__)
    parser.add_argument("--remove", action="store_true", help="delete the compiled modules")
    args = parser.parse_args(argv)
    remove()  # a failed or skipped build must not leave older modules shadowing the source
    if args.remove:
        print("compile-judge: the judge runs as Python (compiled modules removed)")
        return 0
    reason = cannot_compile()
    if reason is not None:
        print(f"compile-judge: {reason}: the judge runs as Python, slower", file=sys.stderr)
        return 0
    os.chdir(SRC)
    try:
        count = compile_in_place()
    except (Exception, SystemExit) as error:  # setuptools reports a failed build by SystemExit
        remove()
        # The judge still works as Python; tests/judge/test_compiled.py fails where the
        # tools are all here but no build is, so a broken build cannot go unnoticed.
        print(f"compile-judge: mypyc failed ({error}): the judge runs as Python", file=sys.stderr)
        return 0
    print(f"compile-judge: {count} modules compiled by mypyc (src/rollsafe/judge, stats)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
