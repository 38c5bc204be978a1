"""`makeittalk demo`: the built-in demo, run as far as the installed weights allow."""

from __future__ import annotations

import argparse
from pathlib import Path

from makeittalk.cli.common import add_command, eprint
from makeittalk.cli.render_cmd import _non_negative

# Exit code for "ran, but stages are missing": distinct from bad input (2) and bugs (1).
EXIT_INCOMPLETE = 3


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "demo",
        summary="Render the built-in demo: a generated portrait and a bundled speech clip.",
        description="""
        Render a talking video from a portrait cut from scikit-image's public-domain astronaut
        photo and a bundled 10-second synthetic speech clip, using the weight set --weights.

        Every stage runs as far as the installed weights allow; a stage that cannot run is
        named with the way to install what it needs, and the command exits with code 3.""",
        examples=[
            "makeittalk demo -o demo.mp4",
            "makeittalk demo -o lively.mp4 --lip-scale 1.5 --pose-scale 2",
            "makeittalk demo -o demo.mp4 --weights original   # after 'makeittalk weights import-original DIR'",
        ],
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("demo.mp4"), help="video to write (default: demo.mp4)")
    parser.add_argument("--weights", default="default", help="weight set name or folder (default: default)")
    parser.add_argument("--fps", type=float, default=25.0, help="video frame rate (default: 25)")
    parser.add_argument("--seed", type=int, default=0, help="seed for blinks (default: 0)")
    parser.add_argument("--still", action="store_true", help="no head motion; lips and blinks stay")
    parser.add_argument("--pose-scale", type=_non_negative, default=1.0, metavar="S",
                        help="head-motion amount, 1 = the weight set's (default 1)")
    parser.add_argument("--lip-scale", type=_non_negative, default=1.0, metavar="S",
                        help="lip-motion amount, 1 = the weight set's (default 1)")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda or mps (default: auto)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from makeittalk.pipelines.demo import run_demo

    def show(stage) -> None:
        mark = {"ok": "ok", "missing": "MISSING", "skipped": "skipped"}[stage.status]
        timing = f" ({stage.seconds:.1f} s)" if stage.status == "ok" else ""
        eprint(f"[{mark:>7}] {stage.name}{timing}: {stage.detail}")

    eprint("makeittalk demo: astronaut portrait + bundled speech clip")
    result = run_demo(args.output, weights=args.weights, fps=args.fps, seed=args.seed, still=args.still,
                      pose_scale=args.pose_scale, lip_scale=args.lip_scale, overwrite=args.overwrite,
                      device=args.device, on_stage=show)
    if result.complete:
        eprint(f"wrote {result.video}")
        return 0
    missing = ", ".join(stage.name for stage in result.missing())
    eprint(f"demo incomplete: missing stage(s): {missing}. No video was written.")
    return EXIT_INCOMPLETE
