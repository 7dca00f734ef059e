"""The ``ferrolog`` command line: ``--version``, ``config check [PATH]``, ``config schema``,
``audit verify PATH``.

Exit status 0 on success; 1 with the reasons on standard error when the configuration is
invalid or the audit trail is damaged; 2 for a usage error (argparse's convention).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from ferrolog._native import __version__
from ferrolog._pipeline import check_sinks, check_supported
from ferrolog.audit import path_problem, verify
from ferrolog.config import Settings, SettingsError

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
    check.add_argument("path", nargs="?", help="a TOML or JSON settings file (default: none)")
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
    return parser


def _check(path: str | None, out: TextIO, err: TextIO) -> int:
    try:
        settings = asyncio.run(Settings.load(path))
        check_supported(settings)
        check_sinks(settings)
        audit = settings.audit.path
        problem = None if audit is None else path_problem(audit)
        if problem is not None:
            raise SettingsError(f"ferrolog cannot open the audit trail:\n  audit.path: {problem}")
    except SettingsError as exc:
        print(f"ferrolog: {exc}", file=err)
        return 1
    print(f"ferrolog: settings are valid ({path or 'environment and defaults'})", file=out)
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
    if args.command == "audit" and args.audit_command == "verify":
        return _verify(args.path, sys.stdout, sys.stderr)
    if args.command == "audit":
        parser.parse_args(["audit", "--help"])
    parser.print_help()
    return 0
