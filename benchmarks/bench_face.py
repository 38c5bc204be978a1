"""Face detection time per image: `python benchmarks/bench_face.py [--repeat N] [--detector NAME]`.

Uses scikit-image's astronaut() at several sizes, plus the no-face case (every fallback
pass runs). Reports the model load (first call) separately from warm per-image times.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from PIL import Image
from skimage import data as skdata

from makeittalk.errors import FaceNotFoundError
from makeittalk.face import clear_detector_cache, detect_landmarks, resolve_detector


def _images() -> dict[str, np.ndarray]:
    astronaut = skdata.astronaut()
    face = astronaut[20:240, 110:330]

    def resized(image: np.ndarray, width: int, height: int) -> np.ndarray:
        return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC))

    return {
        "face 100x100": resized(face, 100, 100),
        "face 256x256": resized(face, 256, 256),
        "astronaut 512x512": astronaut,
        "astronaut 1024x1024": resized(astronaut, 1024, 1024),
        "astronaut 2000x1500": resized(astronaut, 2000, 2000)[:1500],
        "astronaut 4000x3000": resized(astronaut, 4000, 4000)[:3000],
        "no face 600x400 (coffee)": skdata.coffee(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--detector", default="auto")
    args = parser.parse_args()

    images = _images()
    clear_detector_cache()
    first = images["astronaut 512x512"]
    start = time.perf_counter()
    detect_landmarks(first, detector=args.detector)
    print(f"detector: {resolve_detector(args.detector)}; first call (model load + detection): "
          f"{time.perf_counter() - start:.3f} s")
    print(f"{'image':28s} {'median s':>9s} {'min s':>7s}  result")
    for name, image in images.items():
        times = []
        outcome = ""
        for _ in range(args.repeat):
            start = time.perf_counter()
            try:
                found = detect_landmarks(image, detector=args.detector)
                outcome = f"{found.num_faces} face(s), {found.method}"
            except FaceNotFoundError:
                outcome = "no face"
            times.append(time.perf_counter() - start)
        print(f"{name:28s} {statistics.median(times):9.3f} {min(times):7.3f}  {outcome}")


if __name__ == "__main__":
    main()
