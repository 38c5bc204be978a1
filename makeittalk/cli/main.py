"""Entry point of the `makeittalk` command."""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
import threading
import traceback

from makeittalk import __version__
from makeittalk.errors import MakeItTalkError

# Subcommand name -> module in makeittalk.cli that defines `register(subparsers)`.
# Modules are imported when the parser is built; each keeps heavy imports (torch, librosa,
# gradio) inside its handler so that `makeittalk --help` stays fast.
SUBCOMMANDS: dict[str, str] = {
    "render": "makeittalk.cli.render_cmd",
    "landmarks": "makeittalk.cli.landmarks_cmd",
    "export": "makeittalk.cli.export_cmd",
    "live": "makeittalk.cli.live_cmd",
    "puppet": "makeittalk.cli.puppet_cmd",
    "weights": "makeittalk.cli.weights_cmd",
    "app": "makeittalk.cli.app_cmd",
    "data": "makeittalk.cli.data_cmd",
    "train": "makeittalk.cli.train_cmd",
    "eval": "makeittalk.cli.eval_cmd",
    "demo": "makeittalk.cli.demo_cmd",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="makeittalk",
        description="Turn one portrait and a speech recording into a lip-synced talking-head video.",
        epilog=(
            "examples:\n"
            "  makeittalk demo -o demo.mp4\n"
            "  makeittalk landmarks speech.wav --image face.png -o face.json\n"
            "  makeittalk export speech.wav --format rhubarb-tsv -o cues.tsv\n"
            "  makeittalk render face.png --text 'Hello world' -o hi.mp4\n"
            "  makeittalk weights list\n"
            "\nRun 'makeittalk COMMAND --help' for the options and examples of each command."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"makeittalk {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMANDS.values():
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except MakeItTalkError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"makeittalk {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"makeittalk {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure is a bug: keep it short unless asked
        if args.debug:
            traceback.print_exc()
        else:
            print(
                f"makeittalk {args.command}: internal error: {type(exc).__name__}: {exc} "
                f"(re-run with --debug for the traceback and report it)",
                file=sys.stderr,
            )
        return 1


#: OpenMP threads that find no work spin this many times before sleeping (libgomp's default is
#: 300,000). With other programs busy on the cores, the long spins starve the thread that has
#: work: a 10 s photo render beside two busy processes took 31.6 s by default and 14.2 s with
#: 10,000, and the same 7.7-8.0 s either way on a quiet 2-core CPU. Set before torch loads
#: libgomp; a value the user exported wins.
OPENMP_SPIN_COUNT = "10000"


def console_main() -> None:
    """The `makeittalk` command (and `python -m makeittalk`): main(), then a quick exit."""
    os.environ.setdefault("GOMP_SPINCOUNT", OPENMP_SPIN_COUNT)
    exit_quickly(main())


def exit_quickly(code: int) -> None:
    """Exit with `code` without the interpreter's teardown of every module.

    Tearing down torch, scipy and the GL driver took 0.8 s after a render's last byte was
    written (measured on the 2-core CI CPU): a tenth of a 30 s clip's render. The outputs are
    closed by then, so the streams are flushed, the atexit handlers run (logging, Ray,
    temporary folders) and the process leaves. While any non-daemon thread still runs, the
    normal exit is kept, since it waits for them.
    """
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if others:
        raise SystemExit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`) or a closed stream: nothing left to say
            pass
    os._exit(code)


if __name__ == "__main__":
    console_main()
