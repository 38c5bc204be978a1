"""Time the audio front end stage by stage on a 60-second clip.

    python benchmarks/bench_audio.py                 # 60 s of LibriSpeech from ../shared/data
    python benchmarks/bench_audio.py speech.wav      # any file load_audio accepts
    python benchmarks/bench_audio.py --repeat 3 --device cpu

The first pass includes one-off costs (imports, the Resemblyzer weights, the first RAPT worker);
later passes show the steady state a long-running app sees.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import build_clip



def _timed(stages: dict[str, float], name: str, fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    stages[name] = round(time.perf_counter() - start, 4)
    return result


def run_pass(path: Path, encoder) -> dict[str, float]:
    from makeittalk.audio import load_audio
    from makeittalk.audio.features import compute_f0, condition_signal, mel_spectrogram
    from makeittalk.audio.loudness import normalize_loudness

    stages: dict[str, float] = {}
    wave = _timed(stages, "load_audio", load_audio, path)
    _timed(stages, "speaker_embedding (before loudness)", encoder.embed, wave.as_float32())
    normalized = _timed(stages, "normalize_loudness", normalize_loudness, wave.samples)
    wav = normalized.astype(np.float64) / 32768.0
    _timed(stages, "condition_signal (high-pass + dither)", condition_signal, wav)
    _timed(stages, "mel_spectrogram", mel_spectrogram, wav)
    _timed(stages, "f0 (RAPT in a worker process)", compute_f0, wav)
    _timed(stages, "autovc_source_embedding", encoder.embed, normalized.astype(np.float32) / np.float32(32768.0))
    return stages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("audio", nargs="?", help="audio/video file (default: 60 s built from LibriSpeech)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the built clip")
    parser.add_argument("--repeat", type=int, default=2, help="passes to time (first one is cold)")
    parser.add_argument("--device", default=None, help="device for Resemblyzer (auto, cpu, cuda, mps)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_audio_") as tmp:
        path = Path(args.audio) if args.audio else build_clip(args.seconds, Path(tmp) / "clip.wav")

        start = time.perf_counter()
        from makeittalk.audio import SpeakerEncoder, extract_features, load_audio

        encoder = SpeakerEncoder(device=args.device)
        setup = round(time.perf_counter() - start, 4)

        passes = [run_pass(path, encoder) for _ in range(max(1, args.repeat))]
        wave = load_audio(path)
        start = time.perf_counter()
        features = extract_features(wave, encoder)
        end_to_end = round(time.perf_counter() - start, 4)

    import torch

    report = {
        "audio": str(args.audio or f"{args.seconds:g} s of LibriSpeech"),
        "audio_seconds": round(wave.seconds, 3),
        "frames": features.num_frames,
        "device": str(encoder.device),
        "torch_threads": torch.get_num_threads(),
        "setup_seconds (imports + Resemblyzer weights)": setup,
        "passes": passes,
        "extract_features_seconds (warm, whole front end)": end_to_end,
        "real_time_factor (warm)": round(end_to_end / wave.seconds, 4),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
