"""The ``rollsafe`` command's entry point: the CLI, or the extra that installs it.

``pip install rollsafe`` is the SDK alone; the command line comes with
``rollsafe[cli]`` (README, install). Without that extra, the command says so in
one line instead of a traceback about typer.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from rollsafe.cli import main as run_cli
    except ModuleNotFoundError as error:
        if not error.name or error.name.partition(".")[0] == "rollsafe":
            raise  # rollsafe itself is broken: no extra mends that
        sys.exit(
            f"rollsafe: the command line needs {error.name}, which the cli extra installs: "
            "pip install 'rollsafe[cli]'"
        )
    run_cli()
