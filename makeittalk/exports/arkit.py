"""ARKit blendshape curves in the column layout of Live Link Face's CSV export.

Columns: `Timecode` (HH:MM:SS:FF.mmm, FF the frame within the second at the file's rate and
.mmm its fraction), `BlendShapeCount` (61, as Live Link Face writes), the 52 ARKit shapes in
Live Link Face's order, then HeadYaw, HeadPitch, HeadRoll and the six eye rotations. Values
have 6 decimals; head angles are radians.

What 68 landmarks determine is filled; every other column is 0. Each weight is a face measure
(`measures.py`, in rest eye distances D, relative to the rest face) divided by a documented
extreme and clipped to 0-1. The extremes are about the 99th percentile of the same measure on
the real speakers of ../shared/data's talking groups (dlib landmarks, each clip against its
median face), so a weight of 1 is a large but real movement:

    JawOpen              chin (8) drop / 0.25
    MouthClose           JawOpen minus the lip opening, >= 0 (lips held together while the jaw opens)
    MouthFunnel          rounding x opening;  MouthPucker  rounding x (1 - opening)
                         rounding = (1 - width / rest width) / 0.15;  opening = lip gap above rest / 0.06
    MouthSmileLeft/Right mouth corner (54 / 48) rise / 0.07
    MouthStretchLeft/Right corner moving outward / 0.07, times (1 - smile)
    MouthUpperUpLeft/Right upper lip (52 / 50) rise / 0.07
    MouthLowerDownLeft/Right lower lip (56 / 58) drop beyond the jaw's / 0.07
    EyeBlinkLeft/Right   1 - lid gap / rest lid gap (subject's left eye: points 42-47)
    BrowInnerUp          inner brows (21, 22) rise / 0.07
    BrowDownLeft/Right   brow (22-26 / 17-21) fall / 0.05
    HeadYaw/Pitch/Roll   radians, see `measure_face` (yaw and pitch are estimates)
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from makeittalk.exports.measures import FaceMeasures, measure_face

ARKIT_SHAPES = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft", "EyeSquintLeft",
    "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight", "JawForward", "JawRight", "JawLeft", "JawOpen", "MouthClose",
    "MouthFunnel", "MouthPucker", "MouthRight", "MouthLeft", "MouthSmileLeft", "MouthSmileRight",
    "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft",
    "MouthStretchRight", "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper",
    "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
    "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight",
    "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut",
)
ROTATIONS = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
             "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
HEADER = ("Timecode", "BlendShapeCount") + ARKIT_SHAPES + ROTATIONS
BLENDSHAPE_COUNT = len(ARKIT_SHAPES) + len(ROTATIONS)  # 61, what Live Link Face writes

FILLED = ("JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthSmileLeft", "MouthSmileRight",
          "MouthStretchLeft", "MouthStretchRight", "MouthUpperUpLeft", "MouthUpperUpRight", "MouthLowerDownLeft",
          "MouthLowerDownRight", "EyeBlinkLeft", "EyeBlinkRight", "BrowInnerUp", "BrowDownLeft", "BrowDownRight",
          "HeadYaw", "HeadPitch", "HeadRoll")

JAW_EXTREME = 0.25
LIP_OPEN_EXTREME = 0.06
ROUNDING_EXTREME = 0.15
CORNER_EXTREME = 0.07
LIP_EXTREME = 0.07
BROW_UP_EXTREME = 0.07
BROW_DOWN_EXTREME = 0.05


class ArkitCsvError(ValueError):
    """A file that does not have the Live Link Face CSV layout."""


def _unit(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0)


def blendshape_weights(measures: FaceMeasures) -> dict[str, np.ndarray]:
    """The filled ARKit weights (0-1) and head angles (radians), by the table in the docstring."""
    m = measures
    jaw_open = _unit(m.jaw_drop / JAW_EXTREME)
    lip_open = _unit((m.lip_gap - m.rest_lip_gap) / LIP_OPEN_EXTREME)
    rounding = _unit((1.0 - m.mouth_width_ratio) / ROUNDING_EXTREME)
    smile_left = _unit(m.corner_rise_left / CORNER_EXTREME)
    smile_right = _unit(m.corner_rise_right / CORNER_EXTREME)
    return {
        "JawOpen": jaw_open,
        "MouthClose": _unit(jaw_open - lip_open),
        "MouthFunnel": rounding * lip_open,
        "MouthPucker": rounding * (1.0 - lip_open),
        "MouthSmileLeft": smile_left,
        "MouthSmileRight": smile_right,
        "MouthStretchLeft": _unit(m.corner_out_left / CORNER_EXTREME) * (1.0 - smile_left),
        "MouthStretchRight": _unit(m.corner_out_right / CORNER_EXTREME) * (1.0 - smile_right),
        "MouthUpperUpLeft": _unit(m.upper_lip_rise_left / LIP_EXTREME),
        "MouthUpperUpRight": _unit(m.upper_lip_rise_right / LIP_EXTREME),
        "MouthLowerDownLeft": _unit((m.lower_lip_drop_left - m.jaw_drop) / LIP_EXTREME),
        "MouthLowerDownRight": _unit((m.lower_lip_drop_right - m.jaw_drop) / LIP_EXTREME),
        "EyeBlinkLeft": _unit(1.0 - m.eye_open_left),
        "EyeBlinkRight": _unit(1.0 - m.eye_open_right),
        "BrowInnerUp": _unit(m.brow_inner_rise / BROW_UP_EXTREME),
        "BrowDownLeft": _unit(-m.brow_rise_left / BROW_DOWN_EXTREME),
        "BrowDownRight": _unit(-m.brow_rise_right / BROW_DOWN_EXTREME),
        "HeadYaw": m.head_yaw,
        "HeadPitch": m.head_pitch,
        "HeadRoll": m.head_roll,
    }


def timecode(frame: int, fps: float) -> str:
    seconds = frame / fps
    whole = int(np.floor(seconds + 1e-9))
    within = (seconds - whole) * fps
    ff = int(np.floor(within + 1e-6))
    sub = int(round((within - ff) * 1000)) % 1000
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{ff:02d}.{sub:03d}"


def arkit_table(frames: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """(N, 61) values in HEADER order after the two leading columns."""
    weights = blendshape_weights(measure_face(frames, rest))
    table = np.zeros((np.asarray(frames).shape[0], BLENDSHAPE_COUNT))
    for k, name in enumerate(ARKIT_SHAPES + ROTATIONS):
        if name in weights:
            table[:, k] = weights[name]
    return table


def csv_text(frames: np.ndarray, rest: np.ndarray, fps: float) -> str:
    table = arkit_table(frames, rest)
    row_format = ",".join(["%.6f"] * BLENDSHAPE_COUNT)
    lines = [",".join(HEADER)]
    lines += [f"{timecode(i, fps)},{BLENDSHAPE_COUNT}," + (row_format % tuple(row)).replace("-0.000000", "0.000000")
              for i, row in enumerate(table)]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ArkitCsv:
    timecodes: list[str]
    values: np.ndarray  # (N, 61)

    def column(self, name: str) -> np.ndarray:
        return self.values[:, (ARKIT_SHAPES + ROTATIONS).index(name)]


def parse_csv(text: str, source: str = "csv") -> ArkitCsv:
    """Read a Live Link Face CSV back, checking the header, counts, timecodes and ranges."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(rows[0]) != HEADER:
        raise ArkitCsvError(f"{source}: the header is not Live Link Face's (Timecode, BlendShapeCount, "
                            "the 52 ARKit shapes, the 9 rotations)")
    codes, values = [], []
    previous = None
    for number, row in enumerate(rows[1:], 2):
        if len(row) != len(HEADER):
            raise ArkitCsvError(f"{source}: line {number} has {len(row)} fields, not {len(HEADER)}")
        parts = row[0].replace(".", ":").split(":")
        if len(parts) != 5 or not all(p.isdigit() for p in parts) or len(parts[4]) != 3:
            raise ArkitCsvError(f"{source}: line {number}: {row[0]!r} is not an HH:MM:SS:FF.mmm timecode")
        key = tuple(int(p) for p in parts)
        if previous is not None and key <= previous:
            raise ArkitCsvError(f"{source}: line {number}: timecodes must increase")
        previous = key
        if row[1] != str(BLENDSHAPE_COUNT):
            raise ArkitCsvError(f"{source}: line {number}: BlendShapeCount must be {BLENDSHAPE_COUNT}")
        try:
            numbers = [float(v) for v in row[2:]]
        except ValueError:
            raise ArkitCsvError(f"{source}: line {number} holds a value that is not a number") from None
        shapes = numbers[:len(ARKIT_SHAPES)]
        if not all(0.0 <= v <= 1.0 for v in shapes):
            raise ArkitCsvError(f"{source}: line {number}: blendshape weights must be within 0-1")
        codes.append(row[0])
        values.append(numbers)
    return ArkitCsv(codes, np.asarray(values, dtype=np.float64).reshape(-1, BLENDSHAPE_COUNT))
