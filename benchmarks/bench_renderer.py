"""Frames per second of the warp renderer (render + read back), at several output sizes.

    python benchmarks/bench_renderer.py                    # cartoon 1024 px + astronaut photo
    python benchmarks/bench_renderer.py --sizes 256 512 --frames 200 --json bench.json
    python benchmarks/bench_renderer.py --image face.png --landmarks face.txt

Each case renders a talking motion (head sway, syllable-rate mouth, blinks), so the mouth and
eyelid passes run as they do in a real video. The renderer is created once per case and
reused frame after frame, as in streaming; setup time is reported separately.
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


def bench_case(ctx, name, image, landmarks, style, size, samples, supersample, frames) -> Result:
    from renderer import RenderConfig, WarpRenderer
    from renderer.synthetic import talking_motion

    motion = talking_motion(landmarks, frames + 5)
    config = RenderConfig(style=style, samples=samples, supersample=supersample)
    start = time.perf_counter()
    renderer = WarpRenderer(image, landmarks, config=config, size=size, background="white", ctx=ctx)
    renderer.render(motion[0])
    setup = time.perf_counter() - start
    try:
        for landmarks_t in motion[1:5]:  # warm-up: shader JIT and driver caches
            renderer.render(landmarks_t)
        start = time.perf_counter()
        for landmarks_t in motion[5:]:
            renderer.render(landmarks_t)
        elapsed = time.perf_counter() - start
    finally:
        renderer.release()
    return Result(name, style, (image.shape[1], image.shape[0]), renderer.output_size, renderer.samples, supersample,
                  frames, round(setup, 3), round(frames / elapsed, 1), round(1000 * elapsed / frames, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["256", "512", "full"],
                        help="output sizes: N for N x N, WxH, or 'full' for the source size")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--samples", nargs="+", default=["auto"],
                        help="MSAA samples to try ('auto': 4 on GPUs, 0 on llvmpipe)")
    parser.add_argument("--supersample", type=int, nargs="+", default=[1], help="supersampling factors to try")
    parser.add_argument("--cartoon-size", type=int, default=1024)
    parser.add_argument("--image", help="benchmark this portrait instead")
    parser.add_argument("--landmarks", help="its landmarks file (else detected)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    from renderer import create_context, describe_context

    ctx = create_context()
    gl = describe_context(ctx)
    print(f"OpenGL: {gl}")
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible")
    results: list[Result] = []
    header = f"{'subject':<14} {'style':<8} {'output':>10} {'msaa':>4} {'ss':>3} {'setup s':>8} {'fps':>7} {'ms/frame':>9}"
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
                    r = bench_case(ctx, name, image, landmarks, style, size, samples, ss, args.frames)
                    results.append(r)
                    out = f"{r.output_size[0]}x{r.output_size[1]}"
                    print(f"{r.subject:<14} {r.style:<8} {out:>10} {r.samples:>4} {r.supersample:>3} "
                          f"{r.setup_s:>8.3f} {r.fps:>7.1f} {r.ms_per_frame:>9.2f}", flush=True)
    ctx.release()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"gl": gl, "cpu_count": os.cpu_count(), "results": [asdict(r) for r in results]}, handle, indent=2)


if __name__ == "__main__":
    main()
