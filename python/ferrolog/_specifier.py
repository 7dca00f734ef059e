"""A small PEP 440 version-specifier matcher over release segments (``1``, ``1.0``, ``2.3.1``).

Plugins declare which plugin API they work with as a specifier such as ``">=1.0,<2"`` or
``"~=1.0"``; ferrolog matches it against `ferrolog.PLUGIN_API_VERSION`. ferrolog does not
depend on ``packaging`` for this: the API version only ever has release segments, so this
module supports exactly the operators ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``~=``
and the prefix forms ``==X.*`` / ``!=X.*``, comma-separated (every clause must match).

Refused with a `SpecifierError` saying so: epochs (``1!2``), pre-, post- and dev-releases
(``1.0rc1``, ``1.0.post1``, ``1.0.dev0``), local versions (``1.0+abc``), arbitrary equality
(``===``) and a bare version without an operator (write ``==1.0`` or ``~=1.0``).
Release segments compare as PEP 440 says: padded with zeros, so ``1.0 == 1 == 1.0.0``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ferrolog._plugin_errors import SpecifierError

__all__ = ["Clause", "Specifier", "parse_release", "parse_specifier"]

_RELEASE = re.compile(r"^[0-9]+(?:\.[0-9]+)*$")
# Anything PEP 440 would accept beyond a release (epoch, pre/post/dev, local): recognised so
# the error can say that it is valid PEP 440 but unsupported here.
_PEP440_EXTRAS = re.compile(
    r"^v?(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*"
    r"(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?"
    r"(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?"
    r"(?:[-_.]?dev[-_.]?[0-9]*)?"
    r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?$",
    re.IGNORECASE,
)
_CLAUSE = re.compile(r"^(===|~=|==|!=|<=|>=|<|>)?\s*(.*?)$")
_OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "~=")


def parse_release(text: str, *, what: str = "version") -> tuple[int, ...]:
    """The release segments of ``text`` (``"1.10.2"`` -> ``(1, 10, 2)``).

    Raises `SpecifierError` for anything else, saying when it is PEP 440 that this
    matcher does not support (pre/post/dev/local/epoch).
    """
    stripped = text.strip()
    if _RELEASE.match(stripped):
        return tuple(int(part) for part in stripped.split("."))
    if _PEP440_EXTRAS.match(stripped):
        raise SpecifierError(
            f"{what} {text!r}: only release versions such as '1.0' or '2.3.1' are supported; "
            "epochs, pre-, post-, dev-releases and local versions are not"
        )
    raise SpecifierError(f"{what} {text!r} is not a version: write it like '1.0' or '2.3.1'")


def _padded(version: tuple[int, ...], length: int) -> tuple[int, ...]:
    return version + (0,) * (length - len(version))


def _compare(left: tuple[int, ...], right: tuple[int, ...]) -> int:
    length = max(len(left), len(right))
    a, b = _padded(left, length), _padded(right, length)
    return (a > b) - (a < b)


@dataclass(frozen=True)
class Clause:
    """One ``operator version`` clause; ``prefix`` for the ``==X.*`` / ``!=X.*`` forms."""

    operator: str
    release: tuple[int, ...]
    prefix: bool = False

    def contains(self, version: tuple[int, ...]) -> bool:
        """Whether ``version`` satisfies this clause."""
        if self.prefix:
            # `==1.1.*` matches 1.1, 1.1.0 and 1.1.7: compare the first len(prefix) segments.
            head = _padded(version, len(self.release))[: len(self.release)]
            return (head == self.release) == (self.operator == "==")
        order = _compare(version, self.release)
        if self.operator == "~=":
            # ~=X.Y.Z is >=X.Y.Z together with ==X.Y.*
            return order >= 0 and Clause("==", self.release[:-1], prefix=True).contains(version)
        return {
            "==": order == 0,
            "!=": order != 0,
            "<": order < 0,
            "<=": order <= 0,
            ">": order > 0,
            ">=": order >= 0,
        }[self.operator]

    def __str__(self) -> str:
        return f"{self.operator}{'.'.join(map(str, self.release))}{'.*' if self.prefix else ''}"


@dataclass(frozen=True)
class Specifier:
    """A parsed specifier: every clause must match (a comma means "and")."""

    clauses: tuple[Clause, ...]

    def contains(self, version: str | tuple[int, ...]) -> bool:
        """Whether ``version`` (a release string or tuple) satisfies every clause."""
        release = parse_release(version) if isinstance(version, str) else version
        return all(clause.contains(release) for clause in self.clauses)

    def __str__(self) -> str:
        return ",".join(str(clause) for clause in self.clauses)


def _parse_clause(text: str, whole: str) -> Clause:
    match = _CLAUSE.match(text.strip())
    assert match is not None  # the pattern matches any string
    operator, version = match.group(1), match.group(2).strip()
    if operator is None:
        raise SpecifierError(
            f"specifier {whole!r}: clause {text.strip()!r} has no operator; write e.g. "
            f"'=={version}' (exactly), '~={version}' (compatible) or '>={version},<N'"
        )
    if operator == "===":
        raise SpecifierError(f"specifier {whole!r}: arbitrary equality '===' is not supported")
    if not version:
        raise SpecifierError(f"specifier {whole!r}: {operator!r} needs a version after it")
    prefix = version.endswith(".*")
    if prefix:
        if operator not in ("==", "!="):
            raise SpecifierError(
                f"specifier {whole!r}: a '.*' suffix is only allowed with '==' or '!=', "
                f"not {operator!r}"
            )
        version = version[:-2]
    release = parse_release(version, what=f"specifier {whole!r}: version")
    if operator == "~=" and len(release) < 2:
        raise SpecifierError(
            f"specifier {whole!r}: '~=' needs at least two segments (e.g. '~=1.0'), not {version!r}"
        )
    return Clause(operator, release, prefix)


def parse_specifier(text: str) -> Specifier:
    """Parse a comma-separated PEP 440 specifier such as ``">=1.0,<2"``.

    Raises `SpecifierError` naming the offending clause when it is malformed, empty, or
    uses what this matcher does not support (see the module docstring).
    """
    if not isinstance(text, str):
        raise SpecifierError(f"a version specifier is a str such as '>=1.0,<2', not {text!r}")
    if not text.strip():
        raise SpecifierError(
            "the version specifier is empty: declare the plugin API versions that work, "
            "e.g. '>=1.0,<2'"
        )
    return Specifier(tuple(_parse_clause(part, text) for part in text.split(",")))
