"""Time audio → landmarks and measure peak memory for clips of several lengths.

    python benchmarks/bench_landmarks.py                       # 60 s and 600 s, rule-filled weights
    python benchmarks/bench_landmarks.py --seconds 60 --repeat 2
    python benchmarks/bench_landmarks.py --weights original    # an installed weight set instead

Every length runs in its own fresh process so that its peak RSS is its own. In that process
the networks and Resemblyzer are loaded first (reported as `load_s`, part of start-up), then
the timed call runs the whole chain from the wav file: decoding, the audio front end
(Resemblyzer twice, mel, RAPT F0), AutoVC, both branches, post-processing, resampling to
25 fps. `first_s` is the first call in the process (one-off kernel set-up included);
`repeat_s` are further calls (what a long-running app sees).

Without --weights, rule-filled original-layout checkpoints (tests/original_checkpoints.py,
same sizes as the real ones) are written and imported into a temporary MAKEITTALK_HOME:
timing does not depend on the weight values. The speech is LibriSpeech from ../shared/data,
concatenated to length.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import build_clip, install_rule_filled_weights

SET_NAME = "bench-rulefilled"


def child(args: argparse.Namespace) -> None:
    """One length in this process: print one JSON line."""
    import torch

    from makeittalk.animation.engine import LandmarkAnimator
    from makeittalk.face import StaticFace
    from makeittalk.resources import standard_face

    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    animator = LandmarkAnimator.from_pretrained(args.weights, device=args.device)
    animator.speaker_encoder  # noqa: B018 - load Resemblyzer now, as part of start-up
    load_s = time.perf_counter() - start
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    face = StaticFace.from_landmarks(standard_face() * np.array([-100.0, -100.0, 1.0]) + np.array([128.0, 110.0, 0.0]))
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        sequence = animator.animate(args.clip, face, fps=25.0)
        times.append(time.perf_counter() - start)
    print(json.dumps({
        "seconds": args.child,
        "frames": sequence.num_frames,
        "threads": torch.get_num_threads(),
        "load_s": round(load_s, 2),
        "first_s": round(times[0], 2),
        "repeat_s": [round(t, 2) for t in times[1:]],
        "realtime_factor": round(args.child / min(times), 1),
        "rss_after_imports_mb": round(rss_start),
        "rss_after_load_mb": round(rss_loaded),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=[60.0, 600.0])
    parser.add_argument("--repeat", type=int, default=1, help="timed calls per length (default 1)")
    parser.add_argument("--weights", default=None, help="an installed weight set (default: rule-filled, temporary)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--clip", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args)
        return

    with tempfile.TemporaryDirectory(prefix="bench-landmarks-") as tmp:
        tmp_path = Path(tmp)
        env = dict(os.environ)
        weights = args.weights
        if weights is None:
            install_rule_filled_weights(tmp_path / "home", SET_NAME)
            env["MAKEITTALK_HOME"] = str(tmp_path / "home")
            weights = SET_NAME
        for seconds in args.seconds:
            clip = build_clip(seconds, tmp_path / f"speech_{seconds:g}s.wav")
            command = [
                sys.executable, __file__, "--child", str(seconds), "--clip", str(clip), "--weights", weights,
                "--device", args.device, "--repeat", str(args.repeat),
            ]
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                sys.stderr.write(done.stderr)
                raise SystemExit(f"the {seconds:g} s run failed")
            print(done.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
