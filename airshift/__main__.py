"""The ``airshift`` command's entry point (and ``python -m airshift``).

Apart from ``airshift.cli`` because one setting must be made before pyarrow is loaded
(``memory.arrow_on_system_pool``), and importing the CLI loads it.
"""

from airshift import memory


def main() -> None:
    memory.arrow_on_system_pool()
    from airshift.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
