"""Parameter counts and inference speed of the four networks.

    python benchmarks/bench_networks.py                    # CPU, torch's default thread count
    python benchmarks/bench_networks.py --threads 1 --seconds 10 --repeats 5
    python benchmarks/bench_networks.py --device cuda --json bench.json

Audio networks are timed per second of audio (62.5 mel frames / windows per second, as the
pipeline feeds them): AutoVC converts one chunk padded to a multiple of 32 frames, the content
branch takes all 18x80 windows as one batch, the speaker branch takes them in attention
segments of at most 512 windows (as the original). The translator is timed per 256x256 frame.
Weights are random unless --weights names a weight set: speed does not depend on their values.
Each figure is the median of --repeats runs after one warm-up run, in eval mode under
torch.inference_mode().
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Callable

import torch

from makeittalk.device import pick_device
from makeittalk.models import AutoVC, ContentBranch, ImageTranslator, SpeakerBranch

FRAMES_PER_SECOND = 62.5  # 16 kHz audio, hop 256


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    with torch.inference_mode():
        fn()  # warm-up: allocator, kernel selection, oneDNN primitives
        _sync(device)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _network(cls, name: str, weights: str | None, device: torch.device):
    if weights:
        from makeittalk.weights import load_network

        return load_network(name, weights, device=device)
    return cls().to(device).eval()


def run(seconds: float, repeats: int, frames: int, device: torch.device, weights: str | None) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    n = int(round(seconds * FRAMES_PER_SECOND))
    results = []

    model = _network(AutoVC, "autovc", weights, device)
    t = math.ceil(n / 32) * 32  # the pipeline pads each chunk to a multiple of 32 frames
    mel = torch.rand(1, t, 80, generator=g).to(device)
    emb = torch.rand(1, 256, generator=g).to(device)
    f0 = torch.nn.functional.one_hot(torch.randint(0, 257, (1, t), generator=g), 257).float().to(device)
    sec = _time(lambda: model.convert(mel, emb, emb, f0), repeats, device)
    results.append({"network": "autovc", "parameters": model.num_parameters(), "seconds": sec / seconds, "per": "second of audio",
                    "detail": f"convert() on {t} frames ({seconds:g} s padded to a multiple of 32)"})
    del model

    windows = torch.randn(n, 18, 80, generator=g).to(device)
    model = _network(ContentBranch, "content_branch", weights, device)
    face = torch.randn(1, 204, generator=g).to(device)
    sec = _time(lambda: model(windows, face), repeats, device)
    results.append({"network": "content_branch", "parameters": model.num_parameters(), "seconds": sec / seconds,
                    "per": "second of audio", "detail": f"{n} windows of 18x80 in one batch"})
    del model

    model = _network(SpeakerBranch, "speaker_branch", weights, device)
    spk = torch.rand(256, generator=g).to(device) * 3.0

    def speaker() -> None:
        for start in range(0, n, 512):
            model(windows[start : start + 512], spk)

    sec = _time(speaker, repeats, device)
    results.append({"network": "speaker_branch", "parameters": model.num_parameters(), "seconds": sec / seconds,
                    "per": "second of audio", "detail": f"{n} windows in attention segments of <= 512"})
    del model

    model = _network(ImageTranslator, "translator", weights, device)
    x = torch.rand(1, 6, 256, 256, generator=g).to(device)

    def translate() -> None:
        for _ in range(frames):
            model(x)

    sec = _time(translate, repeats, device)
    results.append({"network": "translator", "parameters": model.num_parameters(), "seconds": sec / frames, "per": "frame",
                    "detail": f"256x256, batch 1, {frames} frame(s) per run; a video needs 62.5 frames per second"})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds of audio per run (default 8)")
    parser.add_argument("--frames", type=int, default=2, help="translator frames per run (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per network; the median is reported")
    parser.add_argument("--weights", default=None, help="weight set to load instead of random weights")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    results = run(args.seconds, args.repeats, args.frames, device, args.weights)
    env = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    print(f"device {env['device']}, torch {env['torch']}, {env['threads']} CPU thread(s), {env['cpu_capability']}")
    print(f"{'network':<16}{'parameters':>13}  {'time':>10}  per")
    for r in results:
        print(f"{r['network']:<16}{r['parameters']:>13,}  {r['seconds'] * 1000:>8.1f}ms  {r['per']}  ({r['detail']})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"environment": env, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
