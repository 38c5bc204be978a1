"""Rhubarb Lip Sync's output files: tsv, json, xml and Moho's switch .dat, written and parsed.

The layouts follow Rhubarb 1.x's exporters field for field: times in seconds with two decimals
(its centisecond grid); tsv lists each cue's start and ends with the end time and the rest
shape; json and xml carry `metadata` (the absolute sound-file path and the duration) and
`mouthCues` (start, end, shape); the .dat starts with `MohoSwitch1` and lists
`<1-based frame> <mouth name>` at `--dat-frame-rate` (24-100, default 24), skipping cues that
fall on the frame before them, and ends with the rest mouth one frame after the last cue.
Mouth names are Rhubarb's letters, or with Preston Blair names A MBP, B etc, C E, D AI, E O,
F U, G FV, H L, X rest.

The parsers read these files back (tests use them as validators): they check the layout, the
letters, and that the cues are contiguous from 0 to the duration.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from makeittalk.exports.mouth_cues import BASIC_SHAPES, EXTENDED_SHAPES, MouthCue, target_shape

PRESTON_BLAIR = {"A": "MBP", "B": "etc", "C": "E", "D": "AI", "E": "O", "F": "U", "G": "FV", "H": "L", "X": "rest"}
DAT_MIN_FPS, DAT_MAX_FPS = 24.0, 100.0
_ALL_SHAPES = set(BASIC_SHAPES + EXTENDED_SHAPES)


class CueFileError(ValueError):
    """A cue file that does not have Rhubarb's layout."""


@dataclass(frozen=True)
class CueFile:
    cues: list[MouthCue]
    duration: float
    sound_file: str | None = None


def _t(seconds: float) -> str:
    return f"{seconds:.2f}"


def _end(cues: list[MouthCue]) -> float:
    return cues[-1].end if cues else 0.0


def _or_dummy(cues: list[MouthCue], extended: str) -> list[MouthCue]:
    # As Rhubarb's dummyShapeIfEmpty: an empty animation is one zero-length rest mouth.
    return cues or [MouthCue(0.0, 0.0, target_shape("X", extended))]


def tsv_text(cues: list[MouthCue], *, extended: str = EXTENDED_SHAPES) -> str:
    lines = [f"{_t(cue.start)}\t{cue.shape}" for cue in cues]
    lines.append(f"{_t(_end(cues))}\t{target_shape('X', extended)}")
    return "\n".join(lines) + "\n"


def json_text(cues: list[MouthCue], *, sound_file: str, extended: str = EXTENDED_SHAPES) -> str:
    head = ("{\n"
            '  "metadata": {\n'
            f'    "soundFile": {json.dumps(sound_file, ensure_ascii=False)},\n'
            f'    "duration": {_t(_end(cues))}\n'
            "  },\n"
            '  "mouthCues": [\n')
    body = ",\n".join(f'    {{ "start": {_t(c.start)}, "end": {_t(c.end)}, "value": "{c.shape}" }}'
                      for c in _or_dummy(cues, extended))
    return head + body + "\n  ]\n}\n"


def xml_text(cues: list[MouthCue], *, sound_file: str, extended: str = EXTENDED_SHAPES) -> str:
    # Boost.PropertyTree's write_xml with (' ', 2) indentation, as Rhubarb writes it.
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<rhubarbResult>", "  <metadata>",
             f"    <soundFile>{escape(sound_file)}</soundFile>", f"    <duration>{_t(_end(cues))}</duration>",
             "  </metadata>", "  <mouthCues>"]
    lines += [f'    <mouthCue start="{_t(c.start)}" end="{_t(c.end)}">{c.shape}</mouthCue>'
              for c in _or_dummy(cues, extended)]
    lines += ["  </mouthCues>", "</rhubarbResult>"]
    return "\n".join(lines) + "\n"


def check_dat_frame_rate(frame_rate: float) -> float:
    frame_rate = float(frame_rate)
    if not DAT_MIN_FPS <= frame_rate <= DAT_MAX_FPS:
        raise ValueError(f"the .dat frame rate must be between {DAT_MIN_FPS:g} and {DAT_MAX_FPS:g} fps "
                         f"(as Rhubarb's --datFrameRate), got {frame_rate:g}")
    return frame_rate


def _dat_frame(seconds: float, frame_rate: float) -> int:
    # Rhubarb: 1 + int(frameRate * seconds); Moho frames are 1-based. The tiny epsilon keeps
    # 0.29 s at 100 fps on frame 30, where binary floats would truncate to 29.
    return 1 + int(math.floor(frame_rate * seconds + 1e-9))


def dat_text(cues: list[MouthCue], *, frame_rate: float = 24.0, preston_blair: bool = False,
             extended: str = EXTENDED_SHAPES) -> str:
    frame_rate = check_dat_frame_rate(frame_rate)
    name = (lambda shape: PRESTON_BLAIR[shape]) if preston_blair else (lambda shape: shape)
    lines = ["MohoSwitch1"]
    last = 0
    for cue in cues:
        frame = _dat_frame(cue.start, frame_rate)
        if frame == last:
            continue
        lines.append(f"{frame} {name(cue.shape)}")
        last = frame
    frame = _dat_frame(_end(cues), frame_rate)
    if frame == last:
        frame += 1
    lines.append(f"{frame} {name(target_shape('X', extended))}")
    return "\n".join(lines) + "\n"


# ---- parsers (validators) -----------------------------------------------------------------


def _checked(cues: list[MouthCue], duration: float, source: str) -> CueFile:
    previous_end = 0.0
    for k, cue in enumerate(cues):
        if cue.shape not in _ALL_SHAPES:
            raise CueFileError(f"{source}: cue {k + 1} has the shape {cue.shape!r}, not one of A-H or X")
        if abs(cue.start - previous_end) > 0.005 or cue.end < cue.start:
            raise CueFileError(f"{source}: cue {k + 1} ({cue.start:.2f}-{cue.end:.2f}) does not follow the "
                               f"previous cue's end {previous_end:.2f}")
        previous_end = cue.end
    if cues and abs(previous_end - duration) > 0.005:
        raise CueFileError(f"{source}: the cues end at {previous_end:.2f}, not at the duration {duration:.2f}")
    return CueFile(cues=cues, duration=duration)


def _time(text: str, source: str) -> float:
    if not text or text.count(".") != 1 or len(text.split(".")[1]) != 2:
        raise CueFileError(f"{source}: {text!r} is not a time with two decimals")
    try:
        return float(text)
    except ValueError:
        raise CueFileError(f"{source}: {text!r} is not a time") from None


def parse_tsv(text: str, source: str = "tsv") -> CueFile:
    rows = [line.split("\t") for line in text.splitlines()]
    if len(rows) < 1 or any(len(row) != 2 for row in rows):
        raise CueFileError(f"{source}: every line must be '<start>\\t<shape>'")
    starts = [_time(row[0], source) for row in rows]
    shapes = [row[1] for row in rows]
    if shapes[-1] not in ("X", "A"):
        raise CueFileError(f"{source}: the last line must close the mouth (X, or A without extended X)")
    cues = [MouthCue(starts[k], starts[k + 1], shapes[k]) for k in range(len(rows) - 1)]
    return _checked(cues, starts[-1], source)


def parse_json(text: str, source: str = "json") -> CueFile:
    try:
        data = json.loads(text)
        sound_file = data["metadata"]["soundFile"]
        duration = float(data["metadata"]["duration"])
        cues = [MouthCue(float(c["start"]), float(c["end"]), str(c["value"])) for c in data["mouthCues"]]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CueFileError(f"{source}: not Rhubarb's JSON layout ({exc})") from None
    if set(data) != {"metadata", "mouthCues"}:
        raise CueFileError(f"{source}: the top level must hold exactly 'metadata' and 'mouthCues'")
    cues = [c for c in cues if not (c.start == c.end == 0.0 and duration == 0.0)]
    parsed = _checked(cues, duration, source)
    return CueFile(parsed.cues, parsed.duration, sound_file)


def parse_xml(text: str, source: str = "xml") -> CueFile:
    if not text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<rhubarbResult>'):
        raise CueFileError(f"{source}: not Rhubarb's XML layout (declaration and <rhubarbResult> root)")
    try:
        root = ElementTree.fromstring(text.encode("utf-8"))
        sound_file = root.findtext("metadata/soundFile") or ""
        duration = float(root.findtext("metadata/duration"))
        cues = [MouthCue(_time(e.get("start", ""), source), _time(e.get("end", ""), source), (e.text or "").strip())
                for e in root.findall("mouthCues/mouthCue")]
    except (ElementTree.ParseError, TypeError, ValueError) as exc:
        raise CueFileError(f"{source}: not Rhubarb's XML layout ({exc})") from None
    cues = [c for c in cues if not (c.start == c.end == 0.0 and duration == 0.0)]
    parsed = _checked(cues, duration, source)
    return CueFile(parsed.cues, parsed.duration, sound_file)


def parse_dat(text: str, source: str = "dat", *, preston_blair: bool | None = None) -> list[tuple[int, str]]:
    """(frame, mouth name) rows of a Moho switch file; names are checked against both sets."""
    lines = text.splitlines()
    if not lines or lines[0] != "MohoSwitch1":
        raise CueFileError(f"{source}: a Moho switch file starts with the line 'MohoSwitch1'")
    rows = []
    for number, line in enumerate(lines[1:], 2):
        parts = line.split(" ")
        if len(parts) != 2 or not parts[0].isdigit():
            raise CueFileError(f"{source}: line {number} must be '<frame> <mouth>', got {line!r}")
        rows.append((int(parts[0]), parts[1]))
    if not rows:
        raise CueFileError(f"{source}: no keys after 'MohoSwitch1'")
    frames = [frame for frame, _ in rows]
    if frames[0] < 1 or any(b <= a for a, b in zip(frames, frames[1:])):
        raise CueFileError(f"{source}: frames must start at 1 or later and increase")
    names = {name for _, name in rows}
    letter_set, blair_set = _ALL_SHAPES, set(PRESTON_BLAIR.values())
    allowed = blair_set if preston_blair else letter_set if preston_blair is False else None
    if allowed is None:
        allowed = blair_set if names <= blair_set else letter_set
    if not names <= allowed:
        raise CueFileError(f"{source}: unknown mouth names {sorted(names - allowed)}")
    if rows[-1][1] not in ("X", "A", "rest", "MBP"):
        raise CueFileError(f"{source}: the last key must be the rest mouth")
    return rows


PARSERS = {"rhubarb-tsv": parse_tsv, "rhubarb-json": parse_json, "rhubarb-xml": parse_xml}


def read_cue_file(path: str | Path, fmt: str) -> CueFile:
    text = Path(path).read_text(encoding="utf-8")
    return PARSERS[fmt](text, str(path))
