"""`makeittalk export`: speech -> mouth cues, blendshape curves or landmarks for animators' tools."""

from __future__ import annotations

import argparse

from makeittalk.cli.common import add_command, eprint
from makeittalk.cli.render_cmd import _non_negative, _positive
from makeittalk.cli.text_input import TEXT_HELP, add_text_arguments, check_text_arguments, synthesize_from_args

DESCRIPTION = """
Predict the facial motion of speech and write it for an animation tool.

Formats (--format):
  rhubarb-tsv, rhubarb-json, rhubarb-xml   Rhubarb Lip Sync's mouth cues (shapes A-F, plus the
                                           extended G, H, X chosen with --extended-shapes)
  moho-dat                                 Moho / OpenToonz switch data (--dat-frame-rate,
                                           --dat-preston-blair for MBP/etc/E/AI/O/U/FV/L/rest)
  arkit-csv                                ARKit blendshape weights per frame in Live Link Face's
                                           CSV layout (Blender, Unreal, Unity importers read it)
  landmarks-json, landmarks-npy            the 68-point landmarks ('makeittalk landmarks')

Mouth shapes and blendshape weights are measured on the predicted landmarks (lip closure,
opening, width, rounding, lower lip against the upper teeth); the rules are in README.md,
"Exports". Without --image the standard face is animated; with it, the portrait's face (its
proportions set what reads as open or rounded). Cue files are made from landmarks at 100 fps
(Rhubarb's centisecond grid), ARKit curves at 60 fps unless --fps says otherwise.
Files are written whole or not at all; an existing file is replaced only with --overwrite.
""" + TEXT_HELP


def register(subparsers) -> None:
    from makeittalk.exports import FORMATS

    parser = add_command(
        subparsers,
        "export",
        summary="Write mouth cues (Rhubarb, Moho), ARKit blendshape curves or landmarks for speech.",
        description=DESCRIPTION,
        examples=[
            "makeittalk export speech.wav --format rhubarb-tsv -o cues.tsv",
            "makeittalk export speech.wav --format rhubarb-json -o cues.json --extended-shapes GX",
            "makeittalk export speech.wav --format moho-dat -o mouth.dat --dat-frame-rate 30 --dat-preston-blair",
            "makeittalk export speech.wav --image face.png --format arkit-csv -o face.csv",
            "makeittalk export --text 'Hello world' --voice de --format rhubarb-xml -o hallo.xml --save-audio hallo.wav",
            "makeittalk render face.png speech.wav -o talk.mp4 --export arkit-csv:face.csv --export rhubarb-tsv:cues.tsv",
        ],
    )
    parser.add_argument("audio", metavar="AUDIO", nargs="?", help="speech: wav, flac, ogg, mp3, m4a or a video's audio")
    parser.add_argument("--format", "-f", required=True, choices=FORMATS, dest="export_format",
                        help="what to write (see above)")
    parser.add_argument("--output", "-o", required=True, metavar="OUT", help="the file to write")
    parser.add_argument("--image", "-i", metavar="PORTRAIT", default=None,
                        help="the portrait whose face moves (default: the standard face)")
    parser.add_argument("--fps", type=_positive, default=None,
                        help="landmark rate (default: 100 for cue files, 60 for arkit-csv, 25 for landmarks)")
    parser.add_argument("--extended-shapes", metavar="LETTERS", default="GHX",
                        help="which of Rhubarb's extended shapes G, H, X to use (default GHX; '' for A-F only)")
    parser.add_argument("--dat-frame-rate", type=_positive, default=24.0, metavar="FPS",
                        help="moho-dat: frame rate of the switch keys, 24-100 (default 24)")
    parser.add_argument("--dat-preston-blair", action="store_true",
                        help="moho-dat: Preston Blair mouth names (MBP, etc, E, AI, O, U, FV, L, rest)")
    parser.add_argument("--seed", type=int, default=0, help="blink seed (default 0)")
    parser.add_argument("--still", action="store_true", help="no head motion")
    parser.add_argument("--lip-scale", type=_non_negative, default=1.0, metavar="S", help="lip-motion amount (default 1)")
    parser.add_argument("--pose-scale", type=_non_negative, default=1.0, metavar="S",
                        help="head-motion amount (default 1)")
    parser.add_argument("--no-blink", action="store_true", help="no blinks")
    parser.add_argument("--face-landmarks", metavar="FILE", default=None,
                        help="68 face points of --image in its pixels (skips detection)")
    parser.add_argument("--detector", default="auto", help="face detector: auto, face-alignment or dlib")
    parser.add_argument("--weights", default="default", metavar="NAME", help="weight set name or folder")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT (and --save-audio) if they exist")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress; print nothing but errors")
    parser.add_argument("--json-progress", action="store_true", help="one JSON progress object per line on stderr")
    add_text_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from makeittalk.errors import MakeItTalkError
    from makeittalk.exports import check_export_output
    from makeittalk.exports.mouth_cues import parse_extended_shapes
    from makeittalk.exports.rhubarb import check_dat_frame_rate
    from makeittalk.pipelines.preflight import check_inputs

    say = (lambda *_: None) if args.quiet or args.json_progress else eprint
    check_text_arguments(args)
    if not args.audio and args.text is None and not args.text_file:
        raise MakeItTalkError("missing AUDIO: use 'makeittalk export AUDIO --format F -o OUT' (or --text \"...\")")
    if args.face_landmarks and not args.image:
        raise MakeItTalkError("--face-landmarks gives the points of --image; add --image PORTRAIT")
    try:
        parse_extended_shapes(args.extended_shapes)
        if args.export_format == "moho-dat":
            check_dat_frame_rate(args.dat_frame_rate)
    except ValueError as exc:
        raise MakeItTalkError(str(exc)) from None
    output = Path(args.output)
    check_inputs(portrait=args.image, audio=args.audio, face_landmarks=args.face_landmarks, weights=args.weights)
    check_export_output(args.export_format, output, overwrite=args.overwrite)

    from makeittalk.pipelines.progress import make_progress
    from makeittalk.pipelines.talking_head import TalkingHead

    speech = synthesize_from_args(args, say)
    # A saved synthesis is the sound file Rhubarb's json/xml name; otherwise the in-memory speech.
    audio = args.audio if speech is None else (Path(args.save_audio) if args.save_audio else speech.waveform)
    progress = make_progress(quiet=args.quiet, json_progress=args.json_progress)
    try:
        head = TalkingHead.from_pretrained(args.weights, device=args.device, renderer="warp")
        head.export(audio, args.export_format, output, portrait=args.image, fps=args.fps, seed=args.seed,
                    still=args.still, lip_scale=args.lip_scale, pose_scale=args.pose_scale, blink=not args.no_blink,
                    face_landmarks=args.face_landmarks, detector=args.detector, overwrite=args.overwrite,
                    extended_shapes=args.extended_shapes, dat_frame_rate=args.dat_frame_rate,
                    dat_preston_blair=args.dat_preston_blair, progress=progress)
    finally:
        if progress is not None and hasattr(progress, "close"):
            progress.close()
    return 0
