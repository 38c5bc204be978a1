"""Frames per second of the warp renderer (render + read back), at several output sizes.

    python benchmarks/bench_renderer.py                    # cartoon 1024 px + astronaut photo
    python benchmarks/bench_renderer.py --sizes 256 512 --frames 200 --json bench.json
    python benchmarks/bench_renderer.py --image face.png --landmarks face.txt
    python benchmarks/bench_renderer.py --sizes 512 --repeat 5     # best of 5 runs per case

Each case renders a talking motion (head sway, syllable-rate mouth, blinks), so the mouth and
eyelid passes run as they do in a real video. The renderer is created once per case and
reused frame after frame, as in streaming; setup time is reported separately. Every frame is
read back into memory (an (H, W, 4) uint8 array), as a video writer needs it. On a shared
machine, --repeat N reports the best of N timed runs (other processes only ever slow a run
down); `path` says whether frames were read back directly (opaque output, no supersampling)
or went through the resolve pass.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Result:
    subject: str
    style: str
    source_size: tuple[int, int]
    output_size: tuple[int, int]
    samples: int  # MSAA samples actually used
    supersample: int
    frames: int
    setup_s: float
    fps: float
    ms_per_frame: float
    path: str = "direct"  # "direct": read back the scene; "resolve": through the resolve pass
    runs: int = 1
    # CPU time of this process per frame (all its threads: Python, the driver's rasteriser
    # threads), from the fastest run: what a frame costs whatever else the machine runs.
    cpu_ms_per_frame: float = 0.0


def subjects(args: argparse.Namespace) -> list[tuple[str, np.ndarray, np.ndarray, str]]:
    """(name, RGBA image, rest landmarks, style) for each benchmark subject."""
    from renderer.synthetic import draw_cartoon_face

    if args.image:
        from renderer.puppet import Puppet

        puppet = Puppet.create(args.image, args.landmarks)
        return [(os.path.basename(args.image), puppet.image, puppet.landmarks, puppet.style)]
    toon = draw_cartoon_face(args.cartoon_size, transparent=True)
    out = [(f"cartoon{args.cartoon_size}", toon.image, toon.landmarks, "cartoon")]
    try:
        from skimage.data import astronaut

        from makeittalk.face import detect_landmarks

        photo = astronaut()
        landmarks = detect_landmarks(photo, detector="dlib").landmarks
        rgba = np.concatenate([photo, np.full(photo.shape[:2] + (1,), 255, np.uint8)], axis=2)
        out.append(("astronaut512", rgba, landmarks, "photo"))
    except Exception as exc:  # the photo case needs the detector; the cartoon case does not
        print(f"skipping the astronaut photo: {type(exc).__name__}: {exc}")
    return out


def bench_case(ctx, name, image, landmarks, style, size, samples, supersample, frames, repeat=1,
               background="white") -> Result:
    from renderer import RenderConfig, WarpRenderer
    from renderer.synthetic import talking_motion

    motion = talking_motion(landmarks, frames + 5)
    config = RenderConfig(style=style, samples=samples, supersample=supersample)
    start = time.perf_counter()
    renderer = WarpRenderer(image, landmarks, config=config, size=size, background=background, ctx=ctx)
    renderer.render(motion[0])
    setup = time.perf_counter() - start
    try:
        for landmarks_t in motion[1:5]:  # warm-up: shader JIT and driver caches
            renderer.render(landmarks_t)
        elapsed, cpu = float("inf"), 0.0
        for _ in range(max(1, repeat)):
            start, cpu_start = time.perf_counter(), time.process_time()
            for landmarks_t in motion[5:]:
                renderer.render(landmarks_t)
            run_time = time.perf_counter() - start
            if run_time < elapsed:
                elapsed, cpu = run_time, time.process_time() - cpu_start
        path = "resolve" if getattr(renderer, "_resolve_prog", None) is not None else "direct"
    finally:
        renderer.release()
    return Result(name, style, (image.shape[1], image.shape[0]), renderer.output_size, renderer.samples, supersample,
                  frames, round(setup, 3), round(frames / elapsed, 1), round(1000 * elapsed / frames, 2), path,
                  max(1, repeat), round(1000 * cpu / frames, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["256", "512", "full"],
                        help="output sizes: N for N x N, WxH, or 'full' for the source size")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--samples", nargs="+", default=["auto"],
                        help="MSAA samples to try ('auto': 4 on GPUs, 0 on llvmpipe)")
    parser.add_argument("--supersample", type=int, nargs="+", default=[1], help="supersampling factors to try")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per case; the best one is reported")
    parser.add_argument("--background", default="white",
                        help="background colour, or 'none' for transparent output (the resolve path)")
    parser.add_argument("--cartoon-size", type=int, default=1024)
    parser.add_argument("--image", help="benchmark this portrait instead")
    parser.add_argument("--landmarks", help="its landmarks file (else detected)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    from renderer import create_context, describe_context

    ctx = create_context()
    gl = describe_context(ctx)
    print(f"OpenGL: {gl}")
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, "
          f"load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}, "
          f"LP_NUM_THREADS={os.environ.get('LP_NUM_THREADS', 'default')}")
    results: list[Result] = []
    header = (f"{'subject':<14} {'style':<8} {'output':>10} {'msaa':>4} {'ss':>3} {'path':>8} {'setup s':>8} "
              f"{'fps':>7} {'ms/frame':>9} {'cpu ms':>7}")
    print(header)
    print("-" * len(header))
    for name, image, landmarks, style in subjects(args):
        sizes: list[tuple[int, int]] = []
        for size_text in args.sizes:
            if size_text == "full":
                size = (image.shape[1], image.shape[0])
            elif "x" in size_text:
                w, h = size_text.split("x")
                size = (int(w), int(h))
            else:
                size = (int(size_text), int(size_text))
            if size not in sizes:  # 'full' may repeat a listed size
                sizes.append(size)
        for size in sizes:
            for samples_text in args.samples:
                samples = None if samples_text == "auto" else int(samples_text)
                for ss in args.supersample:
                    background = None if args.background.lower() == "none" else args.background
                    r = bench_case(ctx, name, image, landmarks, style, size, samples, ss, args.frames,
                                   args.repeat, background)
                    results.append(r)
                    out = f"{r.output_size[0]}x{r.output_size[1]}"
                    print(f"{r.subject:<14} {r.style:<8} {out:>10} {r.samples:>4} {r.supersample:>3} {r.path:>8} "
                          f"{r.setup_s:>8.3f} {r.fps:>7.1f} {r.ms_per_frame:>9.2f} {r.cpu_ms_per_frame:>7.2f}", flush=True)
    ctx.release()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"gl": gl, "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
                       "results": [asdict(r) for r in results]}, handle, indent=2)


if __name__ == "__main__":
    main()
