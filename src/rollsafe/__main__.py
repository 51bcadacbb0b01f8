"""``python -m rollsafe``: the same as the ``rollsafe`` command."""

from rollsafe.launcher import main

main()
