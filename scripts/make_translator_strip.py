#!/usr/bin/env python3
"""Mouth crops of held-out clips: the real frame, the warp renderer and the warp + mouth translator.

    python3 scripts/make_translator_strip.py --translator runs/mouth/best/mouth_translator \\
        [--out out/translator_mouth_strip.png] [--overwrite]

Self-reenactment, as `makeittalk eval --frames` scores it: each clip's first frame with a face is
the portrait, and two later frames are re-drawn from it at their real landmarks: the one where the
real mouth is most closed and the one where it is most open (inner-lip gap |p62-p66| over the
outer eye-corner distance |p36-p45|). Columns are (clip, closed / open), rows real / warp /
translator, all cut through the real frame's mouth crop (the translator's region) and upscaled
to 128 px. The clips come from the val split (held-out speakers) of each --split-from dataset:
per source, the --clips-per-source clips of different speakers whose mouth opens the most.
The image is made of frames of the development data, so it stays on your machine (out/ is
ignored by git) and is never committed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_DATA = [REPO.parent / "shared" / "data" / "talking_ar", REPO.parent / "shared" / "data" / "talking"]
# Where scripts/train_default_weights.sh prepares the datasets (its WORK_DIR default).
DEFAULT_SPLITS = [REPO / "work-defaults" / "datasets" / "talking_ar", REPO / "work-defaults" / "datasets" / "talking"]
DEFAULT_OUT = REPO / "out" / "translator_mouth_strip.png"
TILE = 128
GAP = 6  # white pixels between clips
LABEL_W = 84
HEADER_H = 30
ROWS = ("real", "warp", "translator")
MIN_DISTANCE = 5  # frames between the portrait and a shown frame, where the clip is long enough


def mouth_gap(landmarks: np.ndarray) -> np.ndarray:
    """(F,) inner-lip gap |p62 - p66| / |p36 - p45| per frame (NaN without a face)."""
    points = np.asarray(landmarks, dtype=np.float64)
    gap = np.linalg.norm(points[:, 62] - points[:, 66], axis=1)
    return gap / np.linalg.norm(points[:, 36] - points[:, 45], axis=1)


def choose_clips(data: Path, split: Path, count: int, stems: list[str] | None):
    """[(clip, ground truth, closed frame, open frame)] for up to `count` val clips of different speakers."""
    from makeittalk.errors import MakeItTalkError
    from makeittalk.evaluation.runner import discover_clips, load_ground_truth

    candidates = []
    for clip in discover_clips(data, stems=stems, split_from=split):
        if clip.landmarks_file is None:
            continue  # picking frames needs landmarks; detecting them on every clip would be slow
        try:
            gt = load_ground_truth(clip)
        except MakeItTalkError:
            continue
        faces = np.flatnonzero(gt.detected)
        if len(faces) < 3:
            continue
        # Frames right after the portrait look like it whatever the renderer: skip them if the clip allows.
        later = faces[faces >= faces[0] + MIN_DISTANCE]
        later = later if len(later) >= 2 else faces[1:]
        gaps = mouth_gap(gt.landmarks[later])
        closed, opened = int(later[np.nanargmin(gaps)]), int(later[np.nanargmax(gaps)])
        candidates.append((float(np.nanmax(gaps) - np.nanmin(gaps)), clip, gt, closed, opened))
    candidates.sort(key=lambda c: -c[0])
    chosen, speakers = [], set()
    for _, clip, gt, closed, opened in candidates:
        if clip.speaker in speakers and not stems:
            continue
        speakers.add(clip.speaker)
        chosen.append((clip, gt, closed, opened))
        if len(chosen) == count:
            break
    return chosen


def label(image: np.ndarray, text: str, origin: tuple[int, int], scale: float = 0.4) -> None:
    import cv2

    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--translator", type=Path, default=None, metavar="DIR",
                        help="a saved mouth-translator folder (default: the --weights set's mouth_translator)")
    parser.add_argument("--weights", default="default", metavar="NAME",
                        help="weight set name or folder (default: default)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="PNG to write (default: out/translator_mouth_strip.png; not committed: it shows the data)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.add_argument("--data", type=Path, nargs="+", default=DEFAULT_DATA, metavar="DIR",
                        help="clip folders (default: ../shared/data/talking_ar and talking beside the repo)")
    parser.add_argument("--split-from", type=Path, nargs="+", default=DEFAULT_SPLITS, metavar="DATASET_DIR",
                        help="one prepared dataset per --data folder; clips come from its val split")
    parser.add_argument("--clips-per-source", type=int, default=2, metavar="N",
                        help="clips per --data folder (default 2)")
    parser.add_argument("--clips", nargs="+", default=None, metavar="STEM",
                        help="use these clips (each must be in some --data folder's val split)")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default auto)")
    args = parser.parse_args()

    import cv2
    import torch

    from makeittalk.errors import MakeItTalkError, MissingStageError
    from makeittalk.evaluation.reenactment import read_video_frames, render_frames, translator_region
    from makeittalk.face.mouth_region import crop_matrix, warp_into_crop
    from makeittalk.fileio import atomic_output, check_output_path
    from makeittalk.models.mouth_translator import MouthTranslator
    from makeittalk.weights import load_network

    started = time.perf_counter()
    torch.set_num_threads(1)  # the network sees two crops per clip: more threads only add overhead
    try:
        if args.out == DEFAULT_OUT:
            DEFAULT_OUT.parent.mkdir(exist_ok=True)
        check_output_path(args.out, overwrite=args.overwrite, suffixes=(".png",))
        if len(args.data) != len(args.split_from):
            raise MakeItTalkError(f"give one --split-from dataset per --data folder "
                                  f"({len(args.data)} --data, {len(args.split_from)} --split-from)")
        if args.translator is not None:
            translator, source = MouthTranslator.from_pretrained(args.translator, args.device), str(args.translator)
        else:
            try:
                translator = load_network("mouth_translator", args.weights, args.device)
            except MissingStageError as exc:
                raise MakeItTalkError(f"{exc}; or pass --translator DIR (a saved mouth-translator folder)") from None
            source = f"weights:{args.weights}"
        region = translator_region(translator)
        picks = []
        for data, split in zip(args.data, args.split_from):
            stems = None
            if args.clips:
                known = {p.stem for p in data.rglob("*.mp4")}
                stems = [s for s in args.clips if s in known]
                if not stems:
                    continue
            picks += choose_clips(data, split, len(stems) if stems else args.clips_per_source, stems)
        if not picks:
            raise MakeItTalkError("no clip with landmarks and 3 or more frames with a face in the val splits; "
                                  "check --data / --split-from / --clips")

        columns = []  # per clip: (name, [(gap, real, warp, translator) for closed, open])
        for clip, gt, closed, opened in picks:
            first = int(np.flatnonzero(gt.detected)[0])
            frames = read_video_frames(clip.video, [first, closed, opened])
            if len(frames) < 3:
                raise MakeItTalkError(f"{clip.video} ends before its landmark frames do")
            targets = [gt.landmarks[closed], gt.landmarks[opened]]
            renders = render_frames(frames[first], gt.landmarks[first], targets, translator)
            tiles = []
            for k, index in enumerate((closed, opened)):
                matrix = crop_matrix(gt.landmarks[index], region)
                crops = [warp_into_crop(image, matrix, region.size)
                         for image in (frames[index], renders["warp"][k], renders["translator"][k])]
                crops = [cv2.resize(c, (TILE, TILE), interpolation=cv2.INTER_CUBIC) for c in crops]
                tiles.append((float(mouth_gap(gt.landmarks[index][None])[0]), crops))
            columns.append((clip.stem, tiles))
            print(f"{clip.stem} ({clip.speaker}): portrait frame {first}, closed frame {closed} "
                  f"(gap {tiles[0][0]:.3f}), open frame {opened} (gap {tiles[1][0]:.3f})")

        width = LABEL_W + len(columns) * 2 * TILE + (len(columns) - 1) * GAP
        height = HEADER_H + len(ROWS) * TILE
        sheet = np.full((height, width, 3), 255, np.uint8)
        for row, name in enumerate(ROWS):
            label(sheet, name, (6, HEADER_H + row * TILE + TILE // 2 + 5), 0.45)
        x = LABEL_W
        for stem, tiles in columns:
            label(sheet, stem, (x + 4, 12))
            for kind, (gap, crops) in zip(("closed", "open"), tiles):
                label(sheet, f"{kind} {gap:.2f}", (x + 4, 26), 0.35)
                for row, crop in enumerate(crops):
                    sheet[HEADER_H + row * TILE: HEADER_H + (row + 1) * TILE, x: x + TILE] = crop
                x += TILE
            x += GAP
        ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        if not ok:
            raise MakeItTalkError(f"cannot encode the strip as PNG for {args.out}")
        with atomic_output(args.out, overwrite=args.overwrite, suffixes=(".png",)) as partial:
            partial.write_bytes(png.tobytes())
    except MakeItTalkError as exc:
        print(f"make_translator_strip: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({width}x{height}, translator {source}, {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
