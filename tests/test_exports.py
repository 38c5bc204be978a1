"""Animators' exports: the shape rule on hand-made mouths, Rhubarb's layouts byte for byte, the
ARKit CSV layout, and real exports from the shipped weights parsed back by the validators."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from makeittalk.exports import (
    FORMATS,
    ExportFormatError,
    check_export_output,
    parse_export_spec,
    read_export,
    standard_portrait_points,
)
from makeittalk.exports import arkit, rhubarb
from makeittalk.exports.measures import measure_face
from makeittalk.exports.mouth_cues import (
    MouthCue,
    classify_shapes,
    mouth_cues,
    parse_extended_shapes,
    speech_activity,
    target_shape,
)

REST = standard_portrait_points()
D = float(np.linalg.norm(REST[45, :2] - REST[36, :2]))
LOWER_INNER = [65, 66, 67]
LOWER_OUTER = [55, 56, 57, 58, 59]
CHIN = [5, 6, 7, 8, 9, 10, 11]
MOUTH = list(range(48, 68))


def mouth(gap: float = 0.0, *, width: float = 1.0, lower_lip: float = 1.0, jaw: float | None = None,
          eyes: float = 1.0, smile: float = 0.0) -> np.ndarray:
    """The standard face with its mouth posed: `gap` inner-lip opening in eye distances D, `width`
    x the rest mouth width, `lower_lip` x the rest lower-lip thickness, `jaw` chin drop (default:
    the gap, as when the jaw opens the mouth), `eyes` x the rest lid gap, `smile` corner rise."""
    face = REST.copy()
    jaw = gap if jaw is None else jaw
    face[LOWER_INNER, 1] += gap * D
    face[LOWER_OUTER, 1] += gap * D
    face[CHIN, 1] += jaw * D
    thickness = face[57, 1] - face[66, 1]
    face[LOWER_OUTER, 1] -= (1.0 - lower_lip) * thickness
    centre = face[MOUTH, 0].mean()
    face[MOUTH, 0] = centre + (face[MOUTH, 0] - centre) * width
    face[[48, 54], 1] -= smile * D
    for top, bottom in ((37, 41), (38, 40), (43, 47), (44, 46)):
        middle = (face[top, 1] + face[bottom, 1]) / 2
        half = (face[bottom, 1] - face[top, 1]) / 2 * eyes
        face[top, 1], face[bottom, 1] = middle - half, middle + half
    return face


# Each shape of Rhubarb's set, posed as its description says (lengths in eye distances D).
HAND_MADE = {
    "A": mouth(0.0),                          # lips together
    "B": mouth(0.04),                         # slightly open
    "C": mouth(0.08),                         # open
    "D": mouth(0.16),                         # wide open
    "E": mouth(0.08, width=0.85),             # rounded and open
    "F": mouth(0.03, width=0.85),             # puckered
    "G": mouth(0.01, lower_lip=0.5),          # lower lip tucked under the upper teeth
    "H": mouth(0.095, jaw=0.0),               # lips apart, jaw high (held L)
}


@pytest.mark.parametrize("shape", sorted(HAND_MADE))
def test_every_shape_is_classified_from_its_hand_made_mouth(shape):
    assert classify_shapes(measure_face(HAND_MADE[shape][None], REST))[0] == shape


def test_the_shape_rule_ignores_head_motion_and_portrait_size():
    # The same mouths, turned 8 degrees, moved and scaled 3x: the eye-corner alignment undoes it.
    angle = np.deg2rad(8)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = np.stack([(HAND_MADE[s][:, :2] @ rotation.T) * 3 + [40, -25] for s in sorted(HAND_MADE)])
    shapes = classify_shapes(measure_face(moved, REST[:, :2] * 3))
    assert "".join(shapes) == "".join(sorted(HAND_MADE))


def test_silence_is_x_and_speech_keeps_its_shapes():
    rate = 16000
    t = np.arange(int(1.6 * rate)) / rate
    audio = 0.3 * np.sin(2 * np.pi * 220 * t)
    audio[int(0.5 * rate):int(1.1 * rate)] = 0.0  # a 0.6 s pause in the middle
    frames = np.stack([HAND_MADE["D"]] * 160)  # 1.6 s at 100 fps, mouth wide open throughout
    cues = mouth_cues(frames, REST, 100.0, samples=audio, sample_rate=rate)
    assert [c.shape for c in cues] == ["D", "X", "D"]
    assert cues[1].start == pytest.approx(0.5, abs=0.03) and cues[1].end == pytest.approx(1.1, abs=0.03)
    assert cues[0].start == 0.0 and cues[-1].end == 1.6


def test_short_pauses_are_bridged_and_edges_are_not():
    rate = 100.0
    audio = np.ones(int(2 * 16000)) * 0.3
    audio[: 16000 // 10] = 0  # 0.1 s lead-in: X even though short
    audio[16000:16000 + 16000 // 10] = 0  # a 0.1 s pause inside speech: bridged
    active = speech_activity(audio, 16000, int(2 * rate), rate)
    assert not active[:8].any() and active[12:].all()


def test_extended_shape_sets_replace_as_rhubarb_does():
    assert parse_extended_shapes(None) == "GHX"
    assert parse_extended_shapes("xg") == "GX"
    assert parse_extended_shapes("") == ""
    with pytest.raises(ValueError, match="G, H and X"):
        parse_extended_shapes("GQ")
    assert [target_shape(s, "") for s in "ABCDEFGHX"] == list("ABCDEFBCA")
    assert [target_shape(s, "GHX") for s in "ABCDEFGHX"] == list("ABCDEFGHX")


CUES = [MouthCue(0.0, 0.22, "X"), MouthCue(0.22, 0.45, "A"), MouthCue(0.45, 0.5, "G"), MouthCue(0.5, 1.0, "D")]


def test_tsv_layout_is_rhubarbs():
    assert rhubarb.tsv_text(CUES) == "0.00\tX\n0.22\tA\n0.45\tG\n0.50\tD\n1.00\tX\n"
    # Without X, the final closed mouth is A.
    assert rhubarb.tsv_text(CUES, extended="GH").endswith("1.00\tA\n")


def test_json_layout_is_rhubarbs():
    assert rhubarb.json_text(CUES[:2], sound_file="C:\\voice \"1\".wav") == (
        '{\n'
        '  "metadata": {\n'
        '    "soundFile": "C:\\\\voice \\"1\\".wav",\n'
        '    "duration": 0.45\n'
        '  },\n'
        '  "mouthCues": [\n'
        '    { "start": 0.00, "end": 0.22, "value": "X" },\n'
        '    { "start": 0.22, "end": 0.45, "value": "A" }\n'
        '  ]\n'
        '}\n')


def test_xml_layout_is_rhubarbs():
    assert rhubarb.xml_text(CUES[:2], sound_file="a&b.wav") == (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rhubarbResult>\n'
        '  <metadata>\n'
        '    <soundFile>a&amp;b.wav</soundFile>\n'
        '    <duration>0.45</duration>\n'
        '  </metadata>\n'
        '  <mouthCues>\n'
        '    <mouthCue start="0.00" end="0.22">X</mouthCue>\n'
        '    <mouthCue start="0.22" end="0.45">A</mouthCue>\n'
        '  </mouthCues>\n'
        '</rhubarbResult>\n')


def test_moho_dat_layout_frame_rates_and_both_name_sets():
    # Frame = 1 + int(fps * start); a cue landing on the previous key's frame is skipped.
    assert rhubarb.dat_text(CUES) == "MohoSwitch1\n1 X\n6 A\n11 G\n13 D\n25 X\n"
    assert rhubarb.dat_text(CUES, frame_rate=100) == "MohoSwitch1\n1 X\n23 A\n46 G\n51 D\n101 X\n"
    assert rhubarb.dat_text(CUES, preston_blair=True) == "MohoSwitch1\n1 rest\n6 MBP\n11 FV\n13 AI\n25 rest\n"
    assert rhubarb.dat_text([MouthCue(0.0, 0.01, "D"), MouthCue(0.01, 0.02, "A")]) == "MohoSwitch1\n1 D\n2 X\n"
    with pytest.raises(ValueError, match="between 24 and 100"):
        rhubarb.dat_text(CUES, frame_rate=12)


def test_validators_reject_broken_files():
    with pytest.raises(rhubarb.CueFileError):
        rhubarb.parse_tsv("0.00\tX\n0.30\tQ\n0.50\tX\n")
    with pytest.raises(rhubarb.CueFileError):
        rhubarb.parse_tsv("0.0\tX\n0.50\tX\n")  # one decimal
    with pytest.raises(rhubarb.CueFileError):
        rhubarb.parse_json('{"metadata": {"soundFile": "", "duration": 1.00}, "mouthCues": '
                           '[{"start": 0.00, "end": 0.40, "value": "A"}, {"start": 0.50, "end": 1.00, "value": "B"}]}')
    with pytest.raises(rhubarb.CueFileError):
        rhubarb.parse_dat("MohoSwitch\n1 X\n")
    with pytest.raises(rhubarb.CueFileError):
        rhubarb.parse_dat("MohoSwitch1\n5 A\n3 X\n")
    good = rhubarb.parse_tsv(rhubarb.tsv_text(CUES))
    assert good.cues == CUES and good.duration == 1.0


def test_arkit_header_is_live_link_faces_and_weights_follow_the_face():
    assert arkit.HEADER[:4] == ("Timecode", "BlendShapeCount", "EyeBlinkLeft", "EyeLookDownLeft")
    assert arkit.HEADER[-9:] == arkit.ROTATIONS and len(arkit.ARKIT_SHAPES) == 52 and arkit.BLENDSHAPE_COUNT == 61
    frames = np.stack([REST, mouth(0.2, jaw=0.25), mouth(0.0, jaw=0.2), mouth(0.0, eyes=0.0),
                       mouth(0.0, smile=0.07), mouth(0.01, width=0.85), mouth(0.08, width=0.85)])
    table = arkit.arkit_table(frames, REST)
    # abs=1e-3: the hand-made poses scale x only, so a width ratio is 0.85 within ~1e-5, not exactly.
    col = {name: table[:, k] for k, name in enumerate(arkit.ARKIT_SHAPES + arkit.ROTATIONS)}
    assert np.abs(table[0]).max() < 1e-9  # the rest face is all zeros
    assert col["JawOpen"][1] == pytest.approx(1.0, abs=1e-3) and col["MouthClose"][1] == pytest.approx(0.0, abs=1e-3)
    # The jaw open with the lips held together: mouthClose, as ARKit defines it.
    assert col["JawOpen"][2] == pytest.approx(0.8, abs=1e-3) and col["MouthClose"][2] == pytest.approx(0.8, abs=1e-3)
    assert col["EyeBlinkLeft"][3] == pytest.approx(1.0, abs=1e-3) and col["EyeBlinkRight"][3] == pytest.approx(1.0, abs=1e-3)
    assert col["MouthSmileLeft"][4] == pytest.approx(1.0, abs=1e-3) and col["MouthSmileRight"][4] == pytest.approx(1.0, abs=1e-3)
    # Rounded lips, nearly closed: pucker; rounded and open: funnel.
    assert col["MouthPucker"][5] > 0.6 and col["MouthFunnel"][5] < 0.2
    assert col["MouthFunnel"][6] == pytest.approx(1.0, abs=1e-3) and col["MouthPucker"][6] == pytest.approx(0.0, abs=1e-3)
    unfilled = [k for k, name in enumerate(arkit.ARKIT_SHAPES) if name not in arkit.FILLED]
    assert not table[:, unfilled].any()


def test_arkit_timecodes():
    assert arkit.timecode(0, 60) == "00:00:00:00.000"
    assert arkit.timecode(61, 60) == "00:00:01:01.000"
    assert arkit.timecode(60 * 3600 + 59, 60) == "01:00:00:59.000"
    assert arkit.timecode(3, 62.5) == "00:00:00:03.000"


def test_export_specs_and_outputs_fail_early(tmp_path):
    assert parse_export_spec("arkit-csv:out/face.csv").format == "arkit-csv"
    with pytest.raises(ExportFormatError, match="FORMAT:OUT"):
        parse_export_spec("cues.tsv")
    with pytest.raises(ExportFormatError, match="choose one of"):
        parse_export_spec("rhubarb-yaml:cues.yaml")
    existing = tmp_path / "cues.tsv"
    existing.write_text("mine")
    with pytest.raises(Exception, match="--overwrite"):
        check_export_output("rhubarb-tsv", existing, overwrite=False)
    with pytest.raises(Exception, match=".npy"):
        check_export_output("landmarks-npy", tmp_path / "x.json", overwrite=False)


@pytest.fixture(scope="module")
def demo_exports(tmp_path_factory):
    """Every format exported from the demo speech with the shipped weights (one network load)."""
    from makeittalk.audio import load_audio
    from makeittalk.pipelines.demo import demo_speech_path
    from makeittalk.pipelines.talking_head import TalkingHead

    folder = tmp_path_factory.mktemp("exports")
    head = TalkingHead.from_pretrained("default", renderer="warp")
    speech = demo_speech_path()
    paths = {}
    for fmt in FORMATS:
        suffix = {"landmarks-json": ".json", "landmarks-npy": ".npy"}.get(fmt, "." + fmt.split("-")[1])
        paths[fmt] = head.export(speech, fmt, folder / f"demo-{fmt}{suffix}",
                                 fps=25.0 if fmt.startswith("landmarks") else None)
    return paths, load_audio(speech)


def test_every_format_exported_from_real_speech_parses_back(demo_exports):
    paths, speech = demo_exports
    for fmt in ("rhubarb-tsv", "rhubarb-json", "rhubarb-xml"):
        parsed = read_export(fmt, paths[fmt])
        assert parsed.duration == pytest.approx(speech.seconds, abs=0.011)
    tsv, js, xml = (read_export(f, paths[f]) for f in ("rhubarb-tsv", "rhubarb-json", "rhubarb-xml"))
    assert tsv.cues == js.cues == xml.cues
    assert js.sound_file.endswith("demo_speech.wav")
    rows = read_export("moho-dat", paths["moho-dat"])
    assert rows[0] == (1, "X") and rows[-1][1] == "X"
    table = read_export("arkit-csv", paths["arkit-csv"])
    assert len(table.timecodes) == pytest.approx(speech.seconds * 60, abs=2)
    assert table.column("JawOpen").max() > 0.2  # the jaw really moves
    landmarks = read_export("landmarks-json", paths["landmarks-json"])
    assert read_export("landmarks-npy", paths["landmarks-npy"], fps=25.0).num_frames == landmarks.num_frames


def test_demo_cues_change_while_speaking_and_rest_in_pauses(demo_exports):
    paths, speech = demo_exports
    cues = read_export("rhubarb-tsv", paths["rhubarb-tsv"]).cues
    active = speech_activity(speech.samples, speech.sample_rate, int(round(speech.seconds * 100)), 100.0)
    # Every whole second of uninterrupted speech holds at least one change of shape.
    boundaries = np.array([c.start for c in cues[1:]])
    start = None
    spans = []
    for i, on in enumerate(np.append(active, False)):
        if on and start is None:
            start = i
        elif not on and start is not None:
            spans.append((start / 100, i / 100))
            start = None
    checked = 0
    for begin, end in spans:
        t = begin
        while t + 1.0 <= end:
            assert ((boundaries > t) & (boundaries < t + 1.0)).any(), f"no shape change in {t:.2f}-{t + 1:.2f} s"
            t += 0.5
            checked += 1
    assert checked >= 5
    # Pauses of 0.2 s or more are X (the demo has several).
    for begin, end in zip([0.0] + [e for _, e in spans], [b for b, _ in spans] + [speech.seconds]):
        if end - begin >= 0.3:
            middle = (begin + end) / 2
            assert any(c.shape == "X" and c.start <= middle <= c.end for c in cues), f"no X at {middle:.2f} s"
    assert {c.shape for c in cues} >= {"A", "B", "C", "X"}


def test_export_cli_writes_atomically_and_never_overwrites(tmp_path):
    from makeittalk.pipelines.demo import demo_speech_path

    out = tmp_path / "cues.json"
    command = [sys.executable, "-m", "makeittalk", "export", str(demo_speech_path()), "--format", "rhubarb-json",
               "-o", str(out), "--extended-shapes", "", "-q"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    parsed = read_export("rhubarb-json", out)
    assert not {c.shape for c in parsed.cues} & set("GHX")  # basic shapes only
    assert json.loads(out.read_text())["metadata"]["duration"] == parsed.duration
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and "--overwrite" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["cues.json"]  # no temporary file left behind
