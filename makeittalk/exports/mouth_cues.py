"""Rhubarb Lip Sync's mouth shapes, classified from predicted landmarks.

Rhubarb's shapes (https://github.com/DanielSWolf/rhubarb-lip-sync, "Mouth shapes"):

    A  closed mouth (M, B, P)             E  slightly rounded, open (AO, ER)
    B  slightly open, clenched teeth      F  puckered lips (UW, OW, W)
    C  open (EH, AE)                      G  upper teeth on the lower lip (F, V)   [extended]
    D  wide open (AA)                     H  open, tongue up behind the teeth (L)  [extended]
                                          X  idle, mouth at rest (pauses)          [extended]

The rule, per frame (lengths in rest eye distances D; see `measures.py`; "gap" is the
inner-lip opening beyond the rest face's, so a portrait that rests with parted lips rests in A):

    silence (audio quieter than peak - 35 dB for >= 0.2 s)  -> X
    rounded (mouth width < 0.92 x rest):  gap < 0.06 -> F,  else -> E
    gap < 0.025:  lower lip < 0.65 x its rest thickness (tucked under the teeth) -> G,  else -> A
    gap < 0.06 -> B;   gap < 0.11 -> C (or H, below);   else -> D
    H: a C opening in its upper half (gap >= 0.085) whose jaw has dropped less than half the
       lip gap: the lips part while the jaw stays high, the posture of a held L.

The gap thresholds sit near the quartiles of real speakers' inner-lip gaps (the dlib
landmarks of ../shared/data's talking groups: 25 % 0.023-0.032 D, median 0.038-0.060 D,
90 % 0.09-0.16 D). H differs from C by the tongue, which 68 points do not see, so the rule
above is a proxy and fires rarely. Shapes are classified at 100 frames a second (Rhubarb's
centisecond grid); runs shorter than 0.04 s (0.03 s for the A closures of /p b m/) are merged
into the neighbour nearest in openness, and shapes outside the chosen extended set are replaced as Rhubarb
replaces them (G -> B, H -> C, X -> A).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from makeittalk.exports.measures import FaceMeasures, measure_face

BASIC_SHAPES = "ABCDEF"
EXTENDED_SHAPES = "GHX"
# Rhubarb's getBasicShape for its release shape set: G -> B, H -> C, X -> A.
BASIC_REPLACEMENT = {"G": "B", "H": "C", "X": "A"}

CUE_RATE = 100.0  # frames a second: Rhubarb's centisecond resolution

CLOSED_GAP = 0.025
SLIGHT_GAP = 0.06
OPEN_GAP = 0.11
H_MIN_GAP = 0.085
ROUNDED_WIDTH = 0.92
TUCKED_LOWER_LIP = 0.65
SILENCE_DB_BELOW_PEAK = 35.0
MIN_SILENCE_SECONDS = 0.2
MIN_CUE_SECONDS = 0.04
MIN_CLOSURE_SECONDS = 0.03


@dataclass(frozen=True)
class MouthCue:
    start: float  # seconds, on the centisecond grid
    end: float
    shape: str


def classify_shapes(measures: FaceMeasures) -> np.ndarray:
    """One shape letter (A-H, never X) per frame, by the rule in the module docstring."""
    # Openings count from the rest face's: a portrait smiling with parted lips rests in A/X, not C.
    gap = np.maximum(measures.lip_gap - measures.rest_lip_gap, 0.0)
    width = measures.mouth_width_ratio
    shapes = np.full(gap.shape, "B", dtype="<U1")
    shapes[gap >= SLIGHT_GAP] = "C"
    shapes[gap >= OPEN_GAP] = "D"
    lips_not_jaw = (gap >= H_MIN_GAP) & (gap < OPEN_GAP) & (measures.jaw_drop < 0.5 * gap)
    shapes[lips_not_jaw] = "H"
    closed = gap < CLOSED_GAP
    shapes[closed] = "A"
    shapes[closed & (measures.lower_lip_ratio < TUCKED_LOWER_LIP)] = "G"
    rounded = width < ROUNDED_WIDTH
    shapes[rounded & ~closed & (gap < SLIGHT_GAP)] = "F"
    shapes[rounded & (gap >= SLIGHT_GAP)] = "E"
    return shapes


def speech_activity(samples: np.ndarray, sample_rate: int, num_frames: int, frame_rate: float) -> np.ndarray:
    """True for frames inside speech: louder than the clip's peak minus 35 dB, pauses shorter than
    0.2 s bridged (Rhubarb too keeps the mouth moving through short pauses)."""
    raw = np.asarray(samples)
    x = raw.astype(np.float64)
    if raw.dtype.kind in "iu":
        x /= 32768.0
    hop = sample_rate / frame_rate
    window = int(round(2 * hop))
    energy = np.empty(num_frames)
    for i in range(num_frames):
        centre = int(round((i + 0.5) * hop))
        chunk = x[max(0, centre - window // 2): centre + window // 2]
        energy[i] = float(np.mean(chunk ** 2)) if chunk.size else 0.0
    level = 10 * np.log10(energy + 1e-12)
    peak = np.percentile(level, 99) if num_frames else 0.0
    active = level > peak - SILENCE_DB_BELOW_PEAK
    min_silence = int(round(MIN_SILENCE_SECONDS * frame_rate))
    return ~_short_runs(~active, min_silence, inner_only=True)


def _short_runs(mask: np.ndarray, min_length: int, *, inner_only: bool) -> np.ndarray:
    """`mask` with its True runs shorter than `min_length` cleared (only those between False runs
    when `inner_only`: leading and trailing silence counts at any length)."""
    out = mask.copy()
    n = len(mask)
    i = 0
    while i < n:
        if not mask[i]:
            i += 1
            continue
        j = i
        while j < n and mask[j]:
            j += 1
        touches_edge = i == 0 or j == n
        if j - i < min_length and not (inner_only and touches_edge):
            out[i:j] = False
        i = j
    return out


def _runs(labels: np.ndarray) -> list[list]:
    runs: list[list] = []
    for i, label in enumerate(labels):
        if runs and runs[-1][0] == label:
            runs[-1][2] = i + 1
        else:
            runs.append([label, i, i + 1])
    return runs


_OPENNESS = {"X": 0, "A": 0, "G": 0, "B": 1, "F": 1, "C": 2, "E": 2, "H": 2, "D": 3}


def _merge_short_runs(labels: np.ndarray, frame_rate: float) -> np.ndarray:
    """Absorb runs too short to read into the neighbour nearest in openness (X runs are never
    shortened and never absorb). Works on the run list, shortest first, so an hour of cues
    (360,000 frames) takes a fraction of a second."""
    import heapq

    min_frames = {shape: max(1, int(round(MIN_CUE_SECONDS * frame_rate))) for shape in BASIC_SHAPES + "GH"}
    min_frames["A"] = max(1, int(round(MIN_CLOSURE_SECONDS * frame_rate)))
    min_frames["X"] = 1
    runs = _runs(labels)  # [label, start, stop]
    n = len(runs)
    if n < 2:
        return labels.copy()
    prev = list(range(-1, n - 1))
    nxt = list(range(1, n + 1))
    nxt[-1] = -1
    alive = [True] * n
    heap = [(run[2] - run[1], k) for k, run in enumerate(runs)]
    heapq.heapify(heap)
    while heap:
        length, k = heapq.heappop(heap)
        label, start, stop = runs[k]
        if not alive[k] or length != stop - start or length >= min_frames[label]:
            continue
        neighbours = [m for m in (prev[k], nxt[k]) if m >= 0 and runs[m][0] != "X"]
        if not neighbours:
            continue
        # Into the neighbour nearest in openness (a short C between B and D joins either, a
        # short closure between two openings joins the smaller), then the longer one.
        into = min(neighbours, key=lambda m: (abs(_OPENNESS[runs[m][0]] - _OPENNESS[label]),
                                              -(runs[m][2] - runs[m][1])))
        runs[into][1] = min(runs[into][1], start)
        runs[into][2] = max(runs[into][2], stop)
        alive[k] = False
        p, q = prev[k], nxt[k]
        if p >= 0:
            nxt[p] = q
        if q >= 0:
            prev[q] = p
        # The grown run may now equal its other neighbour's shape: join them.
        for other in (prev[into], nxt[into]):
            if other >= 0 and alive[other] and runs[other][0] == runs[into][0]:
                runs[into][1] = min(runs[into][1], runs[other][1])
                runs[into][2] = max(runs[into][2], runs[other][2])
                alive[other] = False
                a, b = prev[other], nxt[other]
                if a >= 0:
                    nxt[a] = b
                if b >= 0:
                    prev[b] = a
        heapq.heappush(heap, (runs[into][2] - runs[into][1], into))
    out = labels.copy()
    for k, (label, start, stop) in enumerate(runs):
        if alive[k]:
            out[start:stop] = label
    return out


def target_shape(shape: str, extended: str) -> str:
    """`shape` in the user's shape set: basic shapes always, extended ones only when chosen."""
    if shape in BASIC_SHAPES or shape in extended:
        return shape
    return BASIC_REPLACEMENT[shape]


def parse_extended_shapes(text: str | None) -> str:
    """Rhubarb's --extendedShapes value: any of G, H, X (default all three); '' for none."""
    if text is None:
        return EXTENDED_SHAPES
    letters = text.strip().upper()
    unknown = sorted(set(letters) - set(EXTENDED_SHAPES))
    if unknown:
        raise ValueError(f"extended shapes are G, H and X; {''.join(unknown)!r} is not one of them "
                         "(give e.g. 'GHX', 'GX' or '' for the basic shapes A-F only)")
    return "".join(s for s in EXTENDED_SHAPES if s in letters)


def mouth_cues(frames: np.ndarray, rest: np.ndarray, fps: float, *, samples: np.ndarray | None = None,
               sample_rate: int = 16000, duration: float | None = None,
               extended: str = EXTENDED_SHAPES) -> list[MouthCue]:
    """Rhubarb-style cues covering [0, duration] for landmark `frames` at `fps`.

    Frames are resampled to 100 fps by linear interpolation (a no-op for 100 fps input);
    `samples` (the speech, at `sample_rate`) marks the pauses that become X.
    """
    frames = np.asarray(frames, dtype=np.float64)[..., :2]
    if duration is None:
        duration = frames.shape[0] / fps
    num = max(1, int(round(duration * CUE_RATE)))
    times = (np.arange(num) + 0.5) / CUE_RATE
    source_times = np.arange(frames.shape[0]) / fps
    flat = frames.reshape(frames.shape[0], -1)
    grid = np.stack([np.interp(times, source_times, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    labels = classify_shapes(measure_face(grid.reshape(num, 68, 2), rest)).astype("<U1")
    if samples is not None:
        labels[~speech_activity(samples, sample_rate, num, CUE_RATE)] = "X"
    labels = np.array([target_shape(s, extended) for s in labels], dtype="<U1")
    labels = _merge_short_runs(labels, CUE_RATE)
    cues = [MouthCue(round(start / CUE_RATE, 2), round(stop / CUE_RATE, 2), str(label))
            for label, start, stop in _runs(labels)]
    return cues
