"""mkdocs hooks (mkdocs.yml `hooks:`): pages that live outside docs/ join the site.

- SECURITY.md (the repository's security policy) becomes security.md.
- The README's performance section (between `<!-- performance:begin -->` and
  `<!-- performance:end -->`) replaces `<!-- readme:performance -->` in performance.md, so
  the numbers live in one place; its chart and the full table (bench-results/) are added.
- Links to repository files outside docs/ (`[x](../examples/x.py)`, which GitHub resolves)
  become the path in code style on the site, which has no copy of those files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- performance:begin -->", "<!-- performance:end -->"
EXTERNAL = ("SECURITY.md", "bench-results/latest.md", "bench-results/latest.png")


def readme_performance() -> str:
    """The README's performance section, its heading dropped and links made site-relative."""
    text = (ROOT / "README.md").read_text("utf-8")
    section = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    return re.sub(r"^## Performance\s*\n", "", section.strip() + "\n")


def on_files(files: Files, config: Any) -> Files:
    for path in EXTERNAL:
        uri = "security.md" if path == "SECURITY.md" else path
        files.append(File.generated(config, uri, abs_src_path=str(ROOT / path)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    if page.file.src_uri == "security.md":
        markdown = markdown.replace("](docs/", "](")
    if page.file.src_uri == "performance.md":
        markdown = markdown.replace("<!-- readme:performance -->", readme_performance())
    # Paths to repository files outside the site, written as links in the README style
    # (`[examples/x.py](../examples/x.py)`), become code: GitHub resolves them, a site cannot.
    return re.sub(
        r"\[([^\]]+)\]\((?:\.\./)+((?:examples|benches|tests|python|rust|\.github)/[^)]*)\)",
        r"`\2`",
        markdown,
    )
