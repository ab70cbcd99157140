"""``python -m lit_extract <command>``; see :mod:`lit_extract.cli`."""

from lit_extract.cli import main

if __name__ == "__main__":
    main()
