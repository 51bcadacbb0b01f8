"""The values a source fills into ``{arm}`` and ``{release}`` for each arm (config.placeholders)."""

from __future__ import annotations

from collections.abc import Callable

from rollsafe.config.metric_sources import Arms
from rollsafe.errors import MetricsError, RollsafeError
from rollsafe.typing import Arm

ARMS: tuple[Arm, Arm] = ("canary", "baseline")


def arm_values(config: Arms, arm: Arm, current_release: Callable[[], str | None]) -> dict[str, str]:
    """``{"arm": ..., "release": ...}`` for ``arm``; MetricsError when no release is known.

    Arms split by the release label (``arms: release``) are releases themselves;
    otherwise both arms run the release the target runs now.
    """
    value = config.canary if arm == "canary" else config.baseline
    if config.arm_label == config.release_label:
        return {"arm": value, "release": value}
    try:
        release = current_release()
    except RollsafeError as error:
        raise MetricsError(f"cannot tell which release runs, for {{release}}: {error}") from error
    if release is None:
        return {"arm": value}  # a template naming {release} fails with that reason
    return {"arm": value, "release": release}


def missing_release(error: KeyError) -> MetricsError:
    """The error of a ``{release}`` that cannot be filled: nothing is deployed yet."""
    return MetricsError(f"no release is deployed yet to fill {{{error.args[0]}}}")
