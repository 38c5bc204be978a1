"""Loading audio: real files in every supported container, arrays, and every bad input."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from makeittalk.audio import SAMPLE_RATE, Waveform, load_audio
from makeittalk.audio.io import AudioDecodeWarning, _decode_with_ffmpeg, ffmpeg_exe
from makeittalk.errors import AudioError, MakeItTalkError


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _snapshot(path: Path) -> tuple[bytes, int, set[str]]:
    return path.read_bytes(), path.stat().st_mtime_ns, set(os.listdir(path.parent))


def _best_correlation(x: np.ndarray, ref: np.ndarray) -> float:
    n = min(len(x), len(ref))
    a = x[:n].astype(np.float64)
    b = ref[:n].astype(np.float64)
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module")
def speech(reference_dir: Path) -> Path:
    return reference_dir / "speech_16k.wav"


@pytest.fixture(scope="module")
def speech_int16(reference_dir: Path) -> np.ndarray:
    return np.load(reference_dir / "audio_frontend.npz")["wav_in_int16"]


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, speech: Path) -> dict[str, Path]:
    """Real files made from speech_16k.wav with the bundled ffmpeg."""
    out = tmp_path_factory.mktemp("encoded")
    files = {
        "flac": out / "speech.flac",
        "ogg": out / "speech.ogg",
        "mp3": out / "speech.mp3",
        "m4a": out / "speech.m4a",
        "wav44_stereo": out / "speech_44k_stereo.wav",
        "mp4": out / "talk.mp4",
        "mp4_silent": out / "no_sound.mp4",
    }
    _ffmpeg("-i", str(speech), str(files["flac"]))
    _ffmpeg("-i", str(speech), "-c:a", "libvorbis", str(files["ogg"]))
    _ffmpeg("-i", str(speech), "-c:a", "libmp3lame", str(files["mp3"]))
    _ffmpeg("-i", str(speech), "-c:a", "aac", str(files["m4a"]))
    _ffmpeg("-i", str(speech), "-ar", "44100", "-ac", "2", str(files["wav44_stereo"]))
    testsrc = ["-f", "lavfi", "-i", "testsrc=size=64x64:rate=10"]
    _ffmpeg(*testsrc, "-i", str(speech), "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
            str(files["mp4"]))  # fmt: skip
    _ffmpeg(*testsrc, "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(files["mp4_silent"]))
    return files


# ------------------------------------------------------------------------------------------
# Good files


def test_wav_matches_fixture_and_ffmpeg(speech: Path, speech_int16: np.ndarray) -> None:
    before = _snapshot(speech)
    wave = load_audio(speech)
    assert isinstance(wave, Waveform)
    assert wave.sample_rate == SAMPLE_RATE == 16000
    assert wave.samples.dtype == np.int16 and wave.samples.ndim == 1
    np.testing.assert_array_equal(wave.samples, speech_int16)
    assert wave.seconds == pytest.approx(73284 / 16000)
    assert str(speech) in wave.source
    np.testing.assert_array_equal(wave.as_float64(), np.load(speech.parent / "audio_frontend.npz")["wav_in"])
    # The soundfile fast path must give exactly what the ffmpeg path (the original's resampler) gives.
    np.testing.assert_array_equal(_decode_with_ffmpeg(speech), wave.samples)
    assert _snapshot(speech) == before


def test_flac_is_lossless(encoded: dict[str, Path], speech_int16: np.ndarray) -> None:
    wave = load_audio(encoded["flac"])
    np.testing.assert_array_equal(wave.samples, speech_int16)


@pytest.mark.parametrize("kind", ["ogg", "mp3", "m4a", "mp4"])
def test_lossy_and_video_tracks(kind: str, encoded: dict[str, Path], speech_int16: np.ndarray) -> None:
    path = encoded[kind]
    before = _snapshot(path)
    wave = load_audio(path)
    assert wave.sample_rate == 16000 and wave.samples.dtype == np.int16
    # ffmpeg trims encoder delay/padding (LAME tag, MP4 edit list), so the length is exact.
    assert abs(len(wave) - len(speech_int16)) <= 16
    assert _best_correlation(wave.samples, speech_int16) > 0.97
    assert _snapshot(path) == before


def test_44k_stereo_resamples_to_16k_mono(encoded: dict[str, Path], speech_int16: np.ndarray) -> None:
    path = encoded["wav44_stereo"]
    info = sf.info(str(path))
    assert (info.samplerate, info.channels) == (44100, 2)
    wave = load_audio(path)
    assert wave.sample_rate == 16000 and wave.samples.ndim == 1
    assert abs(len(wave) - len(speech_int16)) <= 2
    assert _best_correlation(wave.samples, speech_int16) > 0.999


def test_path_with_odd_characters(tmp_path: Path, encoded: dict[str, Path], speech_int16: np.ndarray) -> None:
    odd = tmp_path / "-concat:odd name é.flac"
    odd.write_bytes(encoded["flac"].read_bytes())
    np.testing.assert_array_equal(load_audio(str(odd)).samples, speech_int16)


def test_waveform_passthrough_and_validation(speech_int16: np.ndarray) -> None:
    wave = Waveform(samples=speech_int16)
    assert load_audio(wave) is wave
    with pytest.raises(ValueError):
        Waveform(samples=speech_int16.astype(np.float32))
    with pytest.raises(ValueError):
        Waveform(samples=speech_int16, sample_rate=44100)


# ------------------------------------------------------------------------------------------
# Arrays


def test_int16_array(speech_int16: np.ndarray) -> None:
    wave = load_audio((speech_int16, 16000))
    np.testing.assert_array_equal(wave.samples, speech_int16)
    assert wave.samples is not speech_int16  # a copy: later edits of the caller's array do not leak in


def test_float_array_quantises_like_ffmpeg(speech_int16: np.ndarray) -> None:
    rng = np.random.RandomState(0)
    x = (speech_int16 / 32768.0 + rng.uniform(-0.4, 0.4, speech_int16.shape) / 32768).astype(np.float32)
    x[:4] = [1.0, -1.0, 1.2, -1.3]  # mild overs clip, as ffmpeg clips them
    wave = load_audio((x, 16000))
    proc = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "f32le", "-ar", "16000", "-ac", "1", "-i", "pipe:0",
         "-f", "s16le", "pipe:1"],
        input=x.tobytes(), capture_output=True, check=True,
    )  # fmt: skip
    np.testing.assert_array_equal(wave.samples, np.frombuffer(proc.stdout, dtype="<i2"))
    assert wave.samples[:4].tolist() == [32767, -32768, 32767, -32768]
    # float in [-1, 1] made from int16 comes back bit-exactly
    np.testing.assert_array_equal(load_audio((speech_int16 / 32768.0, 16000)).samples, speech_int16)


@pytest.mark.parametrize("layout", ["frames_channels", "channels_frames"])
def test_multichannel_array_downmixes(layout: str, speech_int16: np.ndarray) -> None:
    x = speech_int16.astype(np.float64) / 32768.0
    stereo = np.stack([x, 0.5 * x], axis=1)
    if layout == "channels_frames":
        stereo = stereo.T
    wave = load_audio((stereo.astype(np.float32), 16000))
    assert len(wave) == len(x)
    expected = np.clip(np.rint(0.75 * speech_int16.astype(np.float32).astype(np.float64)), -32768, 32767)
    assert np.max(np.abs(wave.samples - expected)) <= 1


def test_array_resampled_with_ffmpeg(speech_int16: np.ndarray, encoded: dict[str, Path]) -> None:
    data, sr = sf.read(str(encoded["wav44_stereo"]), dtype="float32")
    wave = load_audio((data, sr))
    assert wave.sample_rate == 16000
    assert abs(len(wave) - len(speech_int16)) <= 2
    assert _best_correlation(wave.samples, speech_int16) > 0.999


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ((np.zeros(0, np.float32), 16000), "no samples"),
        ((np.array([0.1, np.nan], np.float32), 16000), "NaN"),
        ((np.full(100, 300.0), 16000), "divide it by 32768"),
        ((np.zeros(100, np.complex64), 16000), "unsupported dtype"),
        ((np.zeros((2, 3, 4), np.float32), 16000), "1-D"),
        ((np.zeros(100, np.float32), 0), "sample rate"),
        ((np.zeros(100, np.float32), "fast"), "sample rate"),
        ((np.zeros(100, np.float32),), "tuple"),
        (12345, "int"),
    ],
)
def test_bad_arrays(source: object, fragment: str) -> None:
    with pytest.raises(AudioError, match=fragment):
        load_audio(source)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# Bad files: one-line AudioError naming the file, and the file untouched


def _assert_fails(path: Path, fragment: str) -> AudioError:
    existed = path.exists()
    before = _snapshot(path) if existed and path.is_file() else None
    with pytest.raises(AudioError) as info:
        load_audio(path)
    message = str(info.value)
    assert str(path) in message, message
    assert fragment in message, message
    assert "\n" not in message
    assert isinstance(info.value, MakeItTalkError)
    if before is not None:
        assert _snapshot(path) == before
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    _assert_fails(tmp_path / "nope.wav", "does not exist")
    assert not (tmp_path / "nope.wav").exists()


def test_folder(tmp_path: Path) -> None:
    _assert_fails(tmp_path, "is a folder")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    _assert_fails(path, "empty (0 bytes)")


@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (44100, 2)])
def test_zero_length_audio(tmp_path: Path, rate: int, channels: int) -> None:
    path = tmp_path / f"zero_{rate}.wav"
    sf.write(str(path), np.zeros((0, channels), np.int16), rate, subtype="PCM_16")
    assert path.stat().st_size > 0
    _assert_fails(path, "no audio samples")


def test_zero_length_flac(tmp_path: Path) -> None:
    path = tmp_path / "zero.flac"
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "0", str(path))
    assert path.stat().st_size > 0  # a valid FLAC header and no frames
    _assert_fails(path, "no audio samples")


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".m4a", ".flac"])
def test_random_bytes_are_corrupt(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(np.random.RandomState(0).bytes(5000))
    _assert_fails(path, "corrupt")


def test_truncated_m4a_is_corrupt(tmp_path: Path, encoded: dict[str, Path]) -> None:
    data = encoded["m4a"].read_bytes()
    path = tmp_path / "cut.m4a"
    path.write_bytes(data[: len(data) // 2])  # the moov atom is at the end: nothing is decodable
    _assert_fails(path, "corrupt")


def test_truncated_flac_warns_but_loads(tmp_path: Path, encoded: dict[str, Path]) -> None:
    data = encoded["flac"].read_bytes()
    path = tmp_path / "cut.flac"
    path.write_bytes(data[: len(data) // 2])
    with pytest.warns(AudioDecodeWarning, match="cut.flac"):
        wave = load_audio(path)
    assert 0 < len(wave) < 73284


def test_video_without_audio(encoded: dict[str, Path]) -> None:
    _assert_fails(encoded["mp4_silent"], "no audio stream")


def test_unsupported_formats(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("this is not audio\n" * 50)
    err = _assert_fails(text, "no audio stream")
    assert "pass an audio file" in str(err)
    blob = tmp_path / "data.xyz"
    blob.write_bytes(np.random.RandomState(1).bytes(4000))
    _assert_fails(blob, "not an audio or video format")


def test_loading_never_writes_next_to_the_input(encoded: dict[str, Path]) -> None:
    folder = encoded["mp3"].parent
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}
    for key in ("flac", "ogg", "mp3", "m4a", "wav44_stereo", "mp4"):
        load_audio(encoded[key])
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}
    assert after == before


def test_max_seconds_refuses_long_audio_without_decoding_it_all(tmp_path):
    """A length limit is enforced on the wav fast path and on ffmpeg-decoded formats alike."""
    from makeittalk.audio import AudioTooLongError

    rate = 16000
    tone = (0.2 * 32767 * np.sin(2 * np.pi * 200 * np.arange(rate * 30) / rate)).astype(np.int16)
    wav = tmp_path / "long.wav"
    sf.write(str(wav), tone, rate, subtype="PCM_16")
    mp3 = tmp_path / "long.mp3"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(wav), str(mp3)], check=True)
    for path in (wav, mp3):
        with pytest.raises(AudioTooLongError, match="longer than 10 s"):
            load_audio(path, max_seconds=10)
        assert load_audio(path, max_seconds=60).seconds == pytest.approx(30, abs=0.1)
    with pytest.raises(AudioTooLongError):
        load_audio((tone, rate), max_seconds=5)
