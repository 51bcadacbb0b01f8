"""Exit codes: one per outcome, the same for every command, so a CI can branch on them.

docs/cli.md holds the table users read; keep the two in step.
"""

from __future__ import annotations

import enum

from rollsafe.store import RolloutState


class Exit(enum.IntEnum):
    OK = 0
    """Promoted, or the command did what it was asked (an abort or rollback that recovered)."""
    ERROR = 1
    """The command could not do its job, or a check it ran found a problem."""
    USAGE = 2
    """Bad usage, plan or input: refused before anything changed."""
    ROLLED_BACK = 3
    """The rollout was rolled back (or aborted) and a rollback level recovered the service."""
    NOT_RUNNING = 3
    """``rollsafe service``: nothing runs (LSB init scripts' ``status`` says 3 too)."""
    PAUSED = 4
    """The rollout is paused or has not ended yet: it waits for a person or a controller."""
    FAILED = 5
    """The rollout failed: no rollback level recovered the service. Look now."""
    REFUSED = 6
    """A policy of the plan refused to start the rollout (a required drill too old or
    missing); nothing was written. Satisfy it and start again."""
    INTERRUPTED = 130
    """Ctrl-C: the rollout is left as it was, to resume or abort."""


_OF_STATE = {
    RolloutState.PROMOTED: Exit.OK,
    RolloutState.ROLLED_BACK: Exit.ROLLED_BACK,
    RolloutState.ABORTED: Exit.ROLLED_BACK,
    RolloutState.FAILED: Exit.FAILED,
}


def of_rollout(state: RolloutState) -> Exit:
    """The exit of a command that drives a rollout forward (start, resume, status, demo)."""
    return _OF_STATE.get(state, Exit.PAUSED)


def of_rollback(state: RolloutState) -> Exit:
    """The exit of a command asked to roll back (abort, rollback): rolled back is success."""
    if state in (RolloutState.ROLLED_BACK, RolloutState.ABORTED):
        return Exit.OK
    return of_rollout(state)


def of_demo(outcome: str) -> Exit:
    """The exit of ``rollsafe demo``, as ``rollout start`` would: a caught fault exits 3."""
    return {"promoted": Exit.OK, "rolled_back": Exit.ROLLED_BACK}.get(outcome, Exit.FAILED)
