"""The ``airshift`` command's entry point (and ``python -m airshift``).

Apart from ``airshift.cli`` because ``program.run`` makes a setting that must precede
pyarrow's loading, and importing the CLI loads it.
"""

from typing import NoReturn

from airshift import program


def _cli() -> None:
    from airshift.cli import main as cli_main

    cli_main()


def main() -> NoReturn:
    program.run(_cli)


if __name__ == "__main__":
    main()
