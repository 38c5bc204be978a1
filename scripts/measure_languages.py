"""Lip sync on espeak-ng speech in several languages: figures per language and a mouth-crop strip.

For each language a short text rich in /p b m/ is spoken by espeak-ng (which reports its
phone timings), animated with the shipped default weights on the demo portrait, and
rendered with the warp renderer. Per language it reports:

- closure: the share of bilabial phones (p b m) during which the predicted inner lips shut
  (gap < 0.025 eye distances, Rhubarb's A) within the phone +-40 ms;
- bilabial/vowel: the median smallest gap on bilabials over the median largest gap on vowels
  (lower is better; 1 means the lips do not tell them apart);
- r(envelope): the correlation of the predicted opening with the audio's loudness envelope
  at lag 0 and at the best lag within +-200 ms (positive: the mouth opens when it is loud);
- cue changes: Rhubarb cue changes per second of speech in a `rhubarb-tsv` export.

It also writes a strip of mouth crops from the rendered video, on bilabials and on vowels,
one row per language, so the figures can be checked by eye.

    python scripts/measure_languages.py --out /tmp/languages   # writes languages.json and the strip
    python scripts/measure_languages.py --strip docs/images/languages_mouth_strip.png
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

TEXTS = {
    "en": "Bob bought a big map. Maybe mum will pay for the blue boat, but Pam wants a puppy.",
    "de": "Mama bringt Peter einen blauen Ball. Paul baut im Baum ein Bett, aber Bernd bleibt oben.",
    "fr": "Papa met le beau bateau bleu dans la boîte. Maman prépare une pomme pour bébé.",
    "es": "Pablo compra un barco blanco. Mamá prepara pan y patatas para el bebé en Madrid.",
    "ru": "Папа купил большой белый бумажный пакет. Мама будет пить молоко по утрам.",
    "ar": "بابا ذهب إلى البحر مع أمي. بنى محمد بيتا بابه أبيض في المدينة.",
    "hi": "पापा बाजार में बड़ी पीली बस से आए। माँ ने बच्चे के लिए पानी और भोजन बनाया।",
    "ro": "Bunica mea pune pâine și mere pe masa mare. Băiatul bea apă multă.",
}
NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "ru": "Russian", "ar": "Arabic",
         "hi": "Hindi", "ro": "Romanian"}
FPS = 25.0
CLOSED_GAP = 0.025


def envelope(samples: np.ndarray, rate: int, num: int, fps: float) -> np.ndarray:
    x = samples.astype(np.float64) / 32768.0
    hop = rate / fps
    out = np.zeros(num)
    for i in range(num):
        a, b = int(i * hop), int((i + 1) * hop)
        out[i] = np.sqrt(np.mean(x[a:b] ** 2)) if b > a and a < len(x) else 0.0
    return out


def correlation_at(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    if lag > 0:
        a, b = a[lag:], b[:-lag]
    elif lag < 0:
        a, b = a[:lag], b[-lag:]
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def measure(code: str, head, portrait: Path, folder: Path) -> tuple[dict, list]:
    from makeittalk.animation.export import load_landmarks
    from makeittalk.audio.tts import synthesize
    from makeittalk.exports import read_export
    from makeittalk.exports.measures import measure_face

    speech = synthesize(TEXTS[code], voice=code)
    video, marks, cues = folder / f"{code}.mp4", folder / f"{code}.json", folder / f"{code}.tsv"
    head.render(str(portrait), speech.waveform, video, fps=FPS, save_landmarks=marks,
                exports=[f"rhubarb-tsv:{cues}"], overwrite=True)
    sequence = load_landmarks(marks)
    gap = measure_face(sequence.landmarks, sequence.landmarks[0]).lip_gap
    gap = gap - np.percentile(gap, 5)  # openings from the clip's own closed mouth

    def frames_of(phone, pad=0.0):
        a = max(0, int(np.floor((phone.start - pad) * FPS)))
        b = min(len(gap), int(np.ceil((phone.end + pad) * FPS)) + 1)
        return a, max(a + 1, b)

    bilabial = [p for p in speech.phones if p.kind == "bilabial"]
    vowels = [p for p in speech.phones if p.kind == "vowel"]
    closed = [gap[slice(*frames_of(p, 0.04))].min() for p in bilabial]
    opened = [gap[slice(*frames_of(p))].max() for p in vowels]
    loud = envelope(speech.waveform.samples, speech.waveform.sample_rate, len(gap), FPS)
    lags = range(-5, 6)
    r_by_lag = {lag: correlation_at(gap, loud, lag) for lag in lags}
    best = max(lags, key=lambda lag: -np.inf if np.isnan(r_by_lag[lag]) else r_by_lag[lag])
    parsed = read_export("rhubarb-tsv", cues)
    speaking = sum(p.end - p.start for p in speech.phones if p.kind != "pause")
    changes = sum(1 for a, b in zip(parsed.cues, parsed.cues[1:]) if a.shape != b.shape and "X" not in (a.shape, b.shape))
    row = {
        "language": NAMES[code], "voice": code, "seconds": round(speech.waveform.seconds, 2),
        "bilabials": len(bilabial), "vowels": len(vowels),
        "closure": round(float(np.mean(np.asarray(closed) < CLOSED_GAP)), 2) if closed else None,
        "bilabial_over_vowel": round(float(np.median(closed) / max(np.median(opened), 1e-6)), 2) if closed else None,
        "r_envelope_lag0": round(r_by_lag[0], 3), "r_envelope_best": round(r_by_lag[best], 3),
        "best_lag_ms": int(best * 1000 / FPS), "cue_changes_per_s": round(changes / max(speaking, 1e-6), 2),
    }
    picks = [("bilabial", p, int(np.argmin(gap[slice(*frames_of(p, 0.04))])) + frames_of(p, 0.04)[0])
             for p in bilabial[:6]]
    picks += [("vowel", p, int(np.argmax(gap[slice(*frames_of(p))])) + frames_of(p)[0])
              for p in sorted(vowels, key=lambda p: -(p.end - p.start))[:6]]
    return row, [(kind, phone.symbol, frame, video, sequence.landmarks[frame]) for kind, phone, frame in picks]


def mouth_strip(rows: list[tuple[str, list]], path: Path) -> None:
    import imageio.v3 as iio
    from PIL import Image, ImageDraw

    crop, label_w = 72, 90
    width = label_w + 12 * (crop + 4)
    sheet = Image.new("RGB", (width, 22 + len(rows) * (crop + 18)), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((label_w, 4), "bilabials (p b m): lips should be shut", fill="black")
    draw.text((label_w + 6 * (crop + 4), 4), "longest vowels: mouth should be open", fill="black")
    for r, (name, picks) in enumerate(rows):
        y = 22 + r * (crop + 18)
        draw.text((4, y + crop // 2 - 6), name, fill="black")
        frames = {}
        for k, (kind, symbol, frame, video, points) in enumerate(picks):
            if video not in frames:
                frames[video] = list(iio.imiter(video, plugin="FFMPEG"))
            image = frames[video][min(frame, len(frames[video]) - 1)]
            lips = points[48:68, :2]
            centre = lips.mean(axis=0)
            half = max(np.ptp(lips[:, 0]) * 0.9, 12)
            box = (int(centre[0] - half), int(centre[1] - half), int(centre[0] + half), int(centre[1] + half))
            tile = Image.fromarray(image).crop(box).resize((crop, crop))
            x = label_w + k * (crop + 4)
            sheet.paste(tile, (x, y))
            draw.text((x + 2, y + crop + 2), symbol, fill="black")
    sheet.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--languages", default="en,de,fr,es,ru,ar,hi,ro", help="comma-separated espeak-ng voices")
    parser.add_argument("--out", default=None, help="folder for the videos, landmarks and languages.json")
    parser.add_argument("--strip", default=None, help="also write the mouth-crop strip here (PNG)")
    args = parser.parse_args(argv)
    from PIL import Image

    from makeittalk.pipelines.demo import demo_portrait
    from makeittalk.pipelines.talking_head import TalkingHead

    folder = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="mit_languages_"))
    folder.mkdir(parents=True, exist_ok=True)
    portrait = folder / "portrait.png"
    Image.fromarray(demo_portrait()).save(portrait)
    head = TalkingHead.from_pretrained("default", renderer="warp")
    table, strip_rows = [], []
    for code in args.languages.split(","):
        row, picks = measure(code, head, portrait, folder)
        table.append(row)
        strip_rows.append((row["language"], picks))
        print(json.dumps(row, ensure_ascii=False), flush=True)
    (folder / "languages.json").write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.strip:
        mouth_strip(strip_rows, Path(args.strip))
        print(f"wrote {args.strip}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
