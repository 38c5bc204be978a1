"""`makeittalk live`: a portrait that talks as the audio comes in (a file at wall-clock pace, or a microphone)."""

from __future__ import annotations

import argparse

from makeittalk.cli.common import add_command, eprint
from makeittalk.cli.render_cmd import _non_negative, _positive
from makeittalk.cli.text_input import TEXT_HELP, add_text_arguments, check_text_arguments, synthesize_from_args

DESCRIPTION = """
Animate PORTRAIT from audio as it arrives, frame by frame, on the CPU.

The landmarks are computed on rolling windows of the audio with the same networks as
'makeittalk render' (each frame waits for 176 ms of audio after it, plus 32 ms for the
smoothing) and every frame is drawn by the warp renderer as soon as it can be.

  --input AUDIO       read a file (or --text); with --realtime it is fed at wall-clock pace,
                      20 ms at a time, as a sound card would, which is how latency is measured
  --mic               the default microphone (needs 'pip install sounddevice' and PortAudio)
  --output OUT.mp4    a fragmented mp4 (H.264 + AAC) that players can open while it grows
  --output -          a y4m stream on stdout, e.g. | ffplay -  or  | ffmpeg -i - ...
  --stats S.json      latency_ms {p50, p95, max} from a sample's arrival to the emission of the
                      first frame showing it, frames, dropped_frames, fps, peak_rss_mb

With --realtime, a frame that cannot be drawn within 0.5 s of its audio is dropped (the last
image is repeated) so that the stream catches up. Without --realtime the file is processed as
fast as possible (long files, tests). Ctrl+C stops cleanly; an mp4 is playable up to there.
""" + TEXT_HELP


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "live",
        summary="Animate a portrait from audio as it arrives (file at wall-clock pace, or microphone).",
        description=DESCRIPTION,
        examples=[
            "makeittalk live face.png --input speech.wav --realtime --output live.mp4 --stats stats.json",
            "makeittalk live face.png --input speech.wav --realtime --output - | ffplay -i -",
            "makeittalk live face.png --mic --output - | ffmpeg -i - -f v4l2 /dev/video10",
            "makeittalk live face.png --text 'Hello, I am live.' --realtime --stats s.json",
            "makeittalk live face.png --input hour.wav --stats long.json   # as fast as possible",
        ],
    )
    parser.add_argument("portrait", metavar="PORTRAIT", help="portrait image or puppet folder")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--input", "-i", metavar="AUDIO", default=None, help="speech file to stream")
    source.add_argument("--mic", action="store_true", help="stream from the default microphone")
    parser.add_argument("--output", "-o", metavar="OUT.mp4|-", default=None,
                        help="fragmented mp4, or - for y4m on stdout (default: no video, only --stats)")
    parser.add_argument("--realtime", action="store_true", help="feed --input at wall-clock pace (measures latency)")
    parser.add_argument("--stats", metavar="S.json", default=None, help="write latency and frame statistics here")
    parser.add_argument("--fps", type=_positive, default=25.0, help="frames per second (default 25)")
    parser.add_argument("--size", metavar="WxH|N", default=None, help="output size (default: the portrait's)")
    parser.add_argument("--seed", type=int, default=0, help="blink and head-motion seed (default 0)")
    parser.add_argument("--still", action="store_true", help="no head motion")
    parser.add_argument("--pose-scale", type=_non_negative, default=1.0, metavar="S", help="head-motion amount")
    parser.add_argument("--lip-scale", type=_non_negative, default=1.0, metavar="S", help="lip-motion amount")
    parser.add_argument("--no-blink", action="store_true", help="no blinks")
    parser.add_argument("--face-landmarks", metavar="FILE", default=None, help="68 face points (skips detection)")
    parser.add_argument("--detector", default="auto", help="face detector: auto, face-alignment or dlib")
    parser.add_argument("--weights", default="default", metavar="NAME", help="weight set name or folder")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT and S.json if they exist")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    add_text_arguments(parser)
    parser.set_defaults(func=run)


def _microphone_chunks(seconds: float = 0.02):  # pragma: no cover - needs a sound card
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        from makeittalk.errors import MakeItTalkError

        raise MakeItTalkError(f"--mic needs the sounddevice package and PortAudio ({exc}); install them with "
                              "'pip install sounddevice' and 'sudo apt-get install libportaudio2', or use --input") from None
    import queue

    import numpy as np

    chunks: queue.Queue = queue.Queue()
    block = int(16000 * seconds)
    with sounddevice.InputStream(samplerate=16000, channels=1, dtype="int16", blocksize=block,
                                 callback=lambda data, *_: chunks.put(np.array(data[:, 0]))):
        while True:
            yield chunks.get()


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from makeittalk.errors import MakeItTalkError
    from makeittalk.fileio import check_output_path
    from makeittalk.pipelines.preflight import check_inputs

    say = (lambda *_: None) if args.quiet else eprint
    args.audio = args.input
    check_text_arguments(args, audio_name="--input")
    from makeittalk.cli.text_input import text_given

    if not (args.input or args.mic or text_given(args)):
        raise MakeItTalkError("give --input AUDIO, --mic or --text: 'makeittalk live PORTRAIT --input speech.wav --realtime'")
    if args.mic and text_given(args):
        raise MakeItTalkError("give --mic or --text, not both")
    if args.mic and not args.realtime:
        args.realtime = True  # a microphone is real time by nature
    to_stdout = args.output == "-"
    if args.output and not to_stdout:
        check_output_path(Path(args.output), overwrite=args.overwrite, suffixes=(".mp4",))
    if args.stats:
        check_output_path(Path(args.stats), overwrite=args.overwrite, suffixes=(".json",))
    check_inputs(portrait=args.portrait, audio=args.input, face_landmarks=args.face_landmarks, weights=args.weights)

    from makeittalk.pipelines.live import (FragmentedMp4Writer, LiveRun, Y4mWriter, decode_chunks, single_threaded,
                                           write_stats)

    single_threaded()
    from makeittalk.pipelines.talking_head import TalkingHead, output_size

    speech = synthesize_from_args(args, say)
    audio = None
    if not args.mic:
        # A file is decoded as it streams, so an hour costs the memory of a minute.
        audio = speech.waveform.samples if speech is not None else decode_chunks(args.input)
    head = TalkingHead.from_pretrained(args.weights, renderer="warp")
    prepared = head.prepare_portrait(args.portrait, face_landmarks=args.face_landmarks, detector=args.detector)
    size = output_size(prepared.size, args.size)
    writer = None
    if to_stdout:
        writer = Y4mWriter(sys.stdout.buffer, args.fps)
    elif args.output:
        writer = FragmentedMp4Writer(Path(args.output), args.fps, size, overwrite=args.overwrite)
    options = dict(seed=args.seed, still=args.still, pose_scale=args.pose_scale, lip_scale=args.lip_scale,
                   blink=not args.no_blink, face_landmarks=args.face_landmarks, detector=args.detector)
    live = LiveRun(head, args.portrait, writer=writer, fps=args.fps, size=args.size, options=options)
    say(f"live: {prepared.name} ({prepared.style}, {size[0]}x{size[1]} at {args.fps:g} fps), "
        f"{'microphone' if args.mic else ('real time' if args.realtime else 'as fast as possible')}")
    try:
        if args.mic:  # pragma: no cover - needs a sound card
            stats = live.run_source(_microphone_chunks())
        else:
            stats = live.run(audio, realtime=args.realtime)
    except KeyboardInterrupt:
        stats = live.stats
        say("live: stopped")
    summary = stats.summary()
    if args.stats:
        write_stats(Path(args.stats), summary, overwrite=args.overwrite)
    lat = summary["latency_ms"]
    say(f"live: {summary['frames']} frames, {summary['dropped_frames']} dropped, latency p50 {lat['p50']:.0f} ms, "
        f"p95 {lat['p95']:.0f} ms, max {lat['max']:.0f} ms, {summary['fps']:.1f} fps"
        + (f"; wrote {args.output}" if args.output and not to_stdout else ""))
    return 0
