#!/usr/bin/env python3
"""How much of the driving lip motion each renderer shows: render a portrait with the warp and
the translator renderer (`--still`, same landmarks), detect the face again on every N-th rendered
frame, and fit the rendered mouth opening |p62 - p66| / |p36 - p45| (evaluation.metrics.mouth_opening)
against the driving one.

    python3 scripts/measure_render_fidelity.py face.png speech.wav [--every 2] [--weights default]

Per renderer it prints r and the slope (1: the video opens the mouth exactly as far as the
landmarks ask; below 1: the rendered opening is smaller), and the rendered gap's std in eye
distances. PORTRAIT may be `astronaut` (scikit-image's 512x512 photo). Videos go to a temporary
folder and are removed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RENDERERS = ("warp", "translator")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("portrait", help="image file, or 'astronaut'")
    parser.add_argument("audio", type=Path)
    parser.add_argument("--weights", default="default")
    parser.add_argument("--every", type=int, default=2, help="detect the face on every N-th frame (default 2)")
    args = parser.parse_args()

    from makeittalk.errors import MakeItTalkError
    from makeittalk.evaluation.metrics import mouth_opening
    from makeittalk.face import detect_landmarks, load_image
    from makeittalk.pipelines.video import read_frames_at

    with tempfile.TemporaryDirectory(prefix="makeittalk-fidelity-") as scratch:
        folder = Path(scratch)
        portrait = Path(args.portrait)
        if args.portrait == "astronaut":
            from PIL import Image
            from skimage import data

            portrait = folder / "astronaut.png"
            Image.fromarray(data.astronaut()).save(portrait)
        image = load_image(str(portrait))
        face = detect_landmarks(image).landmarks
        eyes = float(np.linalg.norm(face[36, :2] - face[45, :2]))
        report = {"portrait": args.portrait, "audio": args.audio.name, "eye_distance_px": round(eyes, 2), "renderers": {}}
        for renderer in RENDERERS:
            video, landmarks = folder / f"{renderer}.mp4", folder / f"{renderer}.npy"
            subprocess.run([sys.executable, "-m", "makeittalk", "render", str(portrait), str(args.audio), "-o", str(video),
                            "--renderer", renderer, "--still", "--weights", args.weights,
                            "--save-landmarks", str(landmarks)], check=True, stdout=subprocess.DEVNULL)
            driving = mouth_opening(np.load(landmarks))
            shown, asked = [], []
            for index, frame in read_frames_at(video, range(0, len(driving), args.every)):
                try:
                    shown.append(float(mouth_opening(detect_landmarks(frame).landmarks[None])[0]))
                except MakeItTalkError:  # no face found in this frame: skip it, and count it below
                    continue
                asked.append(float(driving[index]))
            shown_a, asked_a = np.array(shown), np.array(asked)
            report["renderers"][renderer] = {
                "frames_measured": len(shown_a),
                "r": round(float(np.corrcoef(shown_a, asked_a)[0, 1]), 3),
                "slope": round(float(np.polyfit(asked_a, shown_a, 1)[0]), 3),
                "driving_gap_std_eye_distances": round(float(asked_a.std()), 4),
                "rendered_gap_std_eye_distances": round(float(shown_a.std()), 4),
            }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
