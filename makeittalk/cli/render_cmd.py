"""`makeittalk render`: portrait + speech -> talking-head video (one job or a batch manifest)."""

from __future__ import annotations

import argparse
import math

from makeittalk.cli.common import add_command, eprint
from makeittalk.cli.text_input import TEXT_HELP, add_text_arguments, check_text_arguments, synthesize_from_args

DESCRIPTION = """
Render a talking-head video from a portrait and speech.

PORTRAIT is an image of any size (photo, painting, cartoon) or a puppet folder made by
'makeittalk puppet create'. The face is found (or read from --face-landmarks), the speech
drives 68 landmarks, and frames are rendered by one of two renderers:

  warp        the GLSL warp renderer: animates any image at full resolution (cartoons,
              paintings, photos); needs no image network
  translator  an image network for photos. The default set's mouth translator redraws
              only the mouth of the warp renderer's frame (lips, teeth, mouth interior),
              from the frame's landmarks and the portrait's own mouth, and blends it in;
              every other pixel is the warp's. The original's full-face translator
              (--weights original) works on a 256x256 aligned face pasted back with a
              feathered seam
  auto        translator for photos when the weight set has one, warp otherwise (default;
              the choice is printed)

The video keeps the portrait's framing and resolution (--size scales it; sides are made
even). Output: H.264 (yuv420p) + AAC in .mp4, or --format webm: VP9 with alpha + Opus (for
transparent cartoon puppets). Frame i shows the landmarks for time i/FPS; the video lasts
as long as the audio, within one frame. The output appears only when complete.

--batch MANIFEST renders one video per row of a .csv (header: portrait,audio,output and
optional columns renderer, fps, seed, still, pose_scale, lip_scale, blink, no_blink,
blink_rate, background, size, format, face_landmarks, save_landmarks, weights, detector) or
.jsonl file (one object per line, same keys). Relative paths are relative to the manifest.
Options given here are the defaults for every row. Rows whose output exists are skipped
unless --overwrite; --shard I/N runs every N-th row starting at row I (1-based); a failing
row is reported and the batch goes on; a summary table is printed at the end. Exit codes:
0 done, 2 bad input (one-line error), 3 some batch jobs failed.

--export FORMAT:OUT (repeatable) also writes the motion of the rendered frames for animation
tools: rhubarb-tsv, rhubarb-json, rhubarb-xml, moho-dat, arkit-csv, landmarks-json,
landmarks-npy (see 'makeittalk export --help').
""" + TEXT_HELP

EXIT_JOBS_FAILED = 3


def _number(text: str, *, positive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise argparse.ArgumentTypeError(f"expected a finite number {'> 0' if positive else '>= 0'}, got {text}")
    return value


def _positive(text: str) -> float:
    return _number(text, positive=True)


def _non_negative(text: str) -> float:
    return _number(text, positive=False)


def _batch_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("expected at least 1")
    return value


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "render",
        summary="Render a talking-head video from a portrait and speech.",
        description=DESCRIPTION,
        examples=[
            "makeittalk render face.jpg speech.wav -o talking.mp4",
            "makeittalk render face.jpg speech.wav -o lively.mp4 --lip-scale 1.5 --pose-scale 2",
            "makeittalk render face.jpg speech.wav -o talking.mp4 --weights original   # after weights import-original",
            "makeittalk render puppets/toon speech.mp3 -o toon.mp4 --background '#204060'",
            "makeittalk render cartoon.png speech.wav -o toon.webm --renderer warp --format webm",
            "makeittalk render face.jpg speech.wav -o small.mp4 --size 512 --fps 30 --still --save-landmarks face.json",
            "makeittalk render face.png --text 'Hello world' -o hi.mp4",
            "makeittalk render face.png --text-file lines.txt --voice fr -o bonjour.mp4 --save-audio bonjour.wav",
            "makeittalk render toon.png speech.wav -o toon.mp4 --export rhubarb-tsv:cues.tsv --export arkit-csv:face.csv",
            "makeittalk render --batch jobs.csv --shard 1/2 --json-progress",
            "makeittalk render --batch jobs.csv --engine ray --workers 4",
            "makeittalk render --batch jobs.csv --engine ray --address auto --gpus-per-worker 0.5",
        ],
    )
    parser.add_argument("portrait", metavar="PORTRAIT", nargs="?",
                        help="portrait image (any size; PNG keeps transparency) or a puppet folder")
    parser.add_argument("audio", metavar="AUDIO", nargs="?",
                        help="speech: wav, flac, ogg, mp3, m4a or a video's audio track")
    parser.add_argument("--output", "-o", metavar="OUT", help="video to write (.mp4, or .webm with --format webm)")
    parser.add_argument("--renderer", choices=("auto", "translator", "warp"), default=None,
                        help="auto (default): translator for photos when the weights have one, else warp")
    parser.add_argument("--fps", type=_positive, default=None, help="frames per second (default 25)")
    parser.add_argument("--seed", type=int, default=None, help="blink seed (default 0)")
    parser.add_argument("--still", action="store_true", default=None, help="no head motion; lips and blinks stay")
    parser.add_argument("--pose-scale", type=_non_negative, default=None, metavar="S",
                        help="head-motion amount, 1 = the weight set's (default 1)")
    parser.add_argument("--lip-scale", type=_non_negative, default=None, metavar="S",
                        help="lip-motion amount, 1 = the weight set's (default 1)")
    parser.add_argument("--no-blink", action="store_true", default=None, help="no blinks")
    parser.add_argument("--blink-rate", type=_non_negative, default=None, metavar="PER_MIN",
                        help="average blinks per minute (default 30)")
    parser.add_argument("--background", metavar="IMAGE|COLOR", default=None,
                        help="what shows through transparent parts (cartoon puppets): an image or a colour "
                             "(#rrggbb, white, black...); default white for mp4, transparent for webm")
    parser.add_argument("--size", metavar="WxH|N", default=None,
                        help="output size: WIDTHxHEIGHT, or N for the longer side (default: the portrait's size)")
    parser.add_argument("--format", choices=("mp4", "webm"), default=None, dest="video_format",
                        help="mp4 (H.264 + AAC, default) or webm (VP9 with alpha + Opus); default from OUT's suffix")
    parser.add_argument("--save-landmarks", metavar="FILE.json|.npy", default=None,
                        help="also write the landmarks (the 'makeittalk landmarks' format)")
    parser.add_argument("--export", metavar="FORMAT:OUT", action="append", default=[], dest="exports",
                        help="also write the motion as FORMAT (rhubarb-tsv, rhubarb-json, rhubarb-xml, moho-dat, "
                             "arkit-csv, landmarks-json, landmarks-npy) to OUT; repeatable")
    parser.add_argument("--extended-shapes", metavar="LETTERS", default=None,
                        help="with --export rhubarb-*/moho-dat: Rhubarb's extended shapes to use (default GHX)")
    parser.add_argument("--dat-frame-rate", type=_positive, default=None, metavar="FPS",
                        help="with --export moho-dat: frame rate of the switch keys, 24-100 (default 24)")
    parser.add_argument("--dat-preston-blair", action="store_true", help="with --export moho-dat: Preston Blair names")
    parser.add_argument("--face-landmarks", metavar="FILE", default=None,
                        help="68 face points in portrait pixels (JSON, 68 lines of 'x y [z]' or .npy); skips detection")
    parser.add_argument("--detector", default=None, help="face detector: auto, face-alignment or dlib (default auto)")
    parser.add_argument("--weights", default="default", metavar="NAME",
                        help="weight set name or folder (default: the shipped default; see 'makeittalk weights list')")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--batch-size", type=_batch_size, default=None, metavar="N",
                        help="translator frames per network call (default 8 on CPUs, 16 on GPUs)")
    parser.add_argument("--precision", choices=("auto", "float32", "bfloat16", "float16"), default="auto",
                        help="translator arithmetic: auto (default) uses bfloat16 where the CPU or GPU computes it "
                             "natively (about 3x faster on CPUs with AMX), else float32")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar; print nothing but errors")
    parser.add_argument("--json-progress", action="store_true",
                        help="machine-readable progress: one JSON object per line on stderr")
    parser.add_argument("--batch", metavar="MANIFEST", default=None,
                        help="render every row of a .csv or .jsonl manifest (see above)")
    parser.add_argument("--shard", metavar="I/N", default=None,
                        help="with --batch: run only shard I of N (rows I, I+N, I+2N, ...; 1-based)")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="with --batch: local (default, this process) or ray (actors on a Ray cluster; "
                             "needs pip install 'makeittalk[ray]')")
    parser.add_argument("--address", default=None, metavar="ADDR",
                        help="with --engine ray: the cluster to join (e.g. auto or ray://head:10001); "
                             "default: start a local Ray instance")
    parser.add_argument("--workers", type=_batch_size, default=2, metavar="N",
                        help="with --engine ray: worker actors, each loading the networks once (default 2)")
    parser.add_argument("--gpus-per-worker", type=_non_negative, default=0.0, metavar="G",
                        help="with --engine ray: GPUs each worker reserves (default 0)")
    add_text_arguments(parser)
    parser.set_defaults(func=run)


_OPTION_DESTS = {
    "renderer": "renderer", "fps": "fps", "seed": "seed", "still": "still", "pose_scale": "pose_scale",
    "lip_scale": "lip_scale", "no_blink": "no_blink", "blink_rate": "blink_rate", "background": "background",
    "size": "size", "video_format": "format", "face_landmarks": "face_landmarks",
    "save_landmarks": "save_landmarks", "detector": "detector",
}


def _options(args: argparse.Namespace) -> dict:
    """The options the user gave (manifest column names), without the ones left unset."""
    return {column: getattr(args, dest) for dest, column in _OPTION_DESTS.items() if getattr(args, dest) is not None}


def run(args: argparse.Namespace) -> int:
    from makeittalk.errors import MakeItTalkError

    if args.batch is not None:
        if args.portrait or args.audio or args.output:
            raise MakeItTalkError("--batch takes its portraits, audio and outputs from the manifest; "
                                  "drop PORTRAIT, AUDIO and -o")
        for option in ("save_landmarks", "face_landmarks"):
            if getattr(args, option) is not None:
                raise MakeItTalkError(f"--{option.replace('_', '-')} is per video: put it in a manifest column instead")
        for option in ("text", "text_file", "save_audio"):
            if getattr(args, option) is not None:
                raise MakeItTalkError(f"--{option.replace('_', '-')} is per video; batch rows take their audio files")
        if args.exports:
            raise MakeItTalkError("--export is per video; render the rows, then run 'makeittalk export' on their audio")
        return _run_batch(args)
    if args.shard is not None:
        raise MakeItTalkError("--shard only applies to --batch MANIFEST")
    if args.engine != "local" or args.address is not None:
        raise MakeItTalkError("--engine and --address only apply to --batch MANIFEST")
    check_text_arguments(args)
    from makeittalk.cli.text_input import text_given

    missing = [name for name, value in (("PORTRAIT", args.portrait), ("AUDIO", args.audio or text_given(args)),
                                        ("-o OUT", args.output)) if not value]
    if missing:
        raise MakeItTalkError(f"missing {', '.join(missing)}: use 'makeittalk render PORTRAIT AUDIO -o OUT.mp4' "
                              "(or --batch MANIFEST)")
    return _run_single(args)


def _render_kwargs(options: dict, args: argparse.Namespace) -> dict:
    from makeittalk.pipelines.batch import BatchJob, render_options

    _, kwargs = render_options({**options, "weights": args.weights}, BatchJob(0, 0, None, None, None))
    kwargs["batch_size"] = args.batch_size
    kwargs["precision"] = args.precision
    return kwargs


def _run_single(args: argparse.Namespace) -> int:
    from pathlib import Path

    from makeittalk.face.prefetch import cancel_prefetches, start_face_prefetch
    from makeittalk.pipelines.preflight import check_inputs
    from makeittalk.pipelines.talking_head import check_render_outputs, _input_paths, _video_format

    output = Path(args.output)
    # Every bad input at once, before anything heavy is imported or loaded.
    check_inputs(portrait=args.portrait, audio=args.audio, face_landmarks=args.face_landmarks,
                 background=args.background, weights=args.weights)
    kwargs = _render_kwargs(_options(args), args)
    # Fail before loading anything when the outputs cannot be written.
    fmt = _video_format(output, kwargs.get("video_format"))
    save = Path(kwargs["save_landmarks"]) if kwargs.get("save_landmarks") else None
    check_render_outputs(output, video_format=fmt, overwrite=args.overwrite, save_landmarks=save,
                         inputs=_input_paths(portrait=args.portrait, audio=args.audio,
                                             face_landmarks=kwargs.get("face_landmarks"),
                                             background=kwargs.get("background")))
    export_options = _export_options(args)
    if args.exports:
        from makeittalk.pipelines.talking_head import _export_specs

        _export_specs(args.exports, overwrite=args.overwrite, taken=[output, save],
                      inputs=_input_paths(portrait=args.portrait, audio=args.audio))
    say = (lambda *_: None) if args.quiet or args.json_progress else eprint
    if kwargs.get("face_landmarks") is None:
        start_face_prefetch(args.portrait, kwargs.get("detector", "auto"))  # on the core torch's import leaves idle
    try:
        return _render_single(args, kwargs, output, export_options, say)
    finally:
        cancel_prefetches()


def _render_single(args: argparse.Namespace, kwargs: dict, output, export_options: dict, say) -> int:
    from pathlib import Path

    from makeittalk.audio import load_audio
    from makeittalk.pipelines.progress import make_progress
    from makeittalk.pipelines.talking_head import TalkingHead

    speech = synthesize_from_args(args, say)
    # Decoding errors too come before the networks load. A saved synthesis is passed by its path,
    # which is what Rhubarb exports name as their sound file.
    if speech is None:
        audio = load_audio(args.audio)
    else:
        audio = Path(args.save_audio) if args.save_audio else speech.waveform
    progress = make_progress(quiet=args.quiet, json_progress=args.json_progress)
    try:
        head = TalkingHead.from_pretrained(args.weights, device=args.device, renderer=kwargs.get("renderer", "auto"))
        head.render(args.portrait, audio, output, overwrite=args.overwrite,
                    progress=progress, exports=args.exports, export_options=export_options, **kwargs)
    finally:
        if progress is not None:
            progress.close()
    return 0


def _export_options(args: argparse.Namespace) -> dict:
    from makeittalk.errors import MakeItTalkError
    from makeittalk.exports.mouth_cues import parse_extended_shapes
    from makeittalk.exports.rhubarb import check_dat_frame_rate

    options = {}
    if not args.exports and (args.extended_shapes is not None or args.dat_frame_rate is not None
                             or args.dat_preston_blair):
        raise MakeItTalkError("--extended-shapes and the --dat-* options apply to --export; add --export FORMAT:OUT")
    try:
        if args.extended_shapes is not None:
            options["extended_shapes"] = parse_extended_shapes(args.extended_shapes)
        if args.dat_frame_rate is not None:
            options["dat_frame_rate"] = check_dat_frame_rate(args.dat_frame_rate)
    except ValueError as exc:
        raise MakeItTalkError(str(exc)) from None
    if args.dat_preston_blair:
        options["dat_preston_blair"] = True
    return options


def _run_batch(args: argparse.Namespace) -> int:
    import sys

    from makeittalk.pipelines.batch import parse_shard, read_manifest, run_batch, select_shard, summary_table
    from makeittalk.pipelines.progress import ConsoleProgress, JsonProgress
    from makeittalk.pipelines.talking_head import TalkingHead

    shard = parse_shard(args.shard)
    jobs = select_shard(read_manifest(args.batch), shard)
    defaults = _options(args)
    defaults.update(weights=args.weights, batch_size=args.batch_size, precision=args.precision)
    heads: dict[str, TalkingHead] = {}

    def head_for(weights: str) -> TalkingHead:
        if weights not in heads:
            heads[weights] = TalkingHead.from_pretrained(weights, device=args.device)
        return heads[weights]

    total = len(jobs)
    position = {job.index: k for k, job in enumerate(jobs, 1)}

    def progress_for(job):
        if args.json_progress:
            return JsonProgress(job=position[job.index], jobs=total, line=job.line, output=str(job.output))
        if args.quiet:
            return None
        return ConsoleProgress(prefix=f"[{position[job.index]}/{total}] ")

    def on_result(result) -> None:
        if args.json_progress:
            import json

            sys.stderr.write(json.dumps({"job": position[result.job.index], "jobs": total, "line": result.job.line,
                                         "output": str(result.job.output), "status": result.status,
                                         "seconds": round(result.seconds, 2), "message": result.message}) + "\n")
            sys.stderr.flush()
        elif not args.quiet:
            eprint(f"[{position[result.job.index]}/{total}] {result.status}: {result.job.label}"
                   f"{' - ' + result.message if result.message else ''}")

    results: list = []

    def record(result) -> None:
        results.append(result)
        on_result(result)

    try:
        if args.engine == "ray":
            from makeittalk.pipelines.ray_batch import run_batch_ray

            run_batch_ray(jobs, defaults=defaults, overwrite=args.overwrite, address=args.address,
                          workers=args.workers, gpus_per_worker=args.gpus_per_worker, device=args.device,
                          progress_for=progress_for, on_result=record)
        else:
            run_batch(jobs, head_for=head_for, defaults=defaults, overwrite=args.overwrite,
                      progress_for=progress_for, on_result=record)
    except KeyboardInterrupt:
        if not args.quiet:
            eprint(summary_table(results))
        raise
    if not args.quiet or any(r.status == "failed" for r in results):
        print(summary_table(results), flush=True)
    return EXIT_JOBS_FAILED if any(r.status == "failed" for r in results) else 0
