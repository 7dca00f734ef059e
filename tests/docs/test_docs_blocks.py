"""The docs-block parser and the output comparison behind test_code_blocks.py."""

from __future__ import annotations

import doctest
from pathlib import Path

from docs_blocks import Block, parse
from test_code_blocks import normalize

PAGE = """# A page

<!-- docs-test: env: A=1 B=2; requires: structlog -->

```python
print("hi")
```

<!-- a comment that is not a directive -->

```text title="Output"
hi
```

=== "tab"

    <!-- docs-test: skip: a reason: with a colon -->

    ```python
    print("indented")
    ```

    ```json title="Output"
    {"a": 1}
    ```

Some prose.

```text title="Output"
an orphan: prose came between
```

<!-- file: examples/x.py -->
```python
x = 1
```

<!-- docs-test: save: conf.toml -->

```toml
level = "info"
```
"""


def _blocks(tmp_path: Path) -> list[Block]:
    page = tmp_path / "page.md"
    page.write_text(PAGE, "utf-8")
    return parse(page)


def test_programs_directives_and_outputs(tmp_path: Path) -> None:
    first, first_out, tabbed, tabbed_out, orphan, file_block, saved = _blocks(tmp_path)
    assert first.is_program
    assert first.line == 5
    assert first.code == 'print("hi")\n'
    assert first.directives == {"env": "A=1 B=2", "requires": "structlog"}
    # Only blank lines and docs-test directives may stand between a program and its output:
    # anything else (here a plain comment) leaves the output unattached, which
    # test_every_output_block_belongs_to_a_program reports.
    assert first.output is None
    assert first_out.is_output
    assert tabbed.code == 'print("indented")\n'
    assert tabbed.directives == {"skip": "a reason: with a colon"}
    assert tabbed.output is tabbed_out
    assert tabbed_out.language == "json"
    assert orphan.is_output
    assert not any(block.output is orphan for block in (first, tabbed))
    assert file_block.file == "examples/x.py"
    assert not file_block.is_program
    assert saved.directives == {"save": "conf.toml"}
    assert not saved.is_program


def test_normalized_output_matches_with_ellipsis() -> None:
    shown = normalize('{"timestamp":"...","pid":1,"message":"a"}\n'.replace("...", "…"))
    printed = normalize('{"timestamp":"2026-11-30T09:40:21.123456Z","pid":4242,"message":"a"}  \n')
    checker = doctest.OutputChecker()
    assert checker.check_output(shown.replace("…", "..."), printed, doctest.ELLIPSIS)
    assert '"pid":<PID>' in printed
    assert "<TIME>" in printed
    assert not checker.check_output(
        normalize('{"message":"b"}'), normalize('{"message":"a"}'), doctest.ELLIPSIS
    )
