"""The plugin API version matcher agrees with PEP 440 (``packaging``, a test-only reference)
over release versions, and refuses what it does not support with a clear error (issue 12)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ferrolog._specifier import parse_release, parse_specifier
from ferrolog.registry import SpecifierError

releases = st.lists(st.integers(0, 4), min_size=1, max_size=4).map(tuple)


def _text(release: tuple[int, ...]) -> str:
    return ".".join(map(str, release))


@st.composite
def clauses(draw: st.DrawFn) -> str:
    operator = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "~=", "==*", "!=*"]))
    release: tuple[int, ...] = draw(releases)
    if operator == "~=" and len(release) < 2:
        release = (*release, 0)
    if operator.endswith("*"):
        return f"{operator[:-1]}{_text(release)}.*"
    return f"{operator}{_text(release)}"


specifiers = st.lists(clauses(), min_size=1, max_size=3).map(",".join)


@given(specifiers, releases)
def test_matching_agrees_with_pep_440(specifier: str, release: tuple[int, ...]) -> None:
    """For any release-only specifier and version, the answer is packaging's."""
    expected = SpecifierSet(specifier).contains(Version(_text(release)))
    assert parse_specifier(specifier).contains(_text(release)) == expected


@given(releases, releases)
def test_release_parsing_round_trips_and_compares_padded(
    left: tuple[int, ...], right: tuple[int, ...]
) -> None:
    """Release versions parse to their segments; equality ignores trailing zeros (1.0 == 1)."""
    assert parse_release(_text(left)) == left
    equal = parse_specifier(f"=={_text(right)}").contains(_text(left))
    assert equal == (Version(_text(left)) == Version(_text(right)))


@pytest.mark.parametrize(
    ("specifier", "version", "expected"),
    [
        (">=1.0,<2", "1.0", True),
        (">=1.0,<2", "2.0", False),
        ("~=1.0", "1.9.3", True),
        ("~=1.0", "2.0", False),
        ("~=1.4.2", "1.4.9", True),
        ("~=1.4.2", "1.5", False),
        ("==1.*", "1.7", True),
        ("==1.1.*", "1", False),
        ("==1.0.*", "1", True),  # the candidate is padded with zeros before the prefix match
        ("!=1.0.*", "1.0.4", False),
        ("==1", "1.0.0", True),
        (" >= 1.0 , != 1.5 ", "1.5.0", False),
    ],
)
def test_known_answers(specifier: str, version: str, expected: bool) -> None:
    """Hand-checked cases, including padding, prefixes, ~= and whitespace."""
    assert parse_specifier(specifier).contains(version) is expected


@pytest.mark.parametrize(
    ("specifier", "message"),
    [
        ("1.0", r"clause '1\.0' has no operator; write e\.g\. '==1\.0'"),
        ("", "specifier is empty"),
        (">=1.0rc1", "pre-, post-, dev-releases and local versions are not"),
        ("==1.0.post1", "pre-, post-, dev-releases"),
        ("==1.0.dev0", "pre-, post-, dev-releases"),
        ("==1.0+local", "pre-, post-, dev-releases"),
        ("==1!1.0", "epochs"),
        ("===1.0", "arbitrary equality"),
        ("~=1", r"'~=' needs at least two segments"),
        (">=1.*", r"'\.\*' suffix is only allowed with '==' or '!='"),
        (">=", "needs a version"),
        (">=one", "is not a version"),
        (">=1.0,,<2", "has no operator"),
    ],
)
def test_unsupported_or_malformed_specifiers_are_clear_errors(specifier: str, message: str) -> None:
    """Malformed specifiers and PEP 440 parts this matcher does not support say which."""
    with pytest.raises(SpecifierError, match=message):
        parse_specifier(specifier)


def test_packaging_is_not_imported_at_runtime() -> None:
    """Loading ferrolog and its registry does not import packaging (not a dependency)."""
    code = (
        "import sys, ferrolog, ferrolog.registry, ferrolog.cli, ferrolog._marketplace\n"
        "ferrolog.registry.PluginRegistry().discover()\n"
        "assert 'packaging' not in sys.modules, 'packaging was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
