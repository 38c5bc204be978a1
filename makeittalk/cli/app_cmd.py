"""`makeittalk app`: serve the local Gradio web app."""

from __future__ import annotations

import argparse
import sys

from makeittalk.cli.common import add_command

DESCRIPTION = """
Start the local web app: pick or upload a portrait, check its face landmarks (drag points or
upload a landmark file, save the result as a puppet), upload or record speech, and get the
talking-head video with its landmark JSON.

The app listens on 127.0.0.1 only unless --host says otherwise, never makes a public share
link and never contacts the network (gradio's analytics are off). Uploaded and generated files
live in a private temporary folder (or --work-dir) and only those are served back.
Videos need a weight set: without one the page says how to import the original checkpoints
('makeittalk weights import-original DIR --name original').
"""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text}")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this computer only; "
                             "0.0.0.0 opens it to your network)")
    parser.add_argument("--port", type=_port, default=7860, help="port (default 7860)")
    parser.add_argument("--weights", default="auto", metavar="NAME",
                        help="weight set (default auto: the shipped default, else 'original', else the first installed)")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--max-upload-mb", type=_positive_float, default=25.0, metavar="MB",
                        help="largest file a user may upload (default 25)")
    parser.add_argument("--max-audio-seconds", type=_positive_float, default=60.0, metavar="S",
                        help="longest speech accepted (default 60)")
    parser.add_argument("--max-image-side", type=_positive_int, default=4096, metavar="PX",
                        help="largest portrait side in pixels (default 4096)")
    parser.add_argument("--concurrency", type=_positive_int, default=1, metavar="N",
                        help="videos rendered at the same time; more requests wait in the queue (default 1)")
    parser.add_argument("--queue-size", type=_positive_int, default=16, metavar="N",
                        help="requests that may wait in the queue (default 16)")
    parser.add_argument("--work-dir", metavar="DIR",
                        help="folder for uploads and generated files (default: a private temporary folder, "
                             "removed on exit)")
    parser.add_argument("--puppets-dir", metavar="DIR",
                        help="where saved puppets go (default: $MAKEITTALK_HOME/puppets)")
    parser.add_argument("--no-warm-up", action="store_true",
                        help="do not load the networks at start (the first video then takes longer)")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "app",
        summary="Start the local Gradio web app.",
        description=DESCRIPTION,
        examples=[
            "makeittalk app",
            "makeittalk app --host 127.0.0.1 --port 7860",
            "makeittalk app --weights original --max-audio-seconds 120 --concurrency 2",
            "python demo/app.py --port 7861",
        ],
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    from pathlib import Path

    from makeittalk.app.config import AppConfig

    return AppConfig(
        host=args.host,
        port=args.port,
        weights=args.weights,
        device=args.device,
        max_upload_mb=args.max_upload_mb,
        max_audio_seconds=args.max_audio_seconds,
        max_image_side=args.max_image_side,
        concurrency=args.concurrency,
        queue_size=args.queue_size,
        work_dir=Path(args.work_dir) if args.work_dir else None,
        puppets_dir=Path(args.puppets_dir) if args.puppets_dir else None,
        warm_up=not args.no_warm_up,
        quiet=args.quiet,
    )


def run(args: argparse.Namespace) -> int:
    from makeittalk.errors import MakeItTalkError

    config = config_from_args(args)
    config.validate()
    if config.host not in ("127.0.0.1", "localhost", "::1") and not config.quiet:
        print(f"makeittalk app: listening on {config.host}: other computers on your network can use this app",
              file=sys.stderr)
    from makeittalk.app import launch

    try:
        launch(config)
    except OSError as exc:
        if "port" in str(exc).lower() or getattr(exc, "errno", None) in (98, 48, 10048):
            raise MakeItTalkError(f"cannot listen on {config.host}:{config.port} (is another app using that port?); "
                                  "choose another with --port") from None
        raise
    return 0
