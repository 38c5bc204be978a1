"""`makeittalk weights` (being built)."""

from makeittalk.cli.common import add_command, not_available_yet


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "weights",
        summary="List, import and check weight sets.",
        description="""List, import and check weight sets.""",
        examples=['makeittalk weights list', 'makeittalk weights import-original ~/Downloads/makeittalk-ckpts'],
    )
    parser.add_argument("rest", nargs="*")
    parser.set_defaults(func=not_available_yet("weights", "being built"))
