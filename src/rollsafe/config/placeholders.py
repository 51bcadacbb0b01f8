"""``{arm}`` and ``{release}``: how a plan's metric queries, commands and URLs name an arm.

A metric source that is told what to run (a PromQL template, an argv, a URL)
runs it once per arm, with these filled in. ``{arm}`` is the value that selects
the arm (the source's ``canary`` or ``baseline``; with ``arms: release``, the
release names). ``{release}`` is the release serving the arm: the same as
``{arm}`` when arms are releases, otherwise the release the target runs now
(both arms of a flag rollout run it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

PLACEHOLDERS = ("arm", "release")

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(text: str) -> list[str]:
    """The placeholder names ``text`` uses, in order of first use."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(text)))


def substitute(text: str, values: Mapping[str, str], escape: Callable[[str], str] = str) -> str:
    """``text`` with each ``{name}`` replaced by ``escape(values[name])``; KeyError if absent."""
    return _PLACEHOLDER.sub(lambda match: escape(values[match.group(1)]), text)


def mask(text: str, char: str) -> str:
    """``text`` with each placeholder overwritten by ``char`` (same length: positions hold)."""
    return _PLACEHOLDER.sub(lambda match: char * len(match.group()), text)


def check_known(text: str) -> str:
    """``text`` if it uses only known placeholders; ValueError naming the first unknown one."""
    unknown = [name for name in placeholders(text) if name not in PLACEHOLDERS]
    if unknown:
        known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        raise ValueError(f"unknown placeholder {{{unknown[0]}}} (known: {known})")
    return text


def check_splits_arms(texts: Iterable[str], what: str) -> None:
    """ValueError unless some text uses a placeholder: otherwise both arms get the same data."""
    if not any(placeholders(text) for text in texts):
        raise ValueError(
            f"{what} must use {{arm}} or {{release}}, or both arms would get the same numbers"
        )
