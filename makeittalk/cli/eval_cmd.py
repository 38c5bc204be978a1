"""`makeittalk eval`: score landmark animation (or, with --frames, the photo renderers) against
real talking-face videos."""

from __future__ import annotations

import argparse
from pathlib import Path

from makeittalk.cli.common import add_command, eprint


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "eval",
        summary="Evaluate landmark animation (or the renderers) against real talking-face videos.",
        description="""
        For every video under CLIPS_DIR, predict the face's 68 landmarks from the clip's audio
        and its first frame with a face, and compare them with the video's own landmarks
        (<clip>.landmarks.npz beside the video, else detected on every frame). The audio is
        <clip>.wav beside the video, else the video's audio track. Two baselines are scored
        with the same code: 'static' (the first face, still) and 'rms' (the first face whose
        mouth opens with the audio's loudness). Prints a table (one row per clip and method,
        then the means) and, with --json, writes the full report.

        Metrics (all distances in % of the clip's mean outer-eye-corner distance): D-LL / D-VL
        jaw-lip positions / velocities with head pose removed, D-A inner-mouth area, D-L / D-V
        all 68 points without pose removal, D-Rot in-plane head roll (degrees), D-Pos head
        position, and the correlation of the mouth opening at the best lag within ±200 ms.
        The exact definitions are in makeittalk/evaluation/metrics.py; they are this project's
        reading of the paper's metric names, so the numbers are not comparable with the paper's.

        With --frames, it evaluates the photo renderers instead, by self-reenactment: each
        clip's first frame with a face is the portrait, and up to --frames-per-clip later frames
        are drawn from it at their real landmarks by the warp renderer alone and by the warp +
        mouth translator. In the real frame's mouth crop it scores PSNR, SSIM and the sharpness
        ratio (Laplacian variance, render / real), and on the whole frame the identity distance
        (dlib face descriptors, render vs real). Without a mouth translator only the warp is
        scored. The definitions are in makeittalk/evaluation/reenactment.py.""",
        examples=[
            "makeittalk eval talking_videos/ --weights original",
            "makeittalk eval talking_videos/ --weights original --split-from my_dataset/ --json val.json",
            "makeittalk eval talking_videos/ --clips interview_01 interview_07 --max-seconds 20",
            "makeittalk eval talking_videos/ --frames --split-from my_dataset/",
            "makeittalk eval talking_videos/ --frames --translator runs/mouth/best/mouth_translator --json frames.json",
        ],
    )
    parser.add_argument("clips_dir", type=Path, metavar="CLIPS_DIR",
                        help="folder holding the videos (searched recursively)")
    parser.add_argument("--weights", default="default", metavar="NAME",
                        help="weight set name or folder (default: default)")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--clips", nargs="+", default=None, metavar="STEM",
                        help="evaluate only these clips (video file names without suffix)")
    parser.add_argument("--split-from", type=Path, default=None, metavar="DATASET_DIR",
                        help="evaluate only the clips in the val split of this prepared dataset "
                             "(DATASET_DIR/clips.jsonl, matched by file stem): held-out speakers")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT.json", help="write the full report here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    parser.add_argument("--summary", action="store_true",
                        help="print only the MEAN rows (the --json report still has every clip)")
    parser.add_argument("--max-clips", type=int, default=None, metavar="N",
                        help="evaluate at most N clips, evenly spread over the (sorted) selection")
    parser.add_argument("--max-seconds", type=float, default=None, metavar="S",
                        help="evaluate only the first S seconds of each clip")
    parser.add_argument("--detector", choices=["auto", "dlib", "face-alignment"], default="auto",
                        help="face detector for videos without a <clip>.landmarks.npz")
    frames = parser.add_argument_group("renderers (--frames)")
    frames.add_argument("--frames", action="store_true",
                        help="evaluate the renderers by self-reenactment instead of the landmark animation")
    frames.add_argument("--translator", type=Path, default=None, metavar="DIR",
                        help="a saved mouth-translator folder (default: the --weights set's mouth_translator)")
    frames.add_argument("--frames-per-clip", type=int, default=None, metavar="N",
                        help="frames compared per clip, evenly spaced (default 24)")
    parser.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    import math

    from makeittalk.errors import MakeItTalkError
    from makeittalk.evaluation.runner import discover_clips, format_table, report_json, run_evaluation
    from makeittalk.fileio import atomic_output, check_output_path

    if args.max_seconds is not None and not (math.isfinite(args.max_seconds) and args.max_seconds > 0):
        raise MakeItTalkError(f"--max-seconds must be a number above 0, got {args.max_seconds:g}")
    if not args.frames and (args.translator is not None or args.frames_per_clip is not None):
        raise MakeItTalkError("--translator and --frames-per-clip only apply to renderer evaluation; add --frames")
    if args.json is not None:
        check_output_path(args.json, overwrite=args.overwrite, suffixes=(".json",))
    if args.frames:
        return _run_frames(args)
    clips = _at_most(discover_clips(args.clips_dir, stems=args.clips, split_from=args.split_from), args.max_clips)
    eprint(f"evaluating {len(clips)} clip(s) with weights {args.weights!r}")
    report = run_evaluation(clips, weights=args.weights, device=args.device, max_seconds=args.max_seconds,
                            detector=args.detector, log=eprint)
    print(format_table(report, means_only=args.summary), flush=True)
    if args.json is not None:
        with atomic_output(args.json, overwrite=args.overwrite, suffixes=(".json",)) as partial:
            partial.write_text(report_json(report), encoding="utf-8")
        eprint(f"report -> {args.json}")
    return 0


def _load_translator(args: argparse.Namespace):
    """(translator or None, where it came from, why there is none)."""
    from makeittalk.errors import MissingStageError
    from makeittalk.models.mouth_translator import MouthTranslator
    from makeittalk.weights import load_network

    if args.translator is not None:
        return MouthTranslator.from_pretrained(args.translator, args.device), str(args.translator), None
    try:
        translator = load_network("mouth_translator", args.weights, args.device)
    except MissingStageError:
        return None, None, (f"--weights {args.weights} has no mouth_translator network; pass --translator DIR "
                            f"(a saved mouth-translator folder) to score it too")
    return translator, f"weights:{args.weights}", None


def _run_frames(args: argparse.Namespace) -> int:
    from makeittalk.errors import MakeItTalkError
    from makeittalk.evaluation.reenactment import DEFAULT_FRAMES_PER_CLIP, format_table, run_reenactment
    from makeittalk.evaluation.runner import discover_clips
    from makeittalk.fileio import atomic_output

    per_clip = DEFAULT_FRAMES_PER_CLIP if args.frames_per_clip is None else args.frames_per_clip
    if per_clip < 1:
        raise MakeItTalkError(f"--frames-per-clip must be at least 1, got {per_clip}")
    clips = _at_most(discover_clips(args.clips_dir, stems=args.clips, split_from=args.split_from), args.max_clips)
    translator, source, missing = _load_translator(args)
    if missing:
        eprint(f"evaluating the warp renderer only: {missing}")
    eprint(f"self-reenactment of {len(clips)} clip(s), up to {per_clip} frames each"
           + (f", mouth translator {source}" if source else ""))
    report = run_reenactment(clips, translator, translator_source=source, frames_per_clip=per_clip,
                             max_seconds=args.max_seconds, detector=args.detector, log=eprint)
    print(format_table(report), flush=True)
    if args.json is not None:
        with atomic_output(args.json, overwrite=args.overwrite, suffixes=(".json",)) as partial:
            partial.write_text(report.to_json(), encoding="utf-8")
        eprint(f"report -> {args.json}")
    return 0


def _at_most(clips: list, limit: int | None) -> list:
    from makeittalk.errors import MakeItTalkError

    if limit is None:
        return clips
    if limit < 1:
        raise MakeItTalkError(f"--max-clips must be at least 1, got {limit}")
    if len(clips) <= limit:
        return clips
    step = len(clips) / limit
    return [clips[int(i * step)] for i in range(limit)]
