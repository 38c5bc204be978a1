"""Loading audio from files, video tracks and in-memory arrays as 16 kHz mono int16.

The original re-encoded every input with `ffmpeg -ar 16000` before anything else, so decoding
(and resampling) through ffmpeg keeps us faithful: for a 16 kHz mono PCM16 wav nothing changes,
and for anything else we get the same resampler the original used. The bundled ffmpeg from
imageio-ffmpeg is used so that no system install is needed. The user's file is only ever read:
ffmpeg writes raw samples to a pipe, never next to the input.
"""

from __future__ import annotations

import os
import re
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from makeittalk.errors import AudioError

SAMPLE_RATE = 16000

# Extensions we name in messages: a decode failure on one of these means "corrupt", on anything
# else "not an audio/video format ffmpeg understands".
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".wma", ".aiff", ".aif")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv")

# A float array with a peak this far above full scale is almost certainly integer PCM stored as
# float (e.g. int16 values cast to float32); clipping it would silently destroy the audio.
_FLOAT_PEAK_LIMIT = 2.0


class AudioDecodeWarning(UserWarning):
    """ffmpeg decoded a file but reported errors on the way (damaged or truncated data)."""


AudioSource = Union[str, os.PathLike, tuple, "Waveform"]


@dataclass(frozen=True, eq=False)
class Waveform:
    """Mono 16 kHz int16 audio plus a description of where it came from."""

    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE
    source: str = "<array>"

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples)
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise ValueError(f"Waveform.samples must be a 1-D int16 array, got {samples.dtype} {samples.shape}")
        if self.sample_rate != SAMPLE_RATE:
            raise ValueError(f"Waveform.sample_rate must be {SAMPLE_RATE}, got {self.sample_rate}")
        object.__setattr__(self, "samples", samples)

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def num_samples(self) -> int:
        return int(len(self.samples))

    def as_float64(self) -> np.ndarray:
        """Samples / 32768 as float64: what `soundfile.read` returns for the wav (mel/F0 input)."""
        return self.samples.astype(np.float64) / 32768.0

    def as_float32(self) -> np.ndarray:
        """Samples / 32768 as float32: what `librosa.load` returns for the wav (Resemblyzer input)."""
        return self.samples.astype(np.float32) / np.float32(32768.0)

    def __len__(self) -> int:
        return int(len(self.samples))


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg (or $IMAGEIO_FFMPEG_EXE)."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise AudioError("imageio-ffmpeg is not installed; run `pip install imageio-ffmpeg`") from exc
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:  # pragma: no cover - broken installs only
        raise AudioError(f"no ffmpeg binary found ({exc}); reinstall imageio-ffmpeg or set IMAGEIO_FFMPEG_EXE") from exc


def load_audio(source: AudioSource, *, max_seconds: float | None = None) -> Waveform:
    """Load `source` as mono 16 kHz int16.

    `max_seconds` refuses longer audio with AudioTooLongError before it is decoded in full, so
    a small, heavily compressed upload cannot expand into gigabytes of samples.

    `source` is a path (wav, flac, ogg, mp3, m4a, ... or a video file, whose first audio stream
    is used), a `(array, sample_rate)` tuple, or a `Waveform` (returned unchanged). Arrays may be
    float in [-1, 1] or int16/int32/uint8 PCM, mono `(n,)` or multi-channel `(n, ch)` / `(ch, n)`
    (the shorter axis is taken as channels). Multi-channel audio is averaged to mono.

    Raises AudioError with a one-line message naming the input for every unusable input.
    """
    if isinstance(source, Waveform):
        return _check_length(source, max_seconds)
    if isinstance(source, tuple):
        if len(source) != 2:
            raise AudioError(
                f"audio given as a tuple of {len(source)} items; pass (samples_array, sample_rate)"
            )
        return _check_length(_load_array(source[0], source[1]), max_seconds)
    if isinstance(source, (str, os.PathLike)):
        return _check_length(_load_path(Path(source), max_seconds), max_seconds)
    raise AudioError(
        f"cannot load audio from a {type(source).__name__}; pass a file path or a (samples_array, sample_rate) tuple"
    )


class AudioTooLongError(AudioError):
    """Audio longer than a caller's limit (e.g. the web app's)."""


def _check_length(waveform: Waveform, max_seconds: float | None) -> Waveform:
    if max_seconds is not None and waveform.seconds > max_seconds:
        raise AudioTooLongError(
            f"{waveform.source} is longer than {max_seconds:g} s; trim it to at most {max_seconds:g} s"
        )
    return waveform


# --------------------------------------------------------------------------------------------
# Files


def check_audio_path(path: Path) -> None:
    """AudioError unless `path` is a readable, non-empty file (no decoding: cheap enough to run first)."""
    name = str(path)
    if not path.exists():
        raise AudioError(f"audio file {name} does not exist; check the path")
    if path.is_dir():
        raise AudioError(f"{name} is a folder, not an audio file; pass the path of a wav/mp3/flac/... file")
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except PermissionError as exc:
        raise AudioError(f"audio file {name} cannot be read (permission denied); fix its permissions") from exc
    except OSError as exc:
        raise AudioError(f"audio file {name} cannot be read ({exc.strerror}); check the file") from exc
    if size == 0:
        raise AudioError(f"audio file {name} is empty (0 bytes); re-export or re-download it")


def _load_path(path: Path, max_seconds: float | None = None) -> Waveform:
    name = str(path)
    check_audio_path(path)
    samples = _read_pcm16_wav_fast(path, max_seconds)
    if samples is None:
        samples = _decode_with_ffmpeg(path, max_seconds)
    if samples.size == 0:
        raise AudioError(f"audio file {name} contains no audio samples (0 s long); use a recording with sound in it")
    return Waveform(samples=samples, sample_rate=SAMPLE_RATE, source=name)


def _read_pcm16_wav_fast(path: Path, max_seconds: float | None = None) -> np.ndarray | None:
    """Read a 16 kHz mono PCM16 wav directly; None when the file needs ffmpeg.

    ffmpeg would pass such a file through untouched (checked in the tests), so this only saves
    a subprocess.
    """
    if path.suffix.lower() != ".wav":
        return None
    try:
        import soundfile as sf

        info = sf.info(str(path))
        if not (
            info.format == "WAV" and info.subtype == "PCM_16" and info.channels == 1 and info.samplerate == SAMPLE_RATE
        ):
            return None
        if max_seconds is not None and info.frames > max_seconds * SAMPLE_RATE:
            raise AudioTooLongError(f"{path} is longer than {max_seconds:g} s; trim it to at most {max_seconds:g} s")
        data, _ = sf.read(str(path), dtype="int16", always_2d=False)
    except AudioTooLongError:
        raise
    except Exception:
        # Anything odd (unusual header, truncated data, soundfile missing): let ffmpeg decide
        # and produce the error message.
        return None
    return np.ascontiguousarray(data, dtype=np.int16).reshape(-1)


def _decode_with_ffmpeg(path: Path, max_seconds: float | None = None) -> np.ndarray:
    name = str(path)
    exe = ffmpeg_exe()
    cmd = [
        exe, "-nostdin", "-hide_banner", "-loglevel", "error",
        # "file:" keeps ffmpeg from reading a name like "concat:x" or "-x.wav" as a protocol or option.
        "-i", "file:" + str(path.absolute()),
        "-map", "0:a:0",  # the first audio stream; videos and multi-track files alike
        "-vn", "-sn", "-dn",
        # Downmix to mono by averaging. The original kept all channels and then used channel 0
        # for mel/F0 but the channel mean for Resemblyzer; one consistent mono signal is saner.
        "-ac", "1",
        "-ar", str(SAMPLE_RATE),  # the resampling step of the original (`ffmpeg -ar 16000`)
        "-f", "s16le", "-acodec", "pcm_s16le",
    ]  # fmt: skip
    if max_seconds is not None:
        # Decode just past the limit: enough to tell "too long" without holding the whole file.
        cmd += ["-t", f"{max_seconds + 1.0:.3f}"]
    cmd.append("pipe:1")
    try:
        proc = subprocess.run(cmd, capture_output=True, check=False)
    except OSError as exc:  # pragma: no cover - broken ffmpeg binary
        raise AudioError(f"could not run ffmpeg ({exe}) to decode {name}: {exc}; reinstall imageio-ffmpeg") from exc
    stderr = proc.stderr.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        raise _ffmpeg_error(path, stderr)
    if stderr.strip() and proc.stdout:
        # ffmpeg decodes what it can of a damaged file (e.g. a truncated FLAC) and only logs;
        # the audio is usable but the user should know part of it may be missing.
        detail = _last_ffmpeg_line(stderr)
        warnings.warn(
            f"{name}: ffmpeg reported decoding errors ({detail}); the audio may be damaged or cut short",
            AudioDecodeWarning,
            stacklevel=4,
        )
    return np.frombuffer(proc.stdout, dtype="<i2").astype(np.int16, copy=True)


def _ffmpeg_error(path: Path, stderr: str) -> AudioError:
    name = str(path)
    ext = path.suffix.lower()
    detail = _last_ffmpeg_line(stderr)
    low = stderr.lower()
    if "matches no streams" in low or "does not contain any stream" in low:
        if ext in VIDEO_EXTENSIONS:
            return AudioError(
                f"{name} has no audio stream (a video without a sound track); "
                f"use a video with sound, or pass the speech as a separate audio file"
            )
        if ext in AUDIO_EXTENSIONS:
            return AudioError(
                f"audio file {name} contains no audio stream; it is mislabelled or damaged, re-export it"
            )
        kind = "an image or video" if _describe_streams(path) == "video" else "a file"
        return AudioError(
            f"{name} has no audio stream (ffmpeg reads it as {kind} without sound); "
            f"pass an audio file (wav, flac, mp3, ogg, m4a) or a video with a sound track"
        )
    if "permission denied" in low:
        return AudioError(f"audio file {name} cannot be read (permission denied); fix its permissions")
    if ext in AUDIO_EXTENSIONS or ext in VIDEO_EXTENSIONS:
        return AudioError(
            f"audio file {name} could not be decoded: it looks corrupt or truncated (ffmpeg: {detail}); "
            f"re-export it or convert it to a 16-bit WAV"
        )
    return AudioError(
        f"{name} is not an audio or video format that can be decoded (ffmpeg: {detail}); "
        f"convert it to WAV, FLAC, MP3, OGG or M4A"
    )


def _last_ffmpeg_line(stderr: str) -> str:
    """The last line ffmpeg logged, without its "[demuxer @ 0x55...]" context prefixes."""
    lines = [re.sub(r"\[[^\]]*@ 0x[0-9a-fA-F]+\]\s*", "", ln).strip() for ln in stderr.splitlines()]
    lines = [ln for ln in lines if ln]
    return lines[-1] if lines else "no error output"


def _describe_streams(path: Path) -> str:
    """'video' when ffmpeg lists a video stream in the file, else 'other' (error path only)."""
    try:
        proc = subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", "file:" + str(path.absolute())],
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "other"
    text = proc.stderr.decode("utf-8", errors="replace")
    return "video" if "Video:" in text else "other"


# --------------------------------------------------------------------------------------------
# Arrays


def _load_array(array: object, sample_rate: object) -> Waveform:
    try:
        sr = int(sample_rate)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise AudioError(
            f"sample rate {sample_rate!r} is not a number; pass (samples_array, sample_rate_in_hz)"
        ) from None
    if sr <= 0 or sr != sample_rate:
        raise AudioError(f"sample rate {sample_rate!r} is not a positive whole number of Hz; pass e.g. 16000")
    data = np.asarray(array)
    desc = f"<array {data.dtype} {tuple(data.shape)} at {sr} Hz>"
    if data.size == 0:
        raise AudioError(f"audio array {desc} contains no samples (0 s long); pass a non-empty array")
    if data.ndim == 2:
        # (n, ch) as soundfile returns it, or (ch, n) as librosa does: the short axis is channels.
        channel_axis = 0 if data.shape[0] < data.shape[1] else 1
    elif data.ndim == 1:
        channel_axis = None
    else:
        raise AudioError(f"audio array {desc} must be 1-D (mono) or 2-D (multi-channel)")

    if channel_axis is None and data.dtype == np.int16 and sr == SAMPLE_RATE:
        return Waveform(samples=data.astype(np.int16, copy=True), source=desc)

    floats = _to_float(data, desc)
    if channel_axis is not None:
        floats = floats.mean(axis=channel_axis)
    if sr == SAMPLE_RATE:
        samples = _float_to_int16(floats)
    else:
        samples = _resample_with_ffmpeg(floats, sr, desc)
    if samples.size == 0:
        raise AudioError(f"audio array {desc} is shorter than one sample at {SAMPLE_RATE} Hz; pass more audio")
    return Waveform(samples=samples, source=desc)


def _to_float(data: np.ndarray, desc: str) -> np.ndarray:
    kind = data.dtype.kind
    if kind == "f":
        out = data.astype(np.float64)
        if not np.all(np.isfinite(out)):
            raise AudioError(f"audio array {desc} contains NaN or infinite values; clean the signal first")
        peak = float(np.max(np.abs(out)))
        if peak > _FLOAT_PEAK_LIMIT:
            raise AudioError(
                f"float audio array {desc} has peak {peak:g}, far outside [-1, 1]; "
                f"pass int16 PCM as int16, or divide it by 32768"
            )
        return out
    if data.dtype == np.int16:
        return data.astype(np.float64) / 32768.0
    if data.dtype == np.int32:
        return data.astype(np.float64) / 2147483648.0
    if data.dtype == np.uint8:
        return (data.astype(np.float64) - 128.0) / 128.0
    raise AudioError(f"audio array {desc} has unsupported dtype {data.dtype}; use float32/float64 in [-1, 1] or int16")


def _float_to_int16(x: np.ndarray) -> np.ndarray:
    # ffmpeg's float->s16 conversion: lrint(x * 32768) clipped, so arrays and files agree.
    return np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)


def _resample_with_ffmpeg(x: np.ndarray, sr: int, desc: str) -> np.ndarray:
    cmd = [
        ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-f", "f64le", "-ar", str(sr), "-ac", "1", "-i", "pipe:0",
        "-ar", str(SAMPLE_RATE), "-f", "s16le", "-acodec", "pcm_s16le", "pipe:1",
    ]  # fmt: skip
    proc = subprocess.run(cmd, input=np.ascontiguousarray(x, dtype="<f8").tobytes(), capture_output=True, check=False)
    if proc.returncode != 0:
        detail = _last_ffmpeg_line(proc.stderr.decode("utf-8", errors="replace"))
        raise AudioError(
            f"could not resample audio array {desc} to {SAMPLE_RATE} Hz (ffmpeg: {detail}); pass 16 kHz audio"
        )
    return np.frombuffer(proc.stdout, dtype="<i2").astype(np.int16, copy=True)
