"""Wall time of a batch with --engine local against --engine ray, and Ray's fixed costs.

    python benchmarks/bench_batch_ray.py [--rows 12] [--seconds 10] [--workers 2]

Builds a manifest of ROWS rows, each the astronaut portrait (512x512) with a different
SECONDS-second speech clip, renders it with the shipped default weights once with each engine
(fresh processes, from process start to exit), and reports both wall times and their ratio.
It also times Ray on its own: ray.init + shutdown of a local instance, and the per-row
overhead of handing a trivial row to an actor and getting its result back.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import build_clip


def ray_fixed_costs(workers: int) -> dict[str, float]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    init_s = time.perf_counter() - start

    @ray.remote(num_cpus=1)
    class Echo:
        def row(self, x):
            return x

    actors = [Echo.remote() for _ in range(workers)]
    ray.get([a.row.remote(0) for a in actors])
    start = time.perf_counter()
    n = 200
    ray.get([actors[k % workers].row.remote(k) for k in range(n)])
    per_row_ms = (time.perf_counter() - start) / n * 1000
    start = time.perf_counter()
    ray.shutdown()
    return {"ray_init_s": round(init_s, 2), "ray_shutdown_s": round(time.perf_counter() - start, 2),
            "per_row_round_trip_ms": round(per_row_ms, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from PIL import Image
    from skimage import data

    report: dict[str, object] = {"rows": args.rows, "seconds": args.seconds, "workers": args.workers,
                                 "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        folder = Path(tmp)
        Image.fromarray(data.astronaut()).save(folder / "face.png")
        clip = build_clip(args.rows * args.seconds, folder / "long.wav")
        import soundfile as sf

        samples, rate = sf.read(str(clip), dtype="int16")
        step = int(args.seconds * rate)
        for k in range(args.rows):
            sf.write(str(folder / f"s{k}.wav"), samples[k * step : (k + 1) * step], rate, subtype="PCM_16")
        for engine in ("local", "ray"):
            (folder / engine).mkdir()
            rows = "".join(f"face.png,s{k}.wav,{engine}/{k}.mp4\n" for k in range(args.rows))
            (folder / f"{engine}.csv").write_text("portrait,audio,output\n" + rows)
            command = [sys.executable, "-m", "makeittalk", "render", "--batch", str(folder / f"{engine}.csv"), "--quiet"]
            if engine == "ray":
                command += ["--engine", "ray", "--workers", str(args.workers)]
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            report[f"{engine}_wall_s"] = round(time.perf_counter() - start, 2)
            if done.returncode != 0:
                raise SystemExit(f"{engine} failed:\n{done.stderr}")
            print(f"{engine}: {report[f'{engine}_wall_s']} s", flush=True)
    report["ray_over_local"] = round(report["ray_wall_s"] / report["local_wall_s"], 3)
    report.update(ray_fixed_costs(args.workers))
    report["load_average"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
