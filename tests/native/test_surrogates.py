"""Lone surrogates and invalid bytes become U+FFFD; the line stays valid UTF-8."""

from __future__ import annotations

from conftest import FileLog


def test_lone_surrogates_in_values_keys_and_message(file_log: FileLog) -> None:
    """Every lone surrogate is replaced by exactly one U+FFFD."""
    bad = "a\ud800b\udfffc"
    file_log.logger.info(bad, value=bad, nested={bad: [bad]})
    raw = file_log.path.read_bytes() if file_log.pipeline.flush(5) else b""
    raw.decode("utf-8")  # strict: must not raise
    ev = file_log.one()
    fixed = "a\ufffdb\ufffdc"
    assert ev["message"] == fixed
    assert ev["value"] == fixed
    assert ev["nested"] == {fixed: [fixed]}


def test_valid_surrogate_pairs_are_untouched(file_log: FileLog) -> None:
    """Astral characters (written as real code points) survive."""
    file_log.logger.info("m", emoji="🎉𝄞")
    assert file_log.one()["emoji"] == "🎉𝄞"
