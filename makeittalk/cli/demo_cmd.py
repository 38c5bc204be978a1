"""`makeittalk demo` (being built)."""

from makeittalk.cli.common import add_command, not_available_yet


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "demo",
        summary="Render the built-in demo: a generated portrait and a bundled speech clip.",
        description="""Render the built-in demo: a generated portrait and a bundled speech clip.""",
        examples=['makeittalk demo -o demo.mp4'],
    )
    parser.add_argument("rest", nargs="*")
    parser.set_defaults(func=not_available_yet("demo", "being built"))
