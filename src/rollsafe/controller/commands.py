"""Each command a command target runs lands in the journal as it finishes.

A deploy on a VM is the plan's commands (``git checkout``, ``supervisorctl
restart``...): what each ran, how it ended, how long it took and the end of its
output is the evidence of what happened to the host, in deploy steps and in
rollbacks alike, successful or not. Only the end of each output stream is
journaled: a chatty build must not swell every copy of the journal.
"""

from __future__ import annotations

from typing import Any

from rollsafe.controller.context import StepContext
from rollsafe.journal.kinds import Kind
from rollsafe.targets import CommandResult, CommandTarget

COMMAND_EVENT = Kind.TARGET_COMMAND

JOURNALED_OUTPUT = 4096
"""Characters kept from the end of a command's stdout, and of its stderr."""


def journal_commands(context: StepContext) -> None:
    """Journal every command ``context``'s target runs from now on (a command target's)."""
    if isinstance(context.target, CommandTarget):
        context.target.on_result = lambda result: context.journal(
            COMMAND_EVENT, command_record(result)
        )


def command_record(result: CommandResult) -> dict[str, Any]:
    """``result`` as journaled: its record with each output cut to its last characters."""
    record = result.to_dict()
    record["outcome"] = result.describe()
    for stream in ("stdout", "stderr"):
        if len(record[stream]) > JOURNALED_OUTPUT:
            record[stream] = record[stream][-JOURNALED_OUTPUT:]
            record["truncated"] = True
    return record
