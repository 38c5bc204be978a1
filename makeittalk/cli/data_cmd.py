"""`makeittalk data`: not built yet (planned: issue 'Training pipelines')."""

from makeittalk.cli.common import add_command, not_available_yet


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "data",
        summary="Prepare training datasets from speech and talking-face material.",
        description="""Prepare training datasets from speech and talking-face material.

        Not available in this version yet (planned: issue 'Training pipelines').""",
        examples=['makeittalk data prepare ../shared/data/talking -o datasets/talking'],
    )
    parser.add_argument("rest", nargs="*", help="arguments (accepted once the command is built)")
    parser.set_defaults(func=not_available_yet("data", "planned: issue 'Training pipelines'"))
