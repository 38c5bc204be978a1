"""Live mode: streamed landmarks against offline ones, silence, bounded memory, resampling, and the
`makeittalk live` outputs (y4m on stdout, a fragmented mp4 readable while it grows, stats)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import numpy as np
import pytest

from makeittalk.animation.streaming import StreamConfig, StreamingAnimator
from makeittalk.audio import load_audio
from makeittalk.exports import standard_portrait_points
from makeittalk.exports.measures import measure_face
from makeittalk.pipelines.demo import demo_portrait, demo_speech_path


@pytest.fixture(scope="module")
def animator():
    from makeittalk.animation.engine import LandmarkAnimator

    return LandmarkAnimator.from_pretrained("default")


@pytest.fixture(scope="module")
def speech():
    return load_audio(demo_speech_path())


def _stream(animator, samples, config=StreamConfig(), chunk=320, face=None):
    face = face if face is not None else animator.static_face(standard_portrait_points())
    stream = StreamingAnimator(animator, face, config)
    frames = []
    for start in range(0, len(samples), chunk):
        frames += stream.push(samples[start:start + chunk])
    frames += stream.finish()
    return stream, frames


def test_streamed_lips_follow_the_offline_lips(animator, speech):
    rest = standard_portrait_points()
    face = animator.static_face(rest)
    offline = animator.animate(speech, face, fps=25.0, still=True).landmarks
    for chunk in (160, 1111):  # chunk length must not matter beyond rounding
        _, frames = _stream(animator, speech.samples, StreamConfig(still=True), chunk=chunk, face=face)
        assert [f[0] for f in frames] == list(range(len(offline)))
        assert [f[1] for f in frames] == pytest.approx(np.arange(len(offline)) / 25.0)
        live = np.stack([f[2] for f in frames])
        gap_offline, gap_live = measure_face(offline, rest).lip_gap, measure_face(live, rest).lip_gap
        # The same content windows and network: the opening tracks offline's (r 0.97 measured;
        # the differences are the causal high-pass, the running loudness gain and calibration).
        assert np.corrcoef(gap_offline, gap_live)[0, 1] > 0.93
        assert 0.8 < gap_live.std() / gap_offline.std() < 1.25


def test_each_frame_waits_only_for_its_look_ahead(animator, speech):
    """A frame is emitted once 176 ms (content windows + STFT) + 32 ms (smoothing) + one
    internal frame of audio after its time have arrived, never later."""
    stream = StreamingAnimator(animator, animator.static_face(standard_portrait_points()), StreamConfig())
    worst = 0.0
    received = 0
    for start in range(0, 4 * 16000, 160):
        chunk = speech.samples[start:start + 160]
        received += len(chunk)
        for index, t, _ in stream.push(chunk):
            worst = max(worst, received / 16000 - t)
    assert worst <= 0.176 + 0.032 + 0.016 + 0.04 + 0.011  # + one output frame and one chunk


def test_silence_gives_a_resting_blinking_moving_face(animator):
    rest = standard_portrait_points()
    silence = np.zeros(8 * 16000, dtype=np.int16)
    _, frames = _stream(animator, silence, StreamConfig(blink_rate=30.0))
    live = np.stack([f[2] for f in frames])
    measures = measure_face(live, rest)
    assert measures.lip_gap.max() < 0.03  # the mouth stays shut
    assert measures.eye_open_left.min() < 0.5  # at least one blink in 8 s at 30 a minute
    head = live[:, 27, :2]  # the nose bridge moves a little: not a frozen face
    assert np.ptp(head, axis=0).max() > 0.5


def test_memory_is_bounded_over_a_long_stream(animator, speech):
    stream = StreamingAnimator(animator, animator.static_face(standard_portrait_points()), StreamConfig())

    def sizes():
        return {name: len(value) for name, value in vars(stream).items() if hasattr(value, "__len__")
                and not isinstance(value, (str, np.ndarray))}

    for repeat in range(3):
        for start in range(0, speech.num_samples, 1600):
            stream.push(speech.samples[start:start + 1600])
        if repeat == 0:
            after_one = sizes()
    after_three = sizes()
    grew = {k: (after_one[k], v) for k, v in after_three.items() if v > after_one.get(k, 0)
            and k != "_raw_content"}
    assert not grew, f"buffers that grow with the stream: {grew}"
    assert len(stream._raw_content) <= stream._raw_content.maxlen
    assert stream.mel._buffer.size < 4 * 1024  # only the STFT's history is kept


def test_other_sample_rates_are_resampled_as_they_stream():
    from scipy.signal import resample_poly

    from makeittalk.pipelines.live import as_int16_chunks

    rate = 44100
    t = np.arange(int(1.3 * rate)) / rate
    x = 0.4 * np.sin(2 * np.pi * 440 * t) * np.hanning(len(t))
    chunks = [(x[i:i + 777], rate) for i in range(0, len(x), 777)]
    streamed = np.concatenate(list(as_int16_chunks(chunks))).astype(np.float64) / 32768
    whole = resample_poly(x, 160, 441)
    assert abs(len(streamed) - len(whole)) <= 2
    n = min(len(streamed), len(whole))
    # Away from the edges the chunked filter equals the whole-signal one within int16 rounding
    # and the filter's truncation at chunk joins.
    assert np.abs(streamed[200:n - 200] - whole[200:n - 200]).max() < 2e-3


def test_talking_head_stream_yields_rendered_frames(speech):
    from makeittalk.pipelines.talking_head import TalkingHead

    head = TalkingHead.from_pretrained("default", renderer="warp")
    two_seconds = speech.samples[: 2 * 16000]
    chunks = (two_seconds[i:i + 480] for i in range(0, len(two_seconds), 480))
    frames = list(head.stream(demo_portrait(), chunks, size=128))
    assert len(frames) == 50 and frames[0].image.shape == (128, 128, 3) and frames[0].image.dtype == np.uint8
    assert len({f.image.tobytes() for f in frames}) > 25  # the picture changes as she speaks


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "makeittalk", "live", *args], capture_output=True, **kwargs)


@pytest.fixture(scope="module")
def portrait(tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("live") / "face.png"
    Image.fromarray(demo_portrait()).resize((256, 256)).save(path)
    return path


def _speech_clip(tmp_path_factory, speech, seconds: int):
    import soundfile as sf

    path = tmp_path_factory.mktemp("live_audio") / f"speech{seconds}.wav"
    sf.write(str(path), speech.samples[: seconds * 16000], 16000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def clip_3s(tmp_path_factory, speech):
    return _speech_clip(tmp_path_factory, speech, 3)


def test_live_writes_y4m_to_stdout_with_stats(portrait, clip_3s, tmp_path):
    stats = tmp_path / "stats.json"
    done = _cli(str(portrait), "--input", str(clip_3s), "--output", "-", "--stats", str(stats), "-q", timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    header, _, rest = done.stdout.partition(b"\n")
    assert header.startswith(b"YUV4MPEG2 W256 H256 F25:1")
    frame_bytes = len(b"FRAME\n") + 256 * 256 * 3 // 2
    assert len(rest) == 75 * frame_bytes and rest[:6] == b"FRAME\n"
    summary = json.loads(stats.read_text())
    assert summary["frames"] == 75 and summary["dropped_frames"] == 0 and not summary["realtime"]
    assert set(summary["latency_ms"]) == {"p50", "p95", "max"} and summary["latency_ms"]["p50"] > 0


@pytest.fixture(scope="module")
def clip_6s(tmp_path_factory, speech):
    return _speech_clip(tmp_path_factory, speech, 6)


def test_live_mp4_is_fragmented_and_readable_while_it_grows(portrait, clip_6s, tmp_path):
    from makeittalk.pipelines.video import probe_video

    out = tmp_path / "live.mp4"
    process = subprocess.Popen([sys.executable, "-m", "makeittalk", "live", str(portrait), "--input", str(clip_6s),
                                "--realtime", "--output", str(out), "-q"], stderr=subprocess.PIPE)
    try:
        # Wait for the second fragment (each starts with a 'moof' box; one a second, at each
        # keyframe) while the stream runs: it appears about 2 s into the 6 s clip. (Until ffmpeg
        # flushed each packet, every fragment reached the file only at the end, and this test
        # passed only while the exit was slow enough to be caught.)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if out.is_file() and out.read_bytes().count(b"moof") >= 2:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the stream ended before its file could be read while growing"
        early = tmp_path / "early.mp4"
        shutil.copyfile(out, early)
    finally:
        _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    partial = probe_video(early)
    assert partial.video_codec == "h264" and partial.num_frames >= 25  # a playable second, mid-stream
    info = probe_video(out)
    assert info.video_codec == "h264" and info.audio_codec == "aac" and abs(info.video_seconds - 6.0) < 0.1


def test_live_refuses_bad_inputs_in_one_line(portrait, clip_3s, tmp_path):
    existing = tmp_path / "taken.mp4"
    existing.write_bytes(b"mine")
    for args, expected in (([], "--input AUDIO, --mic or --text"),
                           (["--input", str(clip_3s), "--output", str(existing)], "--overwrite"),
                           (["--input", str(clip_3s), "--output", str(tmp_path / "x.webm")], ".mp4"),
                           (["--input", str(tmp_path / "none.wav")], "none.wav")):
        done = _cli(str(portrait), *args, timeout=120, text=True)
        assert done.returncode == 2 and expected in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert existing.read_bytes() == b"mine"
