"""Helpers shared by the subcommand modules."""

from __future__ import annotations

import argparse
import inspect
import sys
import textwrap

from makeittalk.errors import MakeItTalkError

# Each subcommand module registers itself through `add_command`; the examples become the
# epilog of its --help so that every subcommand documents real invocations.


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    *,
    summary: str,
    description: str,
    examples: list[str],
    notes: str = "",
) -> argparse.ArgumentParser:
    """Add a (sub)command whose --help ends with its examples (and optional notes)."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    if notes:
        epilog += "\n\n" + inspect.cleandoc(notes)
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=textwrap.dedent(description).strip(),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


class NotAvailableYet(MakeItTalkError):
    """A subcommand whose implementation has not landed in this version."""


def not_available_yet(command: str, planned: str):
    """Handler for subcommands that are part of the CLI's shape but not built yet."""

    def handler(args: argparse.Namespace) -> int:
        raise NotAvailableYet(
            f"'makeittalk {command}' is not available in this version yet ({planned}); "
            f"see README.md, 'Status', for what works today"
        )

    return handler


def eprint(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)
