"""The Python API `TalkingHead`: real videos from rule-filled original weights (the motion is
garbage, the pipeline is real): sync, sizes, caching, progress, atomic output, read-only inputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from makeittalk.errors import MakeItTalkError
from makeittalk.pipelines.progress import STAGES, JsonProgress, ProgressEvent
from makeittalk.pipelines.talking_head import RenderResult, TalkingHead, output_size, parse_size
from makeittalk.pipelines.video import probe_video
from original_checkpoints import weights_home_with_rule_filled_set

SET_NAME = "rulefilled-th"
SECONDS = 1.6


@pytest.fixture(scope="module")
def weights_home(reference_dir, tmp_path_factory) -> Path:
    return weights_home_with_rule_filled_set(reference_dir, tmp_path_factory, SET_NAME)


@pytest.fixture(autouse=True)
def _use_home(weights_home, monkeypatch):
    monkeypatch.setenv("MAKEITTALK_HOME", str(weights_home))


@pytest.fixture(scope="module")
def head(weights_home) -> TalkingHead:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MAKEITTALK_HOME", str(weights_home))
        return TalkingHead.from_pretrained(SET_NAME, device="cpu")


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, int]:
    from makeittalk.audio import load_audio
    from makeittalk.pipelines.demo import demo_speech_path

    samples = load_audio(demo_speech_path()).samples
    return samples[: int(SECONDS * 16000)].copy(), 16000


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, speech) -> Path:
    """A read-only-by-contract input folder: astronaut photo (odd size) and speech."""
    import soundfile as sf
    from PIL import Image
    from skimage import data

    folder = tmp_path_factory.mktemp("inputs")
    Image.fromarray(data.astronaut()[:401, 60:481]).save(folder / "astronaut.png")  # 421x401: odd sides
    sf.write(str(folder / "speech.wav"), speech[0], speech[1], subtype="PCM_16")
    return folder


def check_video(path: Path, *, audio_seconds: float, fps: float, size: tuple[int, int]) -> None:
    info = probe_video(path)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert (info.width, info.height) == size and info.width % 2 == 0 and info.height % 2 == 0
    assert info.num_frames == math.ceil(audio_seconds * fps - 1e-9)
    assert abs(info.video_seconds - audio_seconds) <= 1.0 / fps + 1e-6
    assert abs(info.audio_seconds - audio_seconds) < 0.05


def test_import_makeittalk_stays_light_and_exports_talking_head():
    import subprocess
    import sys

    code = ("import sys, makeittalk; assert 'torch' not in sys.modules, 'torch imported'; "
            "from makeittalk import TalkingHead; print(TalkingHead.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "TalkingHead"


def test_sizes():
    assert output_size((421, 401)) == (420, 400)
    assert output_size((512, 512), 300) == (300, 300)
    assert output_size((1000, 500), 301) == (300, 150)
    assert output_size((640, 480), "322x243") == (322, 244)
    assert parse_size("640x480") == (640, 480) and parse_size(None) is None
    with pytest.raises(MakeItTalkError, match="WIDTHxHEIGHT"):
        parse_size("big")


def test_render_photo_with_warp_array_inputs_and_events(head, speech, tmp_path):
    from skimage import data

    events: list[ProgressEvent] = []
    out = tmp_path / "astro.mp4"
    result = head.render(data.astronaut(), speech, out, fps=25, progress=events.append)
    assert isinstance(result, RenderResult)
    assert result.video == out and out.is_file()
    assert result.renderer == "warp" and "no translator" in result.reason
    assert result.weights == SET_NAME
    assert result.num_frames == result.landmarks.num_frames == math.ceil(SECONDS * 25)
    assert result.size == (512, 512) and result.audio_seconds == pytest.approx(SECONDS)
    check_video(out, audio_seconds=SECONDS, fps=25, size=(512, 512))
    # Stages in order, each started and finished; the rendering stage counts frames with an ETA.
    seen = [e.stage for e in events]
    order = [s for s in STAGES if s in seen]
    assert order == ["face", "audio features", "landmarks", "rendering", "encoding", "done"]
    assert [seen.index(s) for s in order] == sorted(seen.index(s) for s in order)
    # The audio features are computed while the face is found, but their events wait for the
    # face stage to end: each stage's events form one run.
    runs = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert runs == order
    frames = [e for e in events if e.stage == "rendering" and e.done is not None]
    assert frames[0].total == result.num_frames and frames[-1].done == result.num_frames
    assert frames[-1].fraction == 1.0 and all(e.eta_seconds is None or e.eta_seconds >= 0 for e in frames)
    assert any("warp renderer" in e.message and "no translator" in e.message for e in events)
    assert events[-1].stage == "done" and str(out) in events[-1].message
    assert set(result.timings) >= {"face", "audio features", "landmarks", "rendering", "encoding"}
    # Nothing else was written next to the output.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["astro.mp4"]


def test_odd_sized_file_portrait_keeps_framing_inputs_untouched(head, inputs, tmp_path):
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in inputs.iterdir()}
    out = tmp_path / "out.mp4"
    saved = tmp_path / "out.json"
    result = head.render(inputs / "astronaut.png", inputs / "speech.wav", out, save_landmarks=saved, seed=3)
    check_video(out, audio_seconds=SECONDS, fps=25, size=(420, 400))
    # inputs are read-only: same files, same bytes, nothing added beside them
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in inputs.iterdir()}
    assert after == before
    from makeittalk.animation import load_landmarks

    loaded = load_landmarks(saved)
    assert loaded.num_frames == result.num_frames and loaded.image_size == (421, 401)
    np.testing.assert_allclose(loaded.landmarks, result.landmarks.landmarks, atol=1e-6)
    assert result.landmarks_file == saved


def test_size_option_scales_the_video(head, inputs, tmp_path):
    out = tmp_path / "small.mp4"
    result = head.render(inputs / "astronaut.png", inputs / "speech.wav", out, size=211, fps=10, still=True)
    assert result.size == (212, 200)
    check_video(out, audio_seconds=SECONDS, fps=10, size=(212, 200))


def test_landmarks_match_the_animator_and_portraits_are_prepared_once(head, inputs, monkeypatch):
    import makeittalk.face as face_module

    calls = []
    real = face_module.detect_landmarks

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(face_module, "detect_landmarks", counting)
    head._cache.clear()
    portrait = inputs / "astronaut.png"
    first = head.landmarks(portrait, inputs / "speech.wav", fps=25, seed=1)
    again = head.landmarks(portrait, inputs / "speech.wav", fps=25, seed=1)
    assert len(calls) == 1  # cached: same file, same detector
    assert head.prepare_portrait(portrait) is head.prepare_portrait(str(portrait))
    np.testing.assert_array_equal(first.landmarks, again.landmarks)
    # Exactly what `makeittalk landmarks` computes for the detected face.
    prepared = head.prepare_portrait(portrait)
    direct = head.animator.animate(inputs / "speech.wav", prepared.landmarks, fps=25, seed=1, image_size=(421, 401))
    np.testing.assert_array_equal(first.landmarks, direct.landmarks)
    assert first.image_size == (421, 401) and first.num_frames == math.ceil(SECONDS * 25)


def test_interrupted_render_leaves_no_file(head, inputs, tmp_path):
    out = tmp_path / "interrupted.mp4"

    def stop(event: ProgressEvent) -> None:
        if event.stage == "rendering" and (event.done or 0) >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        head.render(inputs / "astronaut.png", inputs / "speech.wav", out, progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(head, inputs, tmp_path):
    out = tmp_path / "exists.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(MakeItTalkError, match="already exists"):
        head.render(inputs / "astronaut.png", inputs / "speech.wav", out)
    assert out.read_bytes() == b"keep me"
    head.render(inputs / "astronaut.png", inputs / "speech.wav", out, overwrite=True, fps=5)
    assert probe_video(out).num_frames == math.ceil(SECONDS * 5)


def test_output_equal_to_an_input_is_refused_even_with_overwrite(head, inputs, tmp_path):
    video_audio = tmp_path / "talk.mp4"  # speech inside an mp4 is a valid audio input
    video_audio.write_bytes(b"not really a video")
    with pytest.raises(MakeItTalkError, match="is the audio"):
        head.render(inputs / "astronaut.png", video_audio, video_audio, overwrite=True)
    assert video_audio.read_bytes() == b"not really a video"
    points = tmp_path / "face.json"
    points.write_text(json.dumps(_face_for(64)[:, :2].tolist()))
    with pytest.raises(MakeItTalkError, match="is the face-landmarks file"):
        head.render(inputs / "astronaut.png", inputs / "speech.wav", tmp_path / "out.mp4", face_landmarks=points,
                    save_landmarks=points, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.json", "talk.mp4"]


def test_cartoon_puppet_webm_keeps_alpha(head, speech, tmp_path):
    import subprocess

    from renderer.puppet import Puppet
    from renderer.synthetic import draw_cartoon_face

    from makeittalk.pipelines.video import ffmpeg_executable

    toon = draw_cartoon_face(256, transparent=True)
    Puppet.create(toon.image, toon.landmarks, style="cartoon", name="toon").save(tmp_path / "toon")
    out = tmp_path / "toon.webm"
    result = head.render(tmp_path / "toon", speech, out, fps=10)
    assert result.renderer == "warp" and "cartoon" in result.reason
    log = subprocess.run([ffmpeg_executable(), "-hide_banner", "-i", str(out)], capture_output=True, text=True).stderr
    assert "Video: vp9" in log and "alpha_mode" in log and "Audio: opus" in log
    frame = subprocess.run(
        [ffmpeg_executable(), "-loglevel", "error", "-c:v", "libvpx-vp9", "-i", str(out), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "rgba", "-"], capture_output=True, check=True).stdout
    rgba = np.frombuffer(frame, np.uint8).reshape(256, 256, 4)
    assert rgba[2, 2, 3] < 10  # transparent around the character
    assert rgba[128, 128, 3] > 245  # opaque face


def test_cartoon_on_a_background_colour_in_mp4(head, speech, tmp_path):
    from renderer.synthetic import draw_cartoon_face

    toon = draw_cartoon_face(256, transparent=True)
    out = tmp_path / "toon.mp4"
    result = head.render(toon.image, speech, out, fps=10, background="#2040ff", face_landmarks=toon.landmarks)
    assert result.renderer == "warp"
    check_video(out, audio_seconds=SECONDS, fps=10, size=(256, 256))
    import subprocess

    from makeittalk.pipelines.video import ffmpeg_executable

    raw = subprocess.run([ffmpeg_executable(), "-loglevel", "error", "-i", str(out), "-frames:v", "1", "-f",
                          "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    corner = np.frombuffer(raw, np.uint8).reshape(256, 256, 3)[4, 4].astype(int)
    assert np.abs(corner - [0x20, 0x40, 0xFF]).max() < 12


def test_json_progress_lines(head, speech, tmp_path):
    import io

    stream = io.StringIO()
    head.render(np.full((64, 64, 3), 200, np.uint8), speech, tmp_path / "flat.mp4", fps=5,
                face_landmarks=_face_for(64), progress=JsonProgress(stream, job=1))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0] == {"stage": "face", "fraction": 0.0, "job": 1}
    assert lines[-1]["stage"] == "done" and lines[-1]["fraction"] == 1.0
    assert any(line.get("done") == line.get("total") == 8 for line in lines)


def test_translator_request_without_translator_names_the_fix(head, speech, tmp_path):
    from makeittalk.errors import MissingStageError

    with pytest.raises(MissingStageError, match="has no translator"):
        head.render(np.full((64, 64, 3), 200, np.uint8), speech, tmp_path / "x.mp4", renderer="translator",
                    face_landmarks=_face_for(64))
    assert list(tmp_path.iterdir()) == []


def _face_for(size: int) -> np.ndarray:
    from makeittalk.pipelines.translator_render import canonical_face

    return np.c_[canonical_face(size) * 0.8 + size * 0.1, np.zeros(68)]


def test_webm_without_vp9_in_ffmpeg_says_so(head, speech, tmp_path, monkeypatch):
    import makeittalk.pipelines.frame_sources as sources
    from makeittalk.pipelines.video import ffmpeg_executable

    monkeypatch.setitem(sources._VP9_STATUS, ffmpeg_executable(), False)
    with pytest.raises(MakeItTalkError, match="no VP9 encoder"):
        head.render(np.full((64, 64, 3), 200, np.uint8), speech, tmp_path / "x.webm", face_landmarks=_face_for(64))
    assert list(tmp_path.iterdir()) == []


def test_landmarks_for_another_image_size_are_refused(head, speech, tmp_path):
    from makeittalk.animation import LandmarkSequence

    face = _face_for(64)
    sequence = LandmarkSequence(landmarks=np.repeat(face[None], 5, 0), fps=25, audio_seconds=0.2, image_size=(128, 128))
    with pytest.raises(MakeItTalkError, match="for a 128x128 image"):
        head.render(np.full((64, 64, 3), 200, np.uint8), speech, tmp_path / "x.mp4", face_landmarks=face,
                    landmarks=sequence)


def test_landmarks_for_other_audio_are_refused(head, speech, tmp_path):
    from makeittalk.animation import LandmarkSequence

    face = _face_for(64)
    sequence = LandmarkSequence(landmarks=np.repeat(face[None], 100, 0), fps=25, audio_seconds=4.0, image_size=(64, 64))
    with pytest.raises(MakeItTalkError, match="made for 4.00 s of audio but the audio is 1.60 s"):
        head.render(np.full((64, 64, 3), 200, np.uint8), speech, tmp_path / "x.mp4", face_landmarks=face,
                    landmarks=sequence)
    assert list(tmp_path.iterdir()) == []
    fits = LandmarkSequence(landmarks=np.repeat(face[None], 33, 0), fps=25, audio_seconds=1.32, image_size=(64, 64))
    result = head.render(np.full((64, 64, 3), 200, np.uint8), speech, tmp_path / "ok.mp4", face_landmarks=face,
                         landmarks=fits)  # ends 0.28 s early, as compat="original" does: allowed
    assert result.num_frames == 33


def test_a_portrait_without_a_face_fails_with_no_worker_left_running(head, speech, tmp_path):
    import threading

    from makeittalk.errors import FaceNotFoundError

    blank = np.full((256, 256, 3), 128, np.uint8)
    with pytest.raises(FaceNotFoundError):
        head.render(blank, speech, tmp_path / "none.mp4")
    assert not any(t.name.startswith("makeittalk-audio-features") for t in threading.enumerate())
    assert not (tmp_path / "none.mp4").exists()
