"""Several processes appending to one file never interleave or tear lines."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path


def test_four_processes_fifty_thousand_lines_each(tmp_path: Path) -> None:
    """4 x 50,000 events through ferrolog into one file give 200,000 intact lines."""
    path = tmp_path / "shared.log"
    code = textwrap.dedent(
        f"""
        import sys
        from ferrolog import Pipeline
        proc = int(sys.argv[1])
        p = Pipeline(sinks=[{{"type": "file", "path": {str(path)!r}}}], overflow="block")
        log = p.logger("mp")
        for i in range(50_000):
            log.info("line", proc=proc, i=i, pad="p" * (i % 50))
        assert p.close(30.0)
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)]) for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    per_proc: dict[int, list[int]] = {n: [] for n in range(4)}
    lines = path.read_text().splitlines()
    assert len(lines) == 200_000
    for line in lines:
        ev = json.loads(line)
        per_proc[ev["proc"]].append(ev["i"])
        assert ev["pad"] == "p" * (ev["i"] % 50)
    for n in range(4):
        assert per_proc[n] == list(range(50_000))
