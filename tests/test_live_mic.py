"""`makeittalk live --mic` through a real audio stack: PortAudio (sounddevice) -> ALSA -> a private
PulseAudio server whose null sink plays the speech; its monitor is the default microphone.

The sound card is the only thing replaced: PulseAudio's null sink runs on its own real-time clock,
so the microphone delivers 20 ms blocks at wall-clock pace as a card would. The tests need Debian's
pulseaudio, pulseaudio-utils (pacat), libasound2-plugins (ALSA's pulse device) and libportaudio2;
`.ci/run` installs them.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from makeittalk.audio import load_audio
from makeittalk.pipelines.demo import demo_portrait, demo_speech_path

FPS = 25


def _audio_stack_missing() -> str | None:
    for tool in ("pulseaudio", "pacat", "pactl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install pulseaudio pulseaudio-utils)"
    if not glob.glob("/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so"):
        return "ALSA's pulse plugin is not installed (apt-get install libasound2-plugins)"
    try:
        import sounddevice

        del sounddevice
    except (ImportError, OSError) as exc:
        return f"sounddevice/PortAudio missing: {exc}"
    return None


@pytest.fixture(scope="module")
def audio_env(tmp_path_factory):
    """A private PulseAudio server with a null sink; the environment that makes it the default device."""
    missing = _audio_stack_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the microphone tests must run in CI: {missing}")
        pytest.skip(missing)
    root = tmp_path_factory.mktemp("pulse")
    home, runtime = root / "home", root / "run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    # Only this HOME's ALSA config is read besides the system's: the default device is PulseAudio.
    (home / ".asoundrc").write_text("pcm.!default { type pulse }\nctl.!default { type pulse }\n")
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(runtime),
               PULSE_SERVER=f"unix:{runtime}/native", PYTHONUNBUFFERED="1")
    server = subprocess.Popen(
        ["pulseaudio", "--daemonize=no", "-n", "--exit-idle-time=-1", "--disable-shm=yes", "--log-target=stderr",
         f"--load=module-native-protocol-unix socket={runtime}/native auth-anonymous=1",
         "--load=module-null-sink sink_name=speaker", "--load=module-always-sink"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"PulseAudio did not start: {server.stderr.read().decode(errors='replace')[-2000:]}")
        time.sleep(0.1)
    subprocess.run(["pactl", "set-default-source", "speaker.monitor"], env=env, check=True)
    yield env
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(scope="module")
def portrait(tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("mic") / "face.png"
    Image.fromarray(demo_portrait()).resize((256, 256)).save(path)
    return path


@pytest.fixture(scope="module")
def speech_raw(tmp_path_factory):
    samples = np.asarray(load_audio(demo_speech_path()).samples)[: 5 * 16000]
    path = tmp_path_factory.mktemp("mic_audio") / "speech.raw"
    samples.astype("<i2").tofile(path)
    return path, samples.astype(np.float64)


class _LiveProcess:
    """`makeittalk live --mic ...` with its stderr read line by line, so a test can wait for a line."""

    def __init__(self, env, *args):
        self.process = subprocess.Popen([sys.executable, "-m", "makeittalk", "live", *args],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stderr:
            self.lines.append(line)
            if "listening to" in line:
                self._listening.set()
        self._listening.set()  # the process ended: stop waiting

    def wait_listening(self, timeout=180):
        assert self._listening.wait(timeout) and self.process.poll() is None, "".join(self.lines)

    def finish(self, timeout=180):
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=30)
        return self.process.returncode, "".join(self.lines)


def _play(env, raw):
    return subprocess.Popen(["pacat", "--playback", "--raw", "--format=s16le", "--rate=16000", "--channels=1",
                             "--device=speaker", str(raw)], env=env)


def _envelope(samples, frames):
    per = 16000 // FPS
    return np.array([np.sqrt(np.mean(samples[i * per:(i + 1) * per] ** 2)) if i * per < len(samples) else 0.0
                     for i in range(frames)])


def _aligned(recorded, played):
    """The recorded audio's offset into the played speech (samples; > 0: it starts later) and r there."""
    c = np.correlate(recorded, played, "full")
    lag = int(np.argmax(np.abs(c))) - (len(played) - 1)
    a, b = (recorded[lag:], played) if lag >= 0 else (recorded, played[-lag:])
    n = min(len(a), len(b))
    return lag, float(np.corrcoef(a[:n], b[:n])[0, 1])


def test_mic_streams_the_speech_into_a_talking_mp4(audio_env, portrait, speech_raw, tmp_path):
    from makeittalk.pipelines.video import probe_video, read_frames_at

    raw, played = speech_raw
    out, stats = tmp_path / "mic.mp4", tmp_path / "mic.json"
    # --still: no head motion, so what changes in the mouth box is the mouth.
    live = _LiveProcess(audio_env, str(portrait), "--mic", "--duration", "4", "--still", "--output", str(out),
                        "--stats", str(stats))
    live.wait_listening()
    player = _play(audio_env, raw)
    code, log = live.finish()
    player.wait(timeout=60)
    assert code == 0, log
    summary = json.loads(stats.read_text())
    assert summary["realtime"] and summary["audio_seconds"] == pytest.approx(4.0, abs=1e-3)
    assert summary["frames"] + summary["dropped_frames"] == 4 * FPS
    info = probe_video(out)
    assert info.video_codec == "h264" and info.audio_codec == "aac"

    # The mp4's sound is what the microphone heard: the speech, from where listening began.
    recorded = np.asarray(load_audio(out).samples, dtype=np.float64)
    lag, r = _aligned(recorded, played)
    assert r > 0.9, (lag, r)
    heard = np.zeros(4 * 16000)
    start = max(lag, 0)
    piece = played[max(-lag, 0):max(-lag, 0) + len(heard) - start]
    heard[start:start + len(piece)] = piece

    # The mouth moves with the sound: mouth-box change from the resting frame against loudness.
    frames = np.stack([f for _, f in read_frames_at(out, range(info.num_frames))]).astype(np.float64)
    mouth = frames[:, 84:120, 70:114].mean(axis=3)  # the 256x256 demo face's lips (x 77-106, y 89-100) and chin
    change = np.abs(mouth - mouth[0]).mean(axis=(1, 2))
    loudness = _envelope(heard, len(frames))
    assert change.max() > 4.0, change.max()
    assert np.corrcoef(change, loudness)[0, 1] > 0.4  # 0.71 measured


def test_ctrl_c_finishes_the_mp4_and_the_stats(audio_env, portrait, speech_raw, tmp_path):
    from makeittalk.pipelines.video import probe_video

    raw, _ = speech_raw
    out, stats = tmp_path / "stopped.mp4", tmp_path / "stopped.json"
    live = _LiveProcess(audio_env, str(portrait), "--mic", "--output", str(out), "--stats", str(stats))
    live.wait_listening()
    player = _play(audio_env, raw)
    try:
        # Stop once the second fragment (one a second) is in the file: the stream is well under way.
        deadline = time.monotonic() + 120
        while out.read_bytes().count(b"moof") < 2 if out.is_file() else True:
            assert time.monotonic() < deadline and live.process.poll() is None, "".join(live.lines)
            time.sleep(0.05)
        live.process.send_signal(signal.SIGINT)
        code, log = live.finish()
    finally:
        player.kill()
        player.wait()
    assert code == 0, log
    summary = json.loads(stats.read_text())
    info = probe_video(out)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    drawn = summary["frames"] + summary["dropped_frames"]
    assert drawn >= 2 * FPS and abs(info.num_frames - drawn) <= 1, (info, summary)
    assert "Traceback" not in log


def test_a_missing_microphone_is_one_line_naming_the_fix(audio_env, portrait):
    done = subprocess.run([sys.executable, "-m", "makeittalk", "live", str(portrait), "--mic",
                           "--mic-device", "no-such-microphone"], env=audio_env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "no-such-microphone" in done.stderr and "--mic-device" in done.stderr and "--input" in done.stderr
