"""``python -m realiisr COMMAND`` is the same as the ``realiisr`` command."""
import sys

from realiisr.cli import main

if __name__ == "__main__":
    sys.exit(main())
