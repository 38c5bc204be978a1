"""The streaming mp4 writer produces real H.264 + AAC files and never leaves partial output."""

from __future__ import annotations

import numpy as np
import pytest

from makeittalk.errors import MakeItTalkError
from makeittalk.pipelines.video import VideoSettings, VideoWriter, probe_video


def _tone(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * 32767 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def test_writes_h264_aac_with_matching_duration(tmp_path):
    fps, seconds = 25.0, 2.0
    audio = _tone(seconds)
    out = tmp_path / "clip.mp4"
    with VideoWriter(out, audio_samples=audio, settings=VideoSettings(fps=fps, preset="ultrafast")) as writer:
        for i in range(int(seconds * fps)):
            frame = np.zeros((64, 96, 3), np.uint8)
            frame[:, : (i * 2) % 96] = 200
            writer.write(frame)
    info = probe_video(out)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height) == (96, 64)
    assert info.num_frames == 50
    assert abs(info.video_seconds - seconds) <= 1 / fps
    assert abs(info.audio_seconds - seconds) <= 1 / fps + 0.03  # AAC priming may add a few ms
    assert not list(tmp_path.glob("*.partial.mp4"))


def test_refuses_to_overwrite(tmp_path):
    out = tmp_path / "exists.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(MakeItTalkError, match="already exists"):
        VideoWriter(out, audio_samples=None)
    assert out.read_bytes() == b"keep me"


def test_failure_leaves_no_partial_file(tmp_path):
    out = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, audio_samples=None, settings=VideoSettings(preset="ultrafast")) as writer:
            writer.write(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("renderer crashed")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_odd_frame_size_is_a_clear_error(tmp_path):
    writer = VideoWriter(tmp_path / "odd.mp4", audio_samples=None)
    with pytest.raises(MakeItTalkError, match="even dimensions"):
        writer.write(np.zeros((33, 32, 3), np.uint8))
    writer.abort()


def _has_vp9() -> bool:
    import subprocess

    from makeittalk.pipelines.video import ffmpeg_executable

    listing = subprocess.run([ffmpeg_executable(), "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return "libvpx-vp9" in listing


@pytest.mark.skipif(not _has_vp9(), reason="this ffmpeg has no libvpx-vp9")
def test_vp9_codec_writes_webm_with_alpha_and_opus(tmp_path):
    fps, seconds = 25.0, 1.0
    out = tmp_path / "clip.webm"
    settings = VideoSettings(fps=fps, codec="vp9")
    assert (settings.crf, settings.audio_bitrate) == (30, "96k")  # VP9's own defaults, not H.264's
    with VideoWriter(out, audio_samples=_tone(seconds), settings=settings) as writer:
        with pytest.raises(ValueError, match="RGBA"):
            writer.write(np.zeros((32, 48, 3), np.uint8))
        for i in range(int(seconds * fps)):
            frame = np.zeros((32, 48, 4), np.uint8)
            frame[..., 3] = 128
            frame[:, : i % 48, :3] = 200
            writer.write(frame)
    info = probe_video(out)
    assert (info.video_codec, info.audio_codec) == ("vp9", "opus")
    assert (info.width, info.height, info.num_frames) == (48, 32, 25)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.webm"]


def test_codec_defaults_and_unknown_codec():
    assert (VideoSettings().crf, VideoSettings().audio_bitrate) == (18, "128k")
    assert VideoSettings(crf=23).crf == 23
    with pytest.raises(MakeItTalkError, match="unknown video codec"):
        VideoSettings(codec="av1")


def test_ffmpeg_dying_is_a_clear_error_and_leaves_nothing(tmp_path):
    out = tmp_path / "dies.mp4"
    writer = VideoWriter(out, audio_samples=None, settings=VideoSettings(preset="ultrafast"))
    writer.write(np.zeros((16, 16, 3), np.uint8))  # still in the pipe's buffer: close() flushes it
    writer._process.kill()
    writer._process.wait()
    with pytest.raises(MakeItTalkError, match="ffmpeg failed"):
        writer.close()
    assert list(tmp_path.iterdir()) == []


def test_read_frames_at_returns_the_wanted_frames_in_order(tmp_path):
    from makeittalk.pipelines.video import read_frames_at

    out = tmp_path / "levels.mp4"
    with VideoWriter(out, audio_samples=None, settings=VideoSettings(fps=25)) as writer:
        for level in range(0, 200, 20):  # 10 flat grey frames, each brighter than the last
            writer.write(np.full((32, 48, 3), level, np.uint8))
    got = list(read_frames_at(out, [7, 2, 40, 2]))  # unordered, repeated, and one past the end
    assert [number for number, _ in got] == [2, 7]
    for number, frame in got:
        assert frame.shape == (32, 48, 3) and frame.dtype == np.uint8
        assert abs(float(frame.mean()) - 20 * number) < 3  # H.264 at CRF 18 keeps a flat level
    assert list(read_frames_at(out, [])) == []
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(MakeItTalkError, match="cannot decode .*broken.mp4"):
        list(read_frames_at(broken, [0]))
