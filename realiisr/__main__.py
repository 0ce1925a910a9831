"""``python -m realiisr COMMAND`` is the same as the ``realiisr`` command."""
import sys

from realiisr.cli import console_main

if __name__ == "__main__":
    sys.exit(console_main())
