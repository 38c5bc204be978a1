"""`makeittalk render`: not built yet (planned: issue 'makeittalk render')."""

from makeittalk.cli.common import add_command, not_available_yet


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "render",
        summary="Render a talking-head video from a portrait and speech.",
        description="""Render a talking-head video from a portrait and speech.

        Not available in this version yet (planned: issue 'makeittalk render').""",
        examples=['makeittalk render face.png speech.wav -o talking.mp4', 'makeittalk render cartoon.png speech.wav -o toon.mp4 --renderer warp'],
    )
    parser.add_argument("rest", nargs="*", help="arguments (accepted once the command is built)")
    parser.set_defaults(func=not_available_yet("render", "planned: issue 'makeittalk render'"))
