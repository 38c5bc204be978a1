"""Text instead of a recording: the CLI flags, the web app's text box, and lips that close on the
/p b m/ that espeak-ng says it spoke."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from makeittalk.app.config import AppConfig
from makeittalk.app.service import AppService, RenderRequest, standard_points_in
from makeittalk.errors import AudioError

pytestmark = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v espeak-ng"], capture_output=True).returncode != 0,
    reason="espeak-ng is not installed (.ci/run installs it)",
)


def _cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "makeittalk", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_render_hello_world_makes_an_h264_aac_video_whose_mouth_moves(tmp_path):
    from PIL import Image

    from makeittalk.animation.export import load_landmarks
    from makeittalk.audio import load_audio
    from makeittalk.exports.measures import measure_face
    from makeittalk.pipelines.demo import demo_portrait
    from makeittalk.pipelines.video import probe_video

    face = tmp_path / "face.png"
    Image.fromarray(demo_portrait()).save(face)
    video, saved, landmarks = tmp_path / "hi.mp4", tmp_path / "hi.wav", tmp_path / "hi.json"
    done = _cli("render", str(face), "--text", "Hello world", "-o", str(video), "--save-audio", str(saved),
                "--save-landmarks", str(landmarks), "--size", "256", "-q")
    assert done.returncode == 0, done.stderr
    info = probe_video(video)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    speech = load_audio(saved)
    assert abs(info.audio_seconds - speech.seconds) < 0.1 and 0.6 < speech.seconds < 3.0
    sequence = load_landmarks(landmarks)
    gap = measure_face(sequence.landmarks, sequence.landmarks[0]).lip_gap
    # The inner lips part by several percent of the eye distance while speaking.
    assert np.ptp(gap) > 0.03, f"the mouth barely moves: inner-lip gap range {np.ptp(gap):.4f} eye distances"


def test_text_flags_fail_early_with_one_line(tmp_path):
    out = tmp_path / "x.mp4"
    cases = [
        (["render", "face.png", "speech.wav", "--text", "hi", "-o", str(out)], "not both"),
        (["render", "face.png", "--text", "hi", "--text-file", "t.txt", "-o", str(out)], "--text or --text-file"),
        (["render", "face.png", "speech.wav", "--voice", "de", "-o", str(out)], "apply to --text"),
        (["export", "--text", "   ", "--format", "rhubarb-tsv", "-o", str(tmp_path / "c.tsv")], "text"),
        (["export", "--text", "hi", "--voice", "nosuchvoice", "--format", "rhubarb-tsv",
          "-o", str(tmp_path / "c.tsv")], "voice"),
        (["landmarks", "--text-file", str(tmp_path / "missing.txt"), "--image", "face.png",
          "-o", str(tmp_path / "l.json")], "missing.txt"),
    ]
    for args, expected in cases:
        done = _cli(*args, timeout=120)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], (args, done.stderr)
    assert not list(tmp_path.iterdir())


def test_export_from_text_in_german_saves_its_audio(tmp_path):
    from makeittalk.audio import load_audio
    from makeittalk.exports import read_export

    cues, wav = tmp_path / "hallo.xml", tmp_path / "hallo.wav"
    done = _cli("export", "--text", "Guten Morgen, meine Damen und Herren.", "--voice", "de",
                "--format", "rhubarb-xml", "-o", str(cues), "--save-audio", str(wav), "-q")
    assert done.returncode == 0, done.stderr
    parsed = read_export("rhubarb-xml", cues)
    assert parsed.sound_file == str(wav.resolve())
    assert parsed.duration == pytest.approx(load_audio(wav).seconds, abs=0.011)
    assert len({c.shape for c in parsed.cues}) >= 3


def test_the_app_speaks_typed_text(tmp_path):
    service = AppService(AppConfig(work_dir=tmp_path / "work", puppets_dir=tmp_path / "puppets",
                                   max_audio_seconds=8, max_text_chars=200))
    waveform = service.speech(None, "Good morning", "en")
    assert 0.5 < waveform.seconds < 3
    with pytest.raises(AudioError, match="not both"):
        service.speech(str(tmp_path / "a.wav"), "Good morning")
    with pytest.raises(AudioError, match="at most 200"):
        service.speech(None, "word " * 60)
    with pytest.raises(AudioError, match="longer than the 8 s"):
        service.speech(None, "This sentence is long. " * 8)
    from PIL import Image

    image = tmp_path / "plain.png"
    Image.fromarray(np.full((300, 360, 3), 180, np.uint8)).save(image)
    outcome = service.render(RenderRequest(portrait=str(image), audio=None, text="Good morning", voice="en",
                                           points=standard_points_in(360, 300), fps=20, still=True))
    # Within a phone's length: espeak-ng's library keeps state between calls, so a later synthesis
    # of the same text can differ by ~1 % (one phone ~20 ms longer).
    assert outcome.video.is_file() and outcome.result.audio_seconds == pytest.approx(waveform.seconds, abs=0.1)


def test_lips_close_on_the_bilabials_espeak_reports(tmp_path):
    """espeak-ng's own phone timings: the predicted mouth is more closed on /p b m/ than on vowels."""
    from makeittalk.audio.tts import synthesize
    from makeittalk.exports import standard_portrait_points
    from makeittalk.exports.measures import measure_face
    from makeittalk.pipelines.talking_head import TalkingHead

    speech = synthesize("Bob bought a map. Mum made a pie for baby Pam. Maybe Mabel will bring a big bowl.",
                        voice="en")
    assert speech.phones, "espeak-ng gave no phone timings"
    head = TalkingHead.from_pretrained("default", renderer="warp")
    rest = standard_portrait_points()
    fps = 100.0
    sequence = head.animator.animate(speech.waveform, head.animator.static_face(rest), fps=fps, still=True,
                                     blink=False, image_size=(256, 256))
    gap = measure_face(sequence.landmarks, rest).lip_gap

    def window_min(phone) -> float:
        # The smallest gap within the phone (plus 40 ms: lips lead and trail the sound by a frame or so).
        a = max(0, int((phone.start - 0.04) * fps))
        b = min(len(gap), int(np.ceil((phone.end + 0.04) * fps)) + 1)
        return float(gap[a:b].min())

    def window_max(phone) -> float:
        a, b = int(phone.start * fps), max(int(phone.start * fps) + 1, int(np.ceil(phone.end * fps)))
        return float(gap[a:b].max())

    bilabial = [window_min(p) for p in speech.phones if p.kind == "bilabial"]
    vowels = [window_max(p) for p in speech.phones if p.kind == "vowel"]
    assert len(bilabial) >= 12 and len(vowels) >= 15
    # Lips are (nearly) shut on most bilabials, and clearly more shut than on the vowels.
    assert np.median(bilabial) < 0.5 * np.median(vowels), (np.median(bilabial), np.median(vowels))
    assert np.mean(np.asarray(bilabial) < 0.025) >= 0.6
