"""Package names that load their module on first use (PEP 562).

A package that re-exports its classes would otherwise import every module behind
them at start-up: the CLI's light commands and the demo shop's processes start
hundreds of times in a test run and should not pay for what they never use.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_attributes(package: str, homes: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: each name in ``homes`` is imported
    from its module on first access, then kept in the package like a plain import."""
    namespace = sys.modules[package].__dict__

    def load(name: str) -> object:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    return load
