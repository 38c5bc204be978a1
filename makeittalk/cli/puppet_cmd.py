"""`makeittalk puppet` (being built)."""

from makeittalk.cli.common import add_command, not_available_yet


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "puppet",
        summary="Create and inspect warp-renderer puppets from an image.",
        description="""Create and inspect warp-renderer puppets from an image.""",
        examples=['makeittalk puppet create cartoon.png -o puppets/cartoon'],
    )
    parser.add_argument("rest", nargs="*")
    parser.set_defaults(func=not_available_yet("puppet", "being built"))
