"""`makeittalk train`: not built yet (planned: issue 'Training pipelines')."""

from makeittalk.cli.common import add_command, not_available_yet


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "train",
        summary="Train one of the networks.",
        description="""Train one of the networks.

        Not available in this version yet (planned: issue 'Training pipelines').""",
        examples=['makeittalk train content --config configs/content.yaml --data datasets/talking --out runs/content'],
    )
    parser.add_argument("rest", nargs="*", help="arguments (accepted once the command is built)")
    parser.set_defaults(func=not_available_yet("train", "planned: issue 'Training pipelines'"))
