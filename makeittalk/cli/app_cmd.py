"""`makeittalk app`: not built yet (planned: issue 'Gradio web app')."""

from makeittalk.cli.common import add_command, not_available_yet


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "app",
        summary="Start the local Gradio web app.",
        description="""Start the local Gradio web app.

        Not available in this version yet (planned: issue 'Gradio web app').""",
        examples=['makeittalk app', 'makeittalk app --host 127.0.0.1 --port 7860'],
    )
    parser.add_argument("rest", nargs="*", help="arguments (accepted once the command is built)")
    parser.set_defaults(func=not_available_yet("app", "planned: issue 'Gradio web app'"))
