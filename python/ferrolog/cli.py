"""The ``ferrolog`` command line: ``--version``, ``config check [PATH]``, ``config schema``,
``plugins list|search|info|check``, ``audit verify PATH``.

Exit status 0 on success; 1 with the reasons on standard error when the configuration is
invalid, a plugin cannot load, the plugin index cannot be read or the audit trail is
damaged; 2 for a usage error (argparse's convention).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from ferrolog._checks import check_startup
from ferrolog._marketplace import IndexEntry, PluginIndex, read_index
from ferrolog._native import __version__
from ferrolog._pipeline import check_supported
from ferrolog._plugin_errors import PluginIndexError
from ferrolog.audit import verify
from ferrolog.config import Settings, SettingsError
from ferrolog.plugins import PLUGIN_API_VERSION
from ferrolog.registry import PluginRegistry, PluginStatus

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ferrolog", description="ferrolog: async-first structured logging."
    )
    parser.add_argument("--version", action="version", version=f"ferrolog {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    config = commands.add_parser("config", help="check settings or print their schema")
    config_commands = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    check = config_commands.add_parser(
        "check",
        help="validate a settings file plus the FERROLOG_* environment",
        description=(
            "Load the settings as Container.create would (the file, then FERROLOG_* "
            "variables), check that this build can honour them and that every sink can "
            "start; print each problem with its field path or variable."
        ),
    )
    check.add_argument("path", nargs="?", help="a TOML, JSON or YAML settings file (default: none)")
    config_commands.add_parser("schema", help="print the settings' JSON schema")
    audit = commands.add_parser("audit", help="check a tamper-evident audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")
    verify_command = audit_commands.add_parser(
        "verify",
        help="check an audit trail's hash chain",
        description=(
            "Read the audit trail (the file of the audit.path setting) and check every "
            "record's sequence number, hash and link to the record before it. Exit 0 when "
            "all are intact; 1 with the first altered, removed, reordered or truncated "
            "record's sequence number and the reason."
        ),
    )
    verify_command.add_argument("path", help="the audit trail file")
    _plugins_parser(commands)
    return parser


def _plugins_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plugins = commands.add_parser(
        "plugins",
        help="list, search and check plugins",
        description=(
            "Installed plugins (the ferrolog.plugins entry points and plugins.paths modules) "
            "and the marketplace index. Only plugins in plugins.allow (or --allow) are "
            "imported; the others are listed from their metadata."
        ),
    )
    plugin_commands = plugins.add_subparsers(dest="plugins_command", metavar="SUBCOMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--index",
        metavar="FILE_OR_URL",
        help="the marketplace index: a JSON file or an http(s) URL (default: plugins.index)",
    )
    common.add_argument(
        "--settings",
        metavar="PATH",
        help="a TOML, JSON or YAML settings file for plugins.allow/paths/index (default: the "
        "FERROLOG_* environment)",
    )
    common.add_argument(
        "--allow",
        metavar="NAME",
        action="append",
        default=[],
        help="also allow (import) this plugin; repeatable",
    )
    listing = plugin_commands.add_parser(
        "list",
        parents=[common],
        help="installed plugins with their compatibility",
        description=(
            "List installed plugins: allowed ones are imported and shown as compatible, "
            "incompatible (which plugin API versions they need, which ferrolog provides) or "
            "broken; the others as not loaded."
        ),
    )
    listing.add_argument("--json", action="store_true", help="print JSON, one object per plugin")
    search = plugin_commands.add_parser(
        "search",
        parents=[common],
        help="search the marketplace index",
        description=(
            "Print the index entries whose name, package, kind or summary contain TERM "
            "(case-insensitive). Exit 1 when none does."
        ),
    )
    search.add_argument("term", help="the text to look for")
    info = plugin_commands.add_parser(
        "info",
        parents=[common],
        help="one plugin: its index entries and installed status",
        description=(
            "Show what the index lists for NAME (every release, with its compatibility) and "
            "whether it is installed. Exit 1 when neither knows it."
        ),
    )
    info.add_argument("name", help="the plugin's name")
    plugin_commands.add_parser(
        "check",
        parents=[common],
        help="check allowed plugins, the settings' plugins and the index",
        description=(
            "Import every allowed plugin and check its declaration and plugin API version, "
            "check that every plugin the settings use can load with its config, and (with "
            "an index) that the index is well-formed. Exit 1 with the reasons on a problem."
        ),
    )


def _check(path: str | None, out: TextIO, err: TextIO) -> int:
    try:
        settings = asyncio.run(Settings.load(path))
        check_supported(settings)
        check_startup(settings, PluginRegistry.from_settings(settings))
    except SettingsError as exc:
        print(f"ferrolog: {exc}", file=err)
        return 1
    print(f"ferrolog: settings are valid ({path or 'environment and defaults'})", file=out)
    print("ok", file=out)
    # The effective settings; secrets print as '**********' (SecretStr's serialization).
    print(settings.model_dump_json(indent=2), file=out)
    return 0


def _verify(path: str, out: TextIO, err: TextIO) -> int:
    result = verify(path)
    if not result.ok:
        where = "" if result.bad_seq is None else f" at seq {result.bad_seq}"
        line = "" if result.line is None else f" (line {result.line})"
        print(f"ferrolog: audit trail {path} is damaged{where}{line}: {result.reason}", file=err)
        print(f"ferrolog: {result.records} record(s) before it are intact", file=err)
        return 1
    print(
        f"ferrolog: audit trail {path} is intact: {result.records} record(s), "
        f"last seq {result.last_seq}, head {result.head}",
        file=out,
    )
    if result.retention_days is not None:
        print(f"ferrolog: retention {result.retention_days} days (from its header)", file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (``ferrolog config schema | head``): not an error of ours.
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "config" and args.config_command == "check":
        return _check(args.path, sys.stdout, sys.stderr)
    if args.command == "config" and args.config_command == "schema":
        print(json.dumps(Settings.model_json_schema(), indent=2, sort_keys=True))
        return 0
    if args.command == "config":
        parser.parse_args(["config", "--help"])  # prints the subcommands, exits 0
    if args.command == "plugins" and args.plugins_command is not None:
        return _plugins(args, sys.stdout, sys.stderr)
    if args.command == "plugins":
        parser.parse_args(["plugins", "--help"])
    if args.command == "audit" and args.audit_command == "verify":
        return _verify(args.path, sys.stdout, sys.stderr)
    if args.command == "audit":
        parser.parse_args(["audit", "--help"])
    parser.print_help()
    return 0


def _entry_line(entry: IndexEntry) -> str:
    fits = "compatible" if entry.compatible() else f"incompatible: needs {entry.api_version!r}"
    return f"{entry.name} {entry.version} [{entry.kind}] ({fits}) {entry.package}: {entry.summary}"


def _status_line(status: PluginStatus) -> str:
    what = " ".join(part for part in (status.version, status.kind and f"[{status.kind}]") if part)
    line = f"{status.name} {what} {status.state} ({status.source})".replace("  ", " ")
    if status.problem is not None:
        line += f": {status.problem}"
    return line


def _plugins(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``ferrolog plugins list|search|info|check``."""
    try:
        settings = asyncio.run(Settings.load(args.settings))
    except SettingsError as exc:
        print(f"ferrolog: {exc}", file=err)
        return 1
    registry = PluginRegistry(
        allow=(*settings.plugins.allow, *args.allow), paths=settings.plugins.paths
    )
    location: str | None = args.index or settings.plugins.index
    index: PluginIndex | None = None
    if location is not None:
        try:
            index = read_index(location)
        except PluginIndexError as exc:
            print(f"ferrolog: {exc}", file=err)
            return 1
    command = args.plugins_command
    if command == "list":
        statuses = registry.statuses()
        if args.json:
            for status in statuses:
                print(json.dumps(status.to_dict(), sort_keys=True), file=out)
        else:
            for status in statuses:
                print(_status_line(status), file=out)
            print(
                f"ferrolog: {len(statuses)} plugin(s) installed; plugin API {PLUGIN_API_VERSION}",
                file=out,
            )
        return 0
    if command == "search":
        if index is None:
            print(
                "ferrolog: no plugin index: pass --index FILE_OR_URL or set plugins.index", file=err
            )
            return 1
        found = index.search(args.term)
        for entry in found:
            print(_entry_line(entry), file=out)
        if not found:
            print(f"ferrolog: no plugin in {index.source} matches {args.term!r}", file=err)
            return 1
        return 0
    if command == "info":
        return _info(args.name, registry, index, out, err)
    return _check_plugins(settings, registry, index, out, err)


def _info(
    name: str, registry: PluginRegistry, index: PluginIndex | None, out: TextIO, err: TextIO
) -> int:
    entries = [] if index is None else index.find(name)
    installed = any(plugin.name == name for plugin in registry.discover())
    if not entries and not installed:
        where = "installed, and no index was given" if index is None else f"in {index.source}"
        print(f"ferrolog: plugin {name!r} is neither installed nor listed {where}", file=err)
        return 1
    for entry in entries:
        print(_entry_line(entry), file=out)
        print(f"  homepage: {entry.homepage}", file=out)
        print(f"  sha256: {entry.sha256}", file=out)
        print(f"  install: pip install {entry.package}=={entry.version}", file=out)
    if installed:
        print(f"installed: {_status_line(registry.status(name))}", file=out)
    else:
        print(f"installed: no (plugin API {PLUGIN_API_VERSION})", file=out)
    return 0


def _check_plugins(
    settings: Settings,
    registry: PluginRegistry,
    index: PluginIndex | None,
    out: TextIO,
    err: TextIO,
) -> int:
    problems: list[str] = []
    checked = 0
    for status in registry.statuses():
        if status.state == "not loaded":
            continue
        checked += 1
        if status.state != "compatible":
            problems.append(f"{status.name}: {status.state}: {status.problem}")
    for where, error in registry.settings_problems(settings):
        problems.append(f"{where}: {error}")
    if index is not None:
        for entry in index.entries:
            if not entry.compatible():
                print(
                    f"ferrolog: note: index entry {entry.name} {entry.version} needs plugin API "
                    f"{entry.api_version!r}, ferrolog provides {PLUGIN_API_VERSION}",
                    file=out,
                )
    if problems:
        for problem in problems:
            print(f"ferrolog: {problem}", file=err)
        return 1
    suffix = "" if index is None else f"; index {index.source}: {len(index.entries)} entries"
    print(f"ferrolog: {checked} allowed plugin(s) are compatible{suffix}", file=out)
    return 0
