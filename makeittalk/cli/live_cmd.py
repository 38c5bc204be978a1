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
  --mic               the default microphone (or --mic-device NAME); needs
                      'pip install "makeittalk[mic]"' and PortAudio (libportaudio2)
  --duration S        stop after S seconds of audio (default: the end of the input; Ctrl+C)
  --output OUT.mp4    a fragmented mp4 (H.264 + AAC) that players can open while it grows
  --output -          a y4m stream on stdout, e.g. | ffplay -  or  | ffmpeg -i - ...
  --stats S.json      latency_ms {p50, p95, max} from a sample's arrival to the emission of the
                      first frame showing it, frames, dropped_frames, fps, peak_rss_mb

With --realtime, a frame that cannot be drawn within 0.5 s of its audio is dropped (the last
image is repeated) so that the stream catches up. Without --realtime the file is processed as
fast as possible (long files, tests). Ctrl+C ends the stream as if the audio had ended: the
last frames are drawn, the mp4 is finished and the stats are written; a second Ctrl+C stops at
once (the fragmented mp4 still plays up to there).
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
            "makeittalk live face.png --mic --duration 30 --output take1.mp4 --stats take1.json",
            "makeittalk live face.png --text 'Hello, I am live.' --realtime --stats s.json",
            "makeittalk live face.png --input hour.wav --stats long.json   # as fast as possible",
        ],
    )
    parser.add_argument("portrait", metavar="PORTRAIT", help="portrait image or puppet folder")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--input", "-i", metavar="AUDIO", default=None, help="speech file to stream")
    source.add_argument("--mic", action="store_true", help="stream from the default microphone")
    parser.add_argument("--mic-device", metavar="NAME", default=None,
                        help="input device for --mic, a name or index as 'python -m sounddevice' lists them")
    parser.add_argument("--duration", type=_positive, default=None, metavar="S",
                        help="stop after S seconds of audio")
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


class _StopOnFirstInterrupt:
    """The first Ctrl+C ends the stream as if the audio had ended; the second stops at once."""

    def __init__(self, stop) -> None:
        self._stop = stop
        self._previous = None

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        import signal

        signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)
        self._stop()

    def __exit__(self, *exc) -> None:
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _until(chunks, stopped, max_seconds):
    """`chunks` (16 kHz samples) until `stopped` is set or `max_seconds` of audio have passed."""
    left = None if max_seconds is None else int(round(max_seconds * 16000))
    for chunk in chunks:
        if stopped.is_set():
            return
        if left is not None:
            chunk = chunk[:left]
            left -= len(chunk)
        yield chunk
        if left is not None and left <= 0:
            return


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
    if args.mic_device is not None and not args.mic:
        raise MakeItTalkError("--mic-device names a microphone: give --mic with it")
    if args.mic and not args.realtime:
        args.realtime = True  # a microphone is real time by nature
    to_stdout = args.output == "-"
    if args.output and not to_stdout:
        check_output_path(Path(args.output), overwrite=args.overwrite, suffixes=(".mp4",))
    if args.stats:
        check_output_path(Path(args.stats), overwrite=args.overwrite, suffixes=(".json",))
    check_inputs(portrait=args.portrait, audio=args.input, face_landmarks=args.face_landmarks, weights=args.weights)

    from makeittalk.pipelines.live import (CHUNK_SECONDS, FragmentedMp4Writer, LiveRun, Y4mWriter, decode_chunks, single_threaded,
                                           write_stats)

    single_threaded()
    from makeittalk.pipelines.talking_head import TalkingHead, output_size

    speech = synthesize_from_args(args, say)
    audio = microphone = None
    if args.mic:
        from makeittalk.audio.microphone import Microphone

        microphone = Microphone(args.mic_device, max_seconds=args.duration,
                                on_open=lambda mic: say(f"live: listening to {mic.device_name!r} at {mic.rate} Hz"))
    else:
        # A file is decoded as it streams, so an hour costs the memory of a minute.
        audio = speech.waveform.samples if speech is not None else decode_chunks(args.input)
        if speech is not None:
            step = int(CHUNK_SECONDS * 16000)
            audio = (audio[i:i + step] for i in range(0, len(audio), step))
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
    source = ("microphone" if microphone is not None
              else ('real time' if args.realtime else 'as fast as possible'))
    say(f"live: {prepared.name} ({prepared.style}, {size[0]}x{size[1]} at {args.fps:g} fps), {source}"
        + ("; Ctrl+C ends the stream" if args.mic and args.duration is None else ""))
    import threading

    stopped = threading.Event()

    def stop() -> None:
        stopped.set()
        if microphone is not None:
            microphone.stop()

    try:
        with _StopOnFirstInterrupt(stop):
            if microphone is not None:
                stats = live.run_source(microphone)
            else:
                stats = live.run(_until(audio, stopped, args.duration), realtime=args.realtime)
    except KeyboardInterrupt:
        stats = live.stats
        say("live: stopped at once (second Ctrl+C)")
    summary = stats.summary()
    if args.stats:
        write_stats(Path(args.stats), summary, overwrite=args.overwrite)
    lat = summary["latency_ms"]
    say(f"live: {summary['frames']} frames, {summary['dropped_frames']} dropped, latency p50 {lat['p50']:.0f} ms, "
        f"p95 {lat['p95']:.0f} ms, max {lat['max']:.0f} ms, {summary['fps']:.1f} fps"
        + (f"; wrote {args.output}" if args.output and not to_stdout else ""))
    return 0
