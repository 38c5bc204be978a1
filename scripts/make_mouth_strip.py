#!/usr/bin/env python3
"""Mouth crops of the demo (the astronaut saying the bundled demo speech) next to the audio.

    python3 scripts/make_mouth_strip.py [--weights default] [-o docs/images/demo_mouth_strip.png]

Renders the demo with the given weights, then draws, for two stretches of the clip ("watch my
mouth open wide" and "like pop, baby and movie"), the audio's loudness envelope, the phones of the
transcript with their times, and a mouth crop every second video frame (80 ms) underneath. Crops
during /p b m/ get a red bar, during open vowels a green one: the mouth should be shut on red and
open on green. The phone times come from forced alignment of the demo's transcript with
pocketsphinx (`pip install pocketsphinx`; without it the strip has no phone labels). It also
prints the mean predicted inner-lip gap per phone class, as a check that needs no eyes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TRANSCRIPT = ("hello this is a talking portrait my lips move with the sound and watch my mouth open wide "
              "and close again on words like pop baby and movie")
BILABIAL = {"P", "B", "M"}
OPEN_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EY", "OW"}
STRETCHES = ((4.28, 6.20), (7.82, 9.74))  # 24 crops each: "watch my mouth open wide", "(li)ke pop baby and movie"
FPS = 25.0
CROP_STEP = 2  # video frames between crops
TILES_PER_ROW = 12


def align_phones(wav: Path) -> list[tuple[str, float, float]]:
    """(phone, start s, end s) of the transcript in the demo speech, or [] without pocketsphinx."""
    try:
        from pocketsphinx import Decoder
    except ImportError:
        print("note: pocketsphinx is not installed: no phone labels (pip install pocketsphinx)", file=sys.stderr)
        return []
    import soundfile as sf

    audio, rate = sf.read(str(wav), dtype="int16")
    decoder = Decoder(samprate=rate, loglevel="FATAL")
    decoder.set_align_text(TRANSCRIPT)
    decoder.start_utt()
    decoder.process_raw(audio.tobytes(), full_utt=True)
    decoder.end_utt()
    decoder.set_alignment()
    decoder.start_utt()
    decoder.process_raw(audio.tobytes(), full_utt=True)
    decoder.end_utt()
    phones = []
    for word in decoder.get_alignment():
        for phone in word:
            phones.append((phone.name, phone.start / 100.0, (phone.start + phone.duration) / 100.0))
    return phones


def phone_at(phones, t: float) -> str | None:
    for name, start, end in phones:
        if start <= t < end:
            return name
    return None


def envelope(samples: np.ndarray, rate: int, times: np.ndarray) -> np.ndarray:
    """RMS over 40 ms around each time, in dB relative to the clip's loudest."""
    half = int(0.02 * rate)
    values = []
    for t in times:
        c = int(t * rate)
        piece = samples[max(c - half, 0) : c + half]
        values.append(np.sqrt(np.mean(piece**2)) if len(piece) else 0.0)
    db = 20 * np.log10(np.maximum(values, 1e-6))
    return db - db.max()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="default")
    parser.add_argument("-o", "--output", type=Path, default=REPO / "docs" / "images" / "demo_mouth_strip.png")
    args = parser.parse_args()

    import imageio_ffmpeg
    from PIL import Image, ImageDraw

    from makeittalk.audio import load_audio
    from makeittalk.pipelines.demo import demo_portrait, demo_speech_path
    from makeittalk.pipelines.talking_head import TalkingHead

    wav = demo_speech_path()
    head = TalkingHead.from_pretrained(args.weights, renderer="warp")
    portrait = demo_portrait()
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "demo.mp4"
        landmarks_path = Path(tmp) / "demo.npy"
        head.render(portrait, wav, video, fps=FPS, save_landmarks=landmarks_path, blink=False)
        landmarks = np.load(landmarks_path)
        reader = imageio_ffmpeg.read_frames(str(video))
        meta = reader.__next__()
        width, height = meta["size"]
        frames = [np.frombuffer(f, dtype=np.uint8).reshape(height, width, 3).copy() for f in reader]
    waveform = load_audio(wav)
    samples, rate = waveform.samples.astype(np.float64), 16000
    phones = align_phones(wav)

    rest = landmarks[0, 48:68, :2]
    centre = rest.mean(axis=0)
    half_w = 0.9 * (rest[:, 0].max() - rest[:, 0].min())
    box = (int(centre[0] - half_w), int(centre[1] - 0.55 * half_w), int(centre[0] + half_w), int(centre[1] + 0.75 * half_w))
    crop_w, crop_h = box[2] - box[0], box[3] - box[1]
    scale = 2
    tile_w, tile_h = crop_w * scale, crop_h * scale
    curve_h, label_h, bar_h = 70, 16, 6

    rows = []
    gaps: dict[str, list[float]] = {"bilabial": [], "open vowel": [], "silence": [], "other": []}
    eye = np.linalg.norm(landmarks[:, 36, :2] - landmarks[:, 45, :2], axis=1).mean()
    for index in range(len(landmarks)):
        name = phone_at(phones, index / FPS)
        kind = ("silence" if name in (None, "SIL") else "bilabial" if name in BILABIAL
                else "open vowel" if name in OPEN_VOWELS else "other")
        gaps[kind].append(float(np.linalg.norm(landmarks[index, 62, :2] - landmarks[index, 66, :2]) / eye))
    segments = []
    for start, end in STRETCHES:
        picks = list(range(int(np.ceil(start * FPS)), min(int(end * FPS), len(frames)), CROP_STEP))
        for first in range(0, len(picks), TILES_PER_ROW):
            part = picks[first : first + TILES_PER_ROW]
            segments.append((part, part[0] / FPS, (part[-1] + CROP_STEP) / FPS))
    for picks, start, end in segments:
        row = Image.new("RGB", (tile_w * len(picks), curve_h + label_h + bar_h + tile_h), "white")
        draw = ImageDraw.Draw(row)
        times = np.linspace(start, end, tile_w * len(picks))
        db = np.clip(envelope(samples, rate, times), -40, 0)
        ys = curve_h - 4 - (db + 40) / 40 * (curve_h - 8)
        draw.line(list(zip(range(len(times)), ys.tolist())), fill=(40, 90, 200), width=2)
        for name, p_start, p_end in phones:
            if p_end < start or p_start > end or name == "SIL":
                continue
            x = (max(p_start, start) - start) / (end - start) * row.width
            draw.line([(x, 0), (x, curve_h)], fill=(210, 210, 210))
            draw.text((x + 2, curve_h + 1), name, fill=(200, 0, 0) if name in BILABIAL else (0, 0, 0))
        for i, frame_index in enumerate(picks):
            crop = Image.fromarray(frames[frame_index]).crop(box).resize((tile_w, tile_h), Image.LANCZOS)
            x = i * tile_w
            row.paste(crop, (x, curve_h + label_h + bar_h))
            name = phone_at(phones, frame_index / FPS)
            colour = (220, 30, 30) if name in BILABIAL else (40, 170, 60) if name in OPEN_VOWELS else None
            if colour:
                draw.rectangle([x + 1, curve_h + label_h, x + tile_w - 2, curve_h + label_h + bar_h - 1], fill=colour)
        rows.append(row)
    width = max(r.width for r in rows)
    sheet = Image.new("RGB", (width, sum(r.height for r in rows) + 10 * (len(rows) - 1)), "white")
    y = 0
    for row in rows:
        sheet.paste(row, (0, y))
        y += row.height + 10
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_name(args.output.name + ".partial.png")
    sheet.save(partial, optimize=True)
    partial.replace(args.output)
    print(f"wrote {args.output} ({sheet.width}x{sheet.height}, weights {args.weights})")
    for kind, values in gaps.items():
        if values:
            print(f"  inner-lip gap during {kind:10s}: mean {np.mean(values):.4f} eye distances over {len(values)} frames")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
