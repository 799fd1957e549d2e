"""``python -m airshift``: the same as the ``airshift`` command."""

from airshift.cli import main

main()
