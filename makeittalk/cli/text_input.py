"""`--text` / `--text-file` / `--voice` / `--save-audio`: speech synthesised offline instead of a recording."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from makeittalk.errors import MakeItTalkError

TEXT_HELP = """
text instead of a recording: --text "..." or --text-file FILE is spoken by an offline engine
(espeak-ng by default; mbrola voices through espeak-ng when installed, e.g. --voice mb-en1;
flite or festival with --voice flite:slt / festival:). --voice [ENGINE:]NAME picks the voice
and language (espeak-ng names: en, en-us, de, fr, es, ar, hi, ...; 'espeak-ng --voices' lists
them). --save-audio FILE.wav keeps the synthesised speech.
"""


def add_text_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("text instead of audio (offline speech synthesis)")
    group.add_argument("--text", metavar="TEXT", default=None, help="speak TEXT instead of reading AUDIO")
    group.add_argument("--text-file", metavar="FILE", default=None, help="speak the UTF-8 text in FILE")
    group.add_argument("--voice", metavar="[ENGINE:]NAME", default=None,
                       help="voice/language: en, de, fr, mb-en1 (mbrola), flite:slt, festival: (default: espeak-ng en)")
    group.add_argument("--save-audio", metavar="FILE.wav", default=None, help="also write the synthesised speech")


def text_given(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "text", None) is not None or getattr(args, "text_file", None))


def check_text_arguments(args: argparse.Namespace, *, audio_name: str = "AUDIO") -> None:
    """Reject contradictory inputs before anything slow happens."""
    if args.text is not None and args.text_file:
        raise MakeItTalkError("give --text or --text-file, not both")
    if text_given(args):
        if args.text_file:  # read now: a missing or empty file is reported before any other input
            from makeittalk.audio.tts import read_text_file

            args.text_from_file = read_text_file(args.text_file)
        if getattr(args, "audio", None):
            raise MakeItTalkError(f"give {audio_name} or --text/--text-file, not both")
        if args.save_audio:
            from makeittalk.fileio import check_output_path

            check_output_path(Path(args.save_audio), overwrite=getattr(args, "overwrite", False), suffixes=(".wav",))
    elif args.voice or args.save_audio:
        raise MakeItTalkError("--voice and --save-audio apply to --text or --text-file; add one of them")


def synthesize_from_args(args: argparse.Namespace, say=None) -> Any:
    """The Speech for --text/--text-file (saved with --save-audio), or None without text."""
    if not text_given(args):
        return None
    from makeittalk.audio.tts import synthesize

    # check_text_arguments has read --text-file already (so a bad file fails before anything else).
    text = args.text if args.text is not None else args.text_from_file
    speech = synthesize(text, voice=args.voice)
    if say is not None:
        timing = f", {len(speech.phones)} timed phones" if speech.phones else ""
        say(f"spoke {len(text)} characters with {speech.engine} voice {speech.voice}: "
            f"{speech.waveform.seconds:.2f} s{timing}")
    if args.save_audio:
        saved = speech.save(args.save_audio, overwrite=getattr(args, "overwrite", False))
        if say is not None:
            say(f"wrote {saved}")
    return speech
