"""`makeittalk eval`: not built yet (planned: issue 'Training pipelines')."""

from makeittalk.cli.common import add_command, not_available_yet


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "eval",
        summary="Evaluate landmark predictions against held-out data.",
        description="""Evaluate landmark predictions against held-out data.

        Not available in this version yet (planned: issue 'Training pipelines').""",
        examples=['makeittalk eval --weights default --data datasets/talking'],
    )
    parser.add_argument("rest", nargs="*", help="arguments (accepted once the command is built)")
    parser.set_defaults(func=not_available_yet("eval", "planned: issue 'Training pipelines'"))
