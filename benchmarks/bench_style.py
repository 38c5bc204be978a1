"""Accuracy of the photo/cartoon detector (renderer.puppet.guess_style) on real and drawn faces.

    python benchmarks/bench_style.py [--shared ../shared] [--json OUT.json]

Photos: the first detected frame of every clip in shared/data/talking, one clip per speaker of
talking_ar, five GRID clips, and the reference portrait. Cartoons: the project's drawn cartoon
at several sizes, opaque and transparent, as PNG and as JPEG, and with a few of its colours
changed. Prints each group's accuracy and the feature's range per group, so a threshold can be
judged by its margins, and lists every miss.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from renderer.puppet import guess_style, style_features  # noqa: E402


def _first_frame(mp4: Path) -> np.ndarray:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(mp4))
    meta = next(reader)
    frame = next(reader)
    reader.close()
    w, h = meta["size"]
    return np.frombuffer(frame, np.uint8).reshape(h, w, 3)


def _video_photos(folder: Path, per_speaker: bool, limit: int | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    import csv

    rows = list(csv.DictReader((folder / "index.tsv").open(encoding="utf-8"), delimiter="\t"))
    seen, out = set(), []
    for row in rows:
        if per_speaker and row["speaker"] in seen:
            continue
        npz = folder / f"{row['clip']}.landmarks.npz"
        if not npz.is_file():
            continue
        with np.load(npz) as data:
            found = np.flatnonzero(data["detected"])
            if len(found) == 0:
                continue
            points = data["landmarks"][found[0]]
        frames = _first_frame(folder / f"{row['clip']}.mp4")
        seen.add(row["speaker"])
        out.append((row["clip"], frames, points))
        if limit and len(out) >= limit:
            break
    return out


def _cartoons() -> list[tuple[str, np.ndarray, np.ndarray]]:
    from renderer.synthetic import draw_cartoon_face

    out = []
    for size in (128, 256, 512, 1024):
        for transparent in (False, True):
            toon = draw_cartoon_face(size, transparent=transparent)
            image = toon.image if toon.image.shape[2] == 4 else np.dstack([toon.image, np.full(toon.image.shape[:2], 255, np.uint8)])
            out.append((f"toon {size} {'rgba' if transparent else 'rgb'}", image, toon.landmarks))
            if not transparent:
                buffer = io.BytesIO()
                Image.fromarray(image[..., :3]).save(buffer, "JPEG", quality=80)
                jpeg = np.asarray(Image.open(buffer).convert("RGB"))
                out.append((f"toon {size} jpeg q80", jpeg, toon.landmarks))
                recoloured = image.copy()
                recoloured[..., :3] = (recoloured[..., :3].astype(np.int16)[..., ::-1]).astype(np.uint8)
                out.append((f"toon {size} recoloured", recoloured, toon.landmarks))
    return out


def _rgba(image: np.ndarray) -> np.ndarray:
    if image.shape[2] == 4:
        return image
    return np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    data = args.shared / "data"
    groups: dict[str, tuple[str, list]] = {
        "talking (photo)": ("photo", _video_photos(data / "talking", per_speaker=False)),
        "talking_ar (photo)": ("photo", _video_photos(data / "talking_ar", per_speaker=True)),
        "talking_grid_s1 (photo)": ("photo", _video_photos(data / "talking_grid_s1", per_speaker=False, limit=5)),
        "drawn cartoons": ("cartoon", _cartoons()),
    }
    portrait = args.shared / "reference" / "makeittalk" / "portrait.png"
    if portrait.is_file():
        from makeittalk.face import detect_landmarks

        image = np.asarray(Image.open(portrait).convert("RGB"))
        groups["reference portrait (photo)"] = ("photo", [("portrait.png", image, detect_landmarks(image, "dlib").landmarks)])
    report, total, right, right_native = {}, 0, 0, 0
    for group, (truth, items) in groups.items():
        got = [(name, guess_style(_rgba(img), pts), style_features(_rgba(img), pts)) for name, img, pts in items]
        correct = sum(style == truth for _, style, _ in got)
        # The rule before face-scale measuring: flat share at native size above 0.5.
        native = sum((f["transparent_share"] > 0.01 or f["flat_share"] > 0.5) == (truth == "cartoon") for _, _, f in got)
        total, right, right_native = total + len(got), right + correct, right_native + native

        def span(key):
            values = [f[key] for _, _, f in got]
            return [round(min(values), 3), round(max(values), 3)]

        report[group] = {"n": len(got), "correct": correct, "correct_native_rule": native,
                         "palette_share": span("palette_share"), "flat_share_native": span("flat_share"), "flat_share_face_scale": span("flat_share_face_scale"),
                         "misses": [name for name, style, _ in got if style != truth]}
        print(f"{group:28s} {correct:3d}/{len(got):3d} correct (native rule {native:3d}); flat share at face scale "
              f"{report[group]['flat_share_face_scale']}, native {report[group]['flat_share_native']}; "
              f"palette {report[group]['palette_share']}"
              f"{'; misses: ' + ', '.join(report[group]['misses']) if report[group]['misses'] else ''}")
    print(f"native-size rule: {right_native}/{total} = {right_native / total:.3f}")
    print(f"overall accuracy: {right}/{total} = {right / total:.3f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
