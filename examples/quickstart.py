"""Log through ferrolog's zero-config default and say what happened."""

import ferrolog

print(f"ferrolog {ferrolog.__version__}")
