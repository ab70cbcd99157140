"""``python -m lit_extract <command>``; see :mod:`lit_extract.commands.cli`."""

from lit_extract.commands.cli import main

if __name__ == "__main__":
    main()
