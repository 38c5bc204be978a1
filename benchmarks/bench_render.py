"""Real-time factor and peak memory of `makeittalk render`, measured from process start.

    python benchmarks/bench_render.py                          # warp + translator, 30 s, 512x512
    python benchmarks/bench_render.py --renderers warp --seconds 600 --rss   # 10 min, peak RSS
    python benchmarks/bench_render.py --weights original       # an installed weight set instead
    python benchmarks/bench_render.py --weights default --busy 2   # with two busy processes beside it
    python benchmarks/bench_render.py --first-run --repeat 3   # fixed costs: a 2 s clip and the demo

--first-run times what a new user's first commands cost with the shipped default weights,
from process start to the finished mp4: `makeittalk render astronaut.png 2s.wav` and
`makeittalk demo`, with the time each --json-progress stage took (the first event comes after
the imports and the network loading).

Each case runs the CLI in a fresh subprocess, exactly as a user would:

    python -m makeittalk render astronaut.png speech.wav -o out.mp4 --renderer R --quiet

and the wall time from starting that process to its exit (imports, model loading, face
detection, audio features, landmarks, rendering, encoding, publishing) is divided by the audio
length: the real-time factor (RTF; lower is faster, 1 = real time). The portrait is
scikit-image's astronaut photo (512x512, public domain); the video is 512x512 at 25 fps.
Peak RSS is the render process's maximum resident set (getrusage of the child), and with
--rss the largest sum over the process tree (render process + ffmpeg) sampled from /proc.

Without --weights, rule-filled original-layout checkpoints (tests/original_checkpoints.py; same
sizes and therefore the same speed as the real ones) are written and imported into a
temporary MAKEITTALK_HOME. The speech is LibriSpeech from ../shared/data concatenated to length
(or the bundled demo clip repeated, when the shared data is absent).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from common import BusyProcesses, build_clip, install_rule_filled_weights

SET_NAME = "bench-render-rulefilled"


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its descendants (Linux /proc), in MiB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_case(command: list[str], env: dict[str, str], sample_rss: bool) -> tuple[float, float, float | None, str]:
    """(wall seconds, child peak RSS MiB, tree peak RSS MiB or None, stderr) of one CLI run."""
    peak_tree = [0.0]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak_tree[0] = max(peak_tree[0], _tree_rss_mb(process.pid))
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True) if sample_rss else None
    if sampler:
        sampler.start()
    _, err = process.communicate()
    wall = time.perf_counter() - start
    done.set()
    if sampler:
        sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"render failed ({process.returncode}):\n{err}")
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, child_peak, (peak_tree[0] if sample_rss else None), err


def child_case(args: argparse.Namespace) -> None:
    """Run one case in its own process so that RUSAGE_CHILDREN is this case's alone."""
    env = dict(os.environ)
    command = [sys.executable, "-m", "makeittalk", "render", args.portrait, args.clip, "-o", args.out,
               "--renderer", args.renderer, "--weights", args.weights, "--fps", str(args.fps), "--quiet",
               "--overwrite", "--device", args.device]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    wall, child_peak, tree_peak, _ = run_case(command, env, args.rss)
    print(json.dumps({"wall_s": wall, "peak_rss_mb": child_peak, "tree_peak_rss_mb": tree_peak}))


def _timed_stages(command: list[str], env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """(wall seconds, {stage: seconds}) of a CLI run with --json-progress, from process start."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stages: dict[str, float] = {}
    last_stage, last_time, log = "start-up (imports, networks)", start, []
    for line in process.stderr:
        log.append(line)
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        now = time.perf_counter()
        if event["stage"] != last_stage:
            stages[last_stage] = stages.get(last_stage, 0.0) + now - last_time
            last_stage, last_time = event["stage"], now
    process.wait()
    wall = time.perf_counter() - start
    stages[last_stage if last_stage != "done" else "exit"] = wall - (last_time - start)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{''.join(log)}")
    return wall, {k: round(v, 2) for k, v in stages.items()}


def first_run(args: argparse.Namespace) -> list[dict]:
    """The fixed-cost cases: a 2 s render and the built-in demo with the default weights."""
    from PIL import Image
    from skimage import data

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-first-run-") as tmp:
        tmp_path = Path(tmp)
        portrait = tmp_path / "astronaut.png"
        Image.fromarray(data.astronaut()).save(portrait)
        clip = build_clip(2.0, tmp_path / "speech_2s.wav")
        env = dict(os.environ)
        cases = {
            "render 2 s clip, 512x512": [sys.executable, "-m", "makeittalk", "render", str(portrait), str(clip), "-o",
                                         str(tmp_path / "out.mp4"), "--overwrite", "--json-progress"],
            "demo (10 s clip, 400x400)": [sys.executable, "-m", "makeittalk", "demo", "-o", str(tmp_path / "demo.mp4"),
                                          "--overwrite"],
        }
        for name, command in cases.items():
            runs = []
            for _ in range(args.repeat):
                if "demo" in name:
                    start = time.perf_counter()
                    done = subprocess.run(command, env=env, capture_output=True, text=True)
                    if done.returncode != 0:
                        raise SystemExit(done.stderr)
                    runs.append((time.perf_counter() - start, {}))
                else:
                    runs.append(_timed_stages(command, env))
            best = min(runs, key=lambda r: r[0])
            result = {"case": name, "wall_s": [round(w, 2) for w, _ in runs], "best_s": round(best[0], 2),
                      "stages_of_best": best[1], "load_average": round(os.getloadavg()[0], 2), "cores": os.cpu_count()}
            results.append(result)
            print(json.dumps(result), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=[30.0])
    parser.add_argument("--renderers", nargs="+", default=["warp", "translator"], choices=["warp", "translator"])
    parser.add_argument("--size", type=int, default=512, help="portrait side (the astronaut is resized; default 512)")
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the best is reported too")
    parser.add_argument("--weights", default=None, help="an installed weight set (default: rule-filled, temporary)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rss", action="store_true", help="also sample the process tree's RSS")
    parser.add_argument("--batch-size", type=int, default=None, help="translator frames per call (default: the CLI's)")
    parser.add_argument("--json", metavar="FILE", help="write the results here")
    parser.add_argument("--first-run", action="store_true",
                        help="time a 2 s render and the demo with the default weights (fixed costs)")
    parser.add_argument("--busy", type=int, default=0, help="busy processes running beside it (the loaded figure)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--portrait", help=argparse.SUPPRESS)
    parser.add_argument("--clip", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--renderer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_case(args)
        return
    if args.first_run:
        results = first_run(args)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        return

    from PIL import Image
    from skimage import data

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        tmp_path = Path(tmp)
        env = dict(os.environ)
        weights = args.weights
        if weights is None:
            install_rule_filled_weights(tmp_path / "home", SET_NAME, translator="translator" in args.renderers)
            env["MAKEITTALK_HOME"] = str(tmp_path / "home")
            weights = SET_NAME
        portrait = tmp_path / "astronaut.png"
        photo = Image.fromarray(data.astronaut())
        if args.size != 512:
            photo = photo.resize((args.size, args.size), Image.Resampling.LANCZOS)
        photo.save(portrait)
        clips = {seconds: build_clip(seconds, tmp_path / f"speech_{seconds:g}s.wav") for seconds in args.seconds}
        with BusyProcesses(args.busy):
            for seconds in args.seconds:
                clip = clips[seconds]
                for renderer in args.renderers:
                    walls, peaks, trees = [], [], []
                    for _ in range(args.repeat):
                        out = tmp_path / f"out_{renderer}.mp4"
                        command = [sys.executable, __file__, "--child", "--portrait", str(portrait), "--clip", str(clip),
                                   "--out", str(out), "--renderer", renderer, "--weights", weights, "--fps",
                                   str(args.fps), "--device", args.device] + (["--rss"] if args.rss else []) + (
                                       ["--batch-size", str(args.batch_size)] if args.batch_size else [])
                        done = subprocess.run(command, env=env, capture_output=True, text=True)
                        if done.returncode != 0:
                            sys.stderr.write(done.stderr)
                            raise SystemExit(f"the {renderer} {seconds:g} s case failed")
                        row = json.loads(done.stdout.strip().splitlines()[-1])
                        walls.append(row["wall_s"])
                        peaks.append(row["peak_rss_mb"])
                        trees.append(row["tree_peak_rss_mb"])
                    result = {
                        "renderer": renderer,
                        "audio_seconds": seconds,
                        "size": f"{args.size}x{args.size}",
                        "fps": args.fps,
                        "batch_size": args.batch_size if renderer == "translator" else None,
                        "frames": int(np.ceil(seconds * args.fps - 1e-9)),
                        "wall_s": [round(w, 2) for w in walls],
                        "rtf": round(min(walls) / seconds, 3),
                        "rtf_mean": round(float(np.mean(walls)) / seconds, 3),
                        "peak_rss_mb": round(max(peaks)),
                        "tree_peak_rss_mb": round(max(trees)) if args.rss else None,
                        "cpu": platform.processor() or platform.machine(),
                        "cores": os.cpu_count(),
                        "busy_processes": args.busy,
                    }
                    results.append(result)
                    print(json.dumps(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
