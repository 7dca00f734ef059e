"""Level numbers: stdlib's, plus TRACE."""

from typing import Final

NOTSET: Final = 0
TRACE: Final = 5
DEBUG: Final = 10
INFO: Final = 20
WARNING: Final = 30
ERROR: Final = 40
CRITICAL: Final = 50
