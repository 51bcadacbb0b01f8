"""``python -m rollsafe``: the same as the ``rollsafe`` command."""

from rollsafe.cli import main

main()
