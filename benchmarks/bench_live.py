"""Live-mode latency, dropped frames and memory, measured through the CLI as a user runs it.

    python benchmarks/bench_live.py                      # 60 s at wall-clock pace, quiet machine
    python benchmarks/bench_live.py --busy 2             # the same with two busy processes beside it
    python benchmarks/bench_live.py --rss --seconds 3600 # peak RSS of an hour (as fast as possible) vs a minute

Each case runs `makeittalk live astronaut.png --input speech.wav [--realtime] --stats S.json`
in a fresh process: the astronaut photo (512x512, scikit-image, public domain), 25 fps, the
shipped default weights, speech from LibriSpeech in ../shared/data (or the bundled demo clip
repeated) concatenated to length. Latency is the CLI's own figure: from the arrival of an
audio sample (fed 20 ms at a time at wall-clock pace) to the emission of the first frame
showing it. `--busy N` starts N processes that spin on a core each for the whole run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _spin(stop) -> None:
    x = 0
    while not stop.is_set():
        x = (x * 1103515245 + 12345) % 2147483648


def speech_of(seconds: float, folder: Path) -> Path:
    import soundfile as sf

    from makeittalk.audio import load_audio
    from makeittalk.pipelines.demo import demo_speech_path

    files = sorted((REPO.parent / "shared" / "data" / "speech").rglob("*.wav"))[:200] or [demo_speech_path()]
    pieces, total, k = [], 0, 0
    target = int(min(seconds, 120) * 16000)
    while total < target:
        samples = load_audio(files[k % len(files)]).samples
        pieces.append(samples)
        total += len(samples)
        k += 1
    minute = np.concatenate(pieces)[:target]
    path = folder / f"speech_{int(seconds)}s.wav"
    with sf.SoundFile(str(path), "w", 16000, 1, subtype="PCM_16") as out:
        left = int(seconds * 16000)
        while left > 0:  # longer files repeat the first two minutes
            out.write(minute[:left])
            left -= min(left, len(minute))
    return path


def run_live(portrait: Path, audio: Path, folder: Path, *, realtime: bool) -> dict:
    stats = folder / "stats.json"
    command = [sys.executable, "-m", "makeittalk", "live", str(portrait), "--input", str(audio), "--stats", str(stats),
               "--overwrite", "-q"] + (["--realtime"] if realtime else [])
    subprocess.run(command, check=True)
    return json.loads(stats.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--busy", type=int, default=0, help="busy processes running beside it")
    parser.add_argument("--rss", action="store_true", help="compare peak RSS of --seconds against one minute")
    args = parser.parse_args(argv)
    from PIL import Image
    from skimage import data

    with tempfile.TemporaryDirectory(prefix="bench_live_") as name:
        folder = Path(name)
        portrait = folder / "astronaut.png"
        Image.fromarray(data.astronaut()).save(portrait)
        stop = multiprocessing.Event()
        spinners = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True) for _ in range(args.busy)]
        for p in spinners:
            p.start()
        try:
            if args.rss:
                minute = run_live(portrait, speech_of(60, folder), folder, realtime=False)
                long = run_live(portrait, speech_of(args.seconds, folder), folder, realtime=False)
                result = {"seconds": args.seconds, "peak_rss_mb_1min": minute["peak_rss_mb"],
                          "peak_rss_mb": long["peak_rss_mb"],
                          "ratio": round(long["peak_rss_mb"] / minute["peak_rss_mb"], 3),
                          "wall_seconds": long["wall_seconds"]}
            else:
                result = run_live(portrait, speech_of(args.seconds, folder), folder, realtime=True)
                result["busy_processes"] = args.busy
        finally:
            stop.set()
            for p in spinners:
                p.join()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
