"""`makeittalk landmarks` (being built)."""

from makeittalk.cli.common import add_command, not_available_yet


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "landmarks",
        summary="Predict 68-point facial landmarks for speech and a portrait, and export them.",
        description="""Predict 68-point facial landmarks for speech and a portrait, and export them.""",
        examples=['makeittalk landmarks speech.wav --image face.png -o face.json'],
    )
    parser.add_argument("rest", nargs="*")
    parser.set_defaults(func=not_available_yet("landmarks", "being built"))
