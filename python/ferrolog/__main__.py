"""``python -m ferrolog``: the same command line as the ``ferrolog`` script."""

from __future__ import annotations

import sys

from ferrolog.cli import main

if __name__ == "__main__":
    sys.exit(main())
