"""Streaming H.264/AAC mp4 writer on top of the ffmpeg that imageio-ffmpeg ships.

Frames go straight to ffmpeg's stdin as they are rendered, so memory does not grow with
video length. Output is written to a temporary file beside the target and renamed only when
ffmpeg succeeds: an interrupted render never leaves a half-written mp4 under the user's name.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from makeittalk.errors import MakeItTalkError
from makeittalk.fileio import current_umask, check_output_path, publish


def ffmpeg_executable() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def write_wav(path: Path, samples_int16: np.ndarray, sample_rate: int) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(np.ascontiguousarray(samples_int16, dtype="<i2").tobytes())


@dataclass(frozen=True)
class VideoSettings:
    fps: float = 25.0
    crf: int = 18
    preset: str = "medium"
    audio_bitrate: str = "128k"


class VideoWriter:
    """Write RGB frames plus a mono int16 audio track to an mp4 (H.264 yuv420p + AAC).

    Use as a context manager; `write(frame)` takes (H, W, 3) uint8 frames. The frame size is
    fixed by the first frame and must have even dimensions (yuv420p needs them).
    """

    def __init__(
        self,
        output: str | os.PathLike,
        *,
        audio_samples: np.ndarray | None,
        sample_rate: int = 16000,
        settings: VideoSettings = VideoSettings(),
        overwrite: bool = False,
    ) -> None:
        self.output = Path(output)
        check_output_path(self.output, overwrite=overwrite)
        self._overwrite = overwrite
        self.settings = settings
        self._audio = audio_samples
        self._sample_rate = sample_rate
        self._process: subprocess.Popen | None = None
        self._workdir = tempfile.TemporaryDirectory(prefix="makeittalk-video-")
        # Same folder as the target so the final rename is atomic.
        handle, partial = tempfile.mkstemp(prefix=f".{self.output.stem}.", suffix=".partial.mp4", dir=self.output.parent)
        os.close(handle)
        self._partial = Path(partial)
        self.frames_written = 0
        self.size: tuple[int, int] | None = None

    def _start(self, width: int, height: int) -> None:
        if width % 2 or height % 2:
            raise MakeItTalkError(f"frame size {width}x{height} must have even dimensions for H.264 yuv420p")
        command = [
            ffmpeg_executable(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
            "-r", f"{self.settings.fps}", "-i", "pipe:0",
        ]
        if self._audio is not None:
            audio_path = Path(self._workdir.name) / "audio.wav"
            write_wav(audio_path, self._audio, self._sample_rate)
            command += ["-i", str(audio_path), "-c:a", "aac", "-b:a", self.settings.audio_bitrate]
        command += [
            "-c:v", "libx264", "-preset", self.settings.preset, "-crf", str(self.settings.crf),
            "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", str(self._partial),
        ]
        self._stderr = open(Path(self._workdir.name) / "ffmpeg.log", "w+b")
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=self._stderr)
        self.size = (width, height)

    def write(self, frame: np.ndarray) -> None:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        height, width = frame.shape[:2]
        if self._process is None:
            self._start(width, height)
        elif (width, height) != self.size:
            raise ValueError(f"frame size changed from {self.size} to {(width, height)}")
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError as exc:
            raise MakeItTalkError(f"ffmpeg stopped while encoding {self.output}: {self._ffmpeg_log()}") from exc
        self.frames_written += 1

    def _ffmpeg_log(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip() or "no message from ffmpeg"

    def close(self) -> Path:
        if self._process is None:
            raise MakeItTalkError(f"no frames were written to {self.output}")
        self._process.stdin.close()
        code = self._process.wait()
        if code != 0:
            message = self._ffmpeg_log()
            self.abort()
            raise MakeItTalkError(f"ffmpeg failed to write {self.output} (exit code {code}): {message}")
        try:
            os.chmod(self._partial, 0o666 & ~current_umask())  # mkstemp made it private; give it normal permissions
            publish(self._partial, self.output, overwrite=self._overwrite)
        finally:
            self.abort()
        return self.output

    def abort(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._partial.unlink(missing_ok=True)
        self._cleanup()

    def _cleanup(self) -> None:
        if getattr(self, "_stderr", None) is not None:
            self._stderr.close()
            self._stderr = None
        self._workdir.cleanup()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    video_seconds: float
    audio_seconds: float | None
    video_codec: str
    audio_codec: str | None
    num_frames: int


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read stream facts from an mp4 by decoding it with ffmpeg (no ffprobe is shipped)."""
    import re

    result = subprocess.run(
        [ffmpeg_executable(), "-hide_banner", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"],
        capture_output=True, text=True,
    )
    log = result.stderr
    video = re.search(r"Stream #\S+: Video: (\w+).*?, (\d+)x(\d+).*?, ([\d.]+) fps", log)
    if not video:
        raise MakeItTalkError(f"{path} has no readable video stream")
    audio = re.search(r"Stream #\S+: Audio: (\w+)", log)
    frames = re.findall(r"frame=\s*(\d+)", log)
    durations = re.search(r"Duration: (\d+):(\d+):([\d.]+)", log)
    total = int(durations.group(1)) * 3600 + int(durations.group(2)) * 60 + float(durations.group(3)) if durations else 0.0
    fps = float(video.group(4))
    num_frames = int(frames[-1]) if frames else 0
    audio_seconds = None
    if audio:
        audio_run = subprocess.run(
            [ffmpeg_executable(), "-hide_banner", "-i", str(path), "-map", "0:a:0", "-f", "null", "-"],
            capture_output=True, text=True,
        )
        times = re.findall(r"time=(\d+):(\d+):([\d.]+)", audio_run.stderr)
        if times:
            h, m, s = times[-1]
            audio_seconds = int(h) * 3600 + int(m) * 60 + float(s)
    return VideoInfo(
        width=int(video.group(2)), height=int(video.group(3)), fps=fps,
        video_seconds=num_frames / fps if fps else total, audio_seconds=audio_seconds,
        video_codec=video.group(1), audio_codec=audio.group(1) if audio else None, num_frames=num_frames,
    )
