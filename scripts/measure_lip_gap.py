#!/usr/bin/env python3
"""How far the predicted mouth opens on a portrait: the inner-lip gap |p62 - p66| in pixels over a
render's landmarks (issue 13: "the 30 s, 512x512 photo render has an inner-lip gap std of at least
2 px"; real speakers move about 0.041 eye distances, 2.5 px on a face whose eye corners are 60 px
apart).

    python3 scripts/measure_lip_gap.py astronaut speech.wav [--weights default] [--fps 25]

PORTRAIT is an image file, or `astronaut` for scikit-image's 512x512 astronaut photo. The
landmarks are those `makeittalk render` draws (same networks, seed and fps), without blinks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("portrait", help="image file, or 'astronaut'")
    parser.add_argument("audio", type=Path)
    parser.add_argument("--weights", default="default")
    parser.add_argument("--fps", type=float, default=25.0)
    args = parser.parse_args()

    from makeittalk.animation import LandmarkAnimator
    from makeittalk.face import detect_landmarks, load_image

    if args.portrait == "astronaut":
        from skimage import data

        image = data.astronaut()
    else:
        image = load_image(args.portrait)
    face = detect_landmarks(image).landmarks
    animator = LandmarkAnimator.from_pretrained(args.weights)
    sequence = animator.animate(str(args.audio), face, fps=args.fps, blink=False, image_size=image.shape[1::-1])
    points = np.asarray(sequence.landmarks)[..., :2]
    gap = np.linalg.norm(points[:, 62] - points[:, 66], axis=-1)
    eyes = float(np.linalg.norm(face[36, :2] - face[45, :2]))
    report = {
        "portrait": args.portrait, "image_size": list(image.shape[1::-1]), "eye_distance_px": round(eyes, 2),
        "seconds": round(sequence.audio_seconds, 2), "frames": len(gap),
        "gap_std_px": round(float(np.std(gap)), 3), "gap_std_eye_distances": round(float(np.std(gap)) / eyes, 4),
        "gap_mean_px": round(float(gap.mean()), 3), "gap_p5_px": round(float(np.percentile(gap, 5)), 3),
        "gap_p95_px": round(float(np.percentile(gap, 95)), 3),
        "portrait_gap_px": round(float(np.linalg.norm(face[62, :2] - face[66, :2])), 3),
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
