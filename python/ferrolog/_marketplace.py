"""The plugin marketplace index: its format, and reading it from a file or an http(s) URL.

An index is a JSON object ``{"plugins": [entry, ...]}``; each entry has ``name``,
``package`` (the distribution to install), ``version``, ``kind`` (sink, filter, enricher,
redactor), ``api_version`` (the PEP 440 specifier on the plugin API the release needs),
``summary``, ``homepage`` (an http(s) URL) and ``sha256`` (of the wheel, 64 hex digits).
Unknown keys are ignored, so the format can grow. Any problem is a `PluginIndexError`
naming the source, the entry (``plugins[3]``) and the field.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ferrolog._native import __version__
from ferrolog._plugin_errors import PluginIndexError, SpecifierError
from ferrolog._specifier import parse_release, parse_specifier
from ferrolog.plugins import PLUGIN_API_VERSION, PluginKind

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIMEOUT",
    "IndexEntry",
    "PluginIndex",
    "location_problem",
    "parse_index",
    "read_index",
]

#: Seconds to wait for an index URL to answer.
DEFAULT_TIMEOUT = 10.0
#: The largest index read (8 MiB): a bigger answer is refused, not truncated.
DEFAULT_MAX_BYTES = 8 << 20

_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


class IndexEntry(BaseModel):
    """One plugin release listed in a marketplace index."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][\w.\-]*$")
    package: str = Field(min_length=1)
    version: str = Field(min_length=1)
    kind: PluginKind
    api_version: str
    summary: str = ""
    homepage: str
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")

    @field_validator("api_version")
    @classmethod
    def _check_api_version(cls, value: str) -> str:
        try:
            parse_specifier(value)
        except SpecifierError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("homepage")
    @classmethod
    def _check_homepage(cls, value: str) -> str:
        if urllib.parse.urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"homepage must be an http(s) URL, not {value!r}")
        return value

    def compatible(self, api_version: str = PLUGIN_API_VERSION) -> bool:
        """Whether this release works with the plugin API ``api_version``."""
        return parse_specifier(self.api_version).contains(parse_release(api_version))

    def matches(self, term: str) -> bool:
        """Whether ``term`` occurs (case-insensitively) in its name, package, kind or summary."""
        needle = term.casefold()
        return any(
            needle in text.casefold() for text in (self.name, self.package, self.kind, self.summary)
        )


class _IndexDocument(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    plugins: tuple[IndexEntry, ...]


@dataclass(frozen=True)
class PluginIndex:
    """A parsed index: its entries and where it was read from."""

    source: str
    entries: tuple[IndexEntry, ...]

    def search(self, term: str) -> list[IndexEntry]:
        """The entries matching ``term`` (see `IndexEntry.matches`)."""
        return [entry for entry in self.entries if entry.matches(term)]

    def find(self, name: str) -> list[IndexEntry]:
        """Every release of the plugin ``name``."""
        return [entry for entry in self.entries if entry.name == name]


def _where(location: Sequence[int | str]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def parse_index(data: bytes, source: str) -> PluginIndex:
    """Parse index ``data`` read from ``source``; raise `PluginIndexError` naming each problem."""
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PluginIndexError(
            f"plugin index {source}: not UTF-8 text ({exc.reason} at byte {exc.start})",
            source=source,
        ) from None
    except json.JSONDecodeError as exc:
        raise PluginIndexError(
            f"plugin index {source}: malformed JSON at line {exc.lineno} column {exc.colno}: "
            f"{exc.msg}",
            source=source,
        ) from None
    if not isinstance(document, dict) or "plugins" not in document:
        raise PluginIndexError(
            f'plugin index {source}: expected a JSON object {{"plugins": [...]}}, '
            f"got {type(document).__name__}"
            + (" without a 'plugins' key" if isinstance(document, dict) else ""),
            source=source,
        )
    try:
        parsed = _IndexDocument.model_validate(document)
    except ValidationError as exc:
        lines = [f"  {_where(error['loc'])}: {error['msg']}" for error in exc.errors()]
        raise PluginIndexError(
            f"plugin index {source}: {len(lines)} malformed field(s):\n" + "\n".join(lines),
            source=source,
        ) from None
    return PluginIndex(source, parsed.plugins)


def location_problem(location: str) -> str | None:
    """Why ``location`` cannot be an index (a non-http(s) URL), or ``None``; reads nothing."""
    if _URL_SCHEME.match(location):
        scheme = urllib.parse.urlsplit(location).scheme.lower()
        if scheme not in ("http", "https"):
            return (
                f"plugin index {location}: only http and https URLs (or a file path) are "
                f"supported, not {scheme!r}"
            )
    return None


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) URLs only (urllib would also follow one to ftp)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise urllib.error.URLError(f"refusing a redirect to {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _read_capped(stream: IO[bytes], max_bytes: int, source: str) -> bytes:
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PluginIndexError(
            f"plugin index {source}: larger than {max_bytes} bytes; refusing to read it",
            source=source,
        )
    return data


def read_index(
    location: str, *, timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES
) -> PluginIndex:
    """Read and parse the index at ``location``: a file path or an http(s) URL.

    A URL must answer within ``timeout`` seconds; at most ``max_bytes`` are read. Raises
    `PluginIndexError` saying what went wrong and where. Blocking: run it off the loop.
    """
    problem = location_problem(location)
    if problem is not None:
        raise PluginIndexError(problem, source=location)
    if _URL_SCHEME.match(location):
        opener = urllib.request.build_opener(_HttpOnlyRedirects)
        request = urllib.request.Request(
            location,
            headers={"Accept": "application/json", "User-Agent": f"ferrolog/{__version__}"},
        )
        try:
            with opener.open(request, timeout=timeout) as response:
                data = _read_capped(response, max_bytes, location)
        except urllib.error.HTTPError as exc:
            raise PluginIndexError(
                f"plugin index {location}: the server answered HTTP {exc.code} {exc.reason}",
                source=location,
            ) from None
        except urllib.error.URLError as exc:
            raise PluginIndexError(
                f"plugin index {location}: cannot fetch it: {exc.reason}", source=location
            ) from None
        except (TimeoutError, OSError) as exc:
            raise PluginIndexError(
                f"plugin index {location}: cannot fetch it within {timeout} s: {exc}",
                source=location,
            ) from None
    else:
        try:
            with open(location, "rb") as stream:
                data = _read_capped(stream, max_bytes, location)
        except OSError as exc:
            raise PluginIndexError(
                f"plugin index {location}: cannot read it: {exc.strerror or exc}",
                source=location,
            ) from None
    return parse_index(data, location)
