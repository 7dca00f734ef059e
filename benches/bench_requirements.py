"""Print the `bench` extra of pyproject.toml, one requirement a line (for `make bench-compare`).

Used instead of `pip install -e .[bench]` so installing the peers never rebuilds ferrolog;
each line is installed on its own so one peer without a wheel for this Python (picologging
on new CPythons) is skipped with a note instead of failing the rest.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    text = pyproject.read_text(encoding="utf-8")
    try:
        import tomllib
    except ImportError:  # Python 3.10: read the list with a regex
        m = re.search(r"^bench\s*=\s*\[(.*?)^\]", text, re.MULTILINE | re.DOTALL)
        if not m:
            return []
        return re.findall(r'"([^"]+)"', m.group(1))
    data = tomllib.loads(text)
    reqs: list[str] = data["project"]["optional-dependencies"]["bench"]
    return reqs


if __name__ == "__main__":
    sys.stdout.write("\n".join(bench_requirements()) + "\n")
