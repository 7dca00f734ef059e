"""Level numbers: stdlib's, plus TRACE — read from the native standard level table."""

from typing import Final

from ferrolog._native import STANDARD_LEVELS

NOTSET: Final[int] = STANDARD_LEVELS["notset"]
TRACE: Final[int] = STANDARD_LEVELS["trace"]
DEBUG: Final[int] = STANDARD_LEVELS["debug"]
INFO: Final[int] = STANDARD_LEVELS["info"]
WARNING: Final[int] = STANDARD_LEVELS["warning"]
ERROR: Final[int] = STANDARD_LEVELS["error"]
CRITICAL: Final[int] = STANDARD_LEVELS["critical"]
