"""`makeittalk landmarks`: speech + portrait → 68-point landmarks over time, as JSON or .npy."""

from __future__ import annotations

import argparse

from makeittalk.cli.common import add_command, eprint
from makeittalk.cli.text_input import TEXT_HELP, add_text_arguments, check_text_arguments, synthesize_from_args

DESCRIPTION = """
Predict 68-point facial landmarks for speech and a portrait, and export them.

The output holds one frame per 1/FPS seconds from the start of the audio, covering the whole
audio. Landmarks are in the portrait's pixels (x right, y down); z is a relative depth in
normalised face units. A .json output is self-describing (fps, num_frames, image_size,
landmarks, audio_seconds, weights, version); a .npy output is the bare
(num_frames, 68, 3) float64 array.

--compat original reproduces the original MakeItTalk release step for step (it stops about
0.29 s before the end of the audio and needs at least 0.45 s); with --fps 62.5 its frames are
exactly the original's frames. The face is found with the face detector unless
--face-landmarks gives its 68 points (JSON, 68 lines of 'x y [z]' or a .npy array, in portrait pixels).
The original's fixed pixel tweaks (slightly thinner lips, wider eyes) are applied to the
face either way.
""" + TEXT_HELP


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number > 0")
    return value


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "landmarks",
        summary="Predict 68-point facial landmarks for speech and a portrait, and export them.",
        description=DESCRIPTION,
        examples=[
            "makeittalk landmarks speech.wav --image face.png -o face.json",
            "makeittalk landmarks speech.mp3 --image face.jpg -o face.npy --fps 30 --still",
            "makeittalk landmarks speech.wav --image face.png -o face.json --face-landmarks face_points.txt",
            "makeittalk landmarks speech.wav --image face.png -o orig.json --weights original --compat original --fps 62.5",
            "makeittalk landmarks --text 'Bob bought a map' --image face.png -o bob.json --save-audio bob.wav",
        ],
    )
    parser.add_argument("audio", metavar="AUDIO", nargs="?",
                        help="speech: wav, flac, ogg, mp3, m4a or a video's audio track (or --text)")
    parser.add_argument("--image", "-i", required=True, metavar="PORTRAIT", help="the portrait the landmarks belong to")
    parser.add_argument("--output", "-o", required=True, metavar="OUT", help="output file, .json or .npy")
    parser.add_argument("--fps", type=_positive, default=25.0, help="frames per second of the output (default 25)")
    parser.add_argument("--seed", type=int, default=0, help="blink seed: the same seed gives the same output (default 0)")
    parser.add_argument("--still", action="store_true", help="no head motion; lips and blinks stay")
    parser.add_argument("--pose-scale", type=_non_negative, default=1.0, metavar="S",
                        help="head-motion amount, 1 = the original's (default 1)")
    parser.add_argument("--lip-scale", type=_non_negative, default=1.0, metavar="S",
                        help="lip-motion amount, 1 = the original's (default 1)")
    parser.add_argument("--no-blink", action="store_true", help="no blinks")
    parser.add_argument("--blink-rate", type=_non_negative, default=30.0, metavar="PER_MIN",
                        help="average blinks per minute (default 30; ignored with --compat original)")
    parser.add_argument("--weights", default="default", metavar="NAME",
                        help="weight set name or folder (default: the shipped default; see 'makeittalk weights list')")
    parser.add_argument("--compat", choices=["original"], default=None,
                        help="reproduce the original release's chain step for step")
    parser.add_argument("--face-landmarks", metavar="FILE",
                        help="68 face points in portrait pixels (JSON, 68 lines of 'x y [z]' or .npy); skips detection")
    parser.add_argument("--detector", default="auto", help="face detector: auto, face-alignment or dlib (default auto)")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress; print nothing but errors")
    parser.add_argument("--json-progress", action="store_true",
                        help="machine-readable progress: one JSON object per line on stderr")
    add_text_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from makeittalk.fileio import check_output_path

    started = time.perf_counter()
    # With --json-progress the JSON lines are the only output.
    say = (lambda *_: None) if args.quiet or args.json_progress else eprint
    from makeittalk.pipelines.preflight import check_inputs

    from makeittalk.errors import MakeItTalkError

    check_text_arguments(args)
    if not args.audio and args.text is None and not args.text_file:
        raise MakeItTalkError("missing AUDIO: use 'makeittalk landmarks AUDIO --image PORTRAIT -o OUT' (or --text)")
    output = Path(args.output)
    # Every bad input at once, and an unwritable output, before the slow part.
    check_inputs(portrait=args.image, audio=args.audio, face_landmarks=args.face_landmarks, weights=args.weights)
    check_output_path(output, overwrite=args.overwrite, suffixes=(".json", ".npy"))

    speech = synthesize_from_args(args, say)
    audio = args.audio if speech is None else speech.waveform

    from makeittalk.animation.engine import LandmarkAnimator
    from makeittalk.face import detect_landmarks, load_image, load_landmarks_file
    from makeittalk.pipelines.progress import ProgressTracker, make_progress

    progress = make_progress(quiet=args.quiet, json_progress=args.json_progress)
    tracker = ProgressTracker(progress)
    try:
        # Weights first: a missing weight set is the most likely problem and costs nothing to find.
        animator = LandmarkAnimator.from_pretrained(args.weights, device=args.device)
        tracker.start("face")
        image = load_image(args.image, "RGB")
        height, width = image.shape[:2]
        if args.face_landmarks:
            points = load_landmarks_file(args.face_landmarks)
            tracker.finish(f"68 points from {args.face_landmarks}")
        else:
            detection = detect_landmarks(image, args.detector, name=str(args.image))
            points = detection.landmarks
            tracker.finish(f"found by {detection.detector}")
        tracker.start("audio features")
        features = animator.features(audio, progress=tracker.fraction)
        tracker.finish(f"{features.seconds:.1f} s of audio")
        tracker.start("landmarks")
        sequence = animator.animate(
            features,
            points,
            fps=args.fps,
            seed=args.seed,
            still=args.still,
            pose_scale=args.pose_scale,
            lip_scale=args.lip_scale,
            blink=not args.no_blink,
            blink_rate=args.blink_rate,
            compat=args.compat,
            image_size=(width, height),
            progress=tracker.fraction,
        )
        tracker.finish(f"{sequence.num_frames} frames at {sequence.fps:g} fps")
        tracker.done()
    finally:
        if progress is not None and hasattr(progress, "close"):
            progress.close()
    sequence.save(output, overwrite=args.overwrite)
    say(
        f"wrote {output}: {sequence.num_frames} frames at {sequence.fps:g} fps for "
        f"{sequence.audio_seconds:.2f} s of audio (weights {sequence.weights}"
        f"{', compat original' if args.compat else ''}) in {time.perf_counter() - started:.1f} s"
    )
    return 0
