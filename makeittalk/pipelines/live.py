"""Live mode: audio chunks in, rendered frames out, as soon as each can be computed.

    head = TalkingHead.from_pretrained()
    for frame in head.stream("face.png", chunks):      # chunks: int16 arrays at 16 kHz, or (array, rate)
        show(frame.image)                                 # frame.index, frame.time, frame.image

The landmarks come from `animation.streaming.StreamingAnimator` (176 ms of look-ahead plus
32 ms for the smoothing); every frame is drawn by the warp renderer as soon as its landmarks
exist. `LiveRun` adds what the CLI needs: pacing a file at wall-clock speed, latency
statistics (from a sample's arrival to the emission of the first frame showing it), dropped
frames (frames skipped because rendering fell behind real time), and outputs: a y4m stream, or
a fragmented mp4 (H.264 + AAC) that plays while it grows.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from makeittalk.errors import MakeItTalkError

SAMPLE_RATE = 16000
CHUNK_SECONDS = 0.02  # what a sound card delivers at a time; the file feed uses the same
# A frame that could not be drawn within this long of its audio's arrival is dropped (the last
# image is repeated in the output) so that a slow moment does not delay everything after it.
DROP_AFTER_SECONDS = 0.5
VIDEO_QUEUE_FRAMES = 50  # two seconds of frames between the live loop and the encoder
ARRIVALS_KEPT = 500  # chunk arrival times remembered (10 s): frames never lag more than that


@dataclass(frozen=True)
class LiveFrame:
    index: int
    time: float  # seconds from the start of the stream: the audio this frame shows
    image: np.ndarray  # (H, W, 3) uint8 RGB
    landmarks: np.ndarray  # (68, 3) portrait pixels


class StreamResampler:
    """Any rate -> 16 kHz for chunked audio, equal to resampling the whole signal at once.

    The buffered input is resampled with `resample_poly`; only outputs whose filter taps lie
    wholly inside the buffer are emitted (their edge padding would otherwise show at every
    chunk join), and the buffer keeps just the input those taps still need.
    """

    def __init__(self, rate: int) -> None:
        from math import gcd

        self.rate = int(rate)
        g = gcd(self.rate, SAMPLE_RATE)
        self.up, self.down = SAMPLE_RATE // g, self.rate // g
        # resample_poly's filter has 10 * max(up, down) taps on each side at the upsampled rate.
        self._half_out = int(np.ceil(10 * max(self.up, self.down) / self.down)) + 1
        self._buffer = np.zeros(0)
        self._start = 0  # absolute input index of _buffer[0]; always a multiple of `down`
        self._produced = 0  # absolute output samples emitted

    def push(self, x: np.ndarray, final: bool = False) -> np.ndarray:
        from scipy.signal import resample_poly

        x = np.asarray(x, dtype=np.float64)
        if self.up == self.down:
            return x
        self._buffer = np.concatenate([self._buffer, x])
        if self._buffer.size == 0:
            return np.zeros(0)
        y = resample_poly(self._buffer, self.up, self.down)
        first = self._start * self.up // self.down  # absolute index of y[0]
        total = first + y.size if final else first + (self._buffer.size * self.up) // self.down - self._half_out
        out = y[max(0, self._produced - first): max(0, total - first)]
        self._produced += out.size
        # Keep the input that the next outputs' taps reach back to.
        need = max(0, (self._produced - self._half_out) * self.down // self.up - self.down)
        keep_from = need // self.down * self.down
        if keep_from > self._start:
            self._buffer = self._buffer[keep_from - self._start:]
            self._start = keep_from
        return out


def as_int16_chunks(chunks: Iterable[Any]) -> Iterator[np.ndarray]:
    """16 kHz int16 chunks from int16 arrays (16 kHz), float arrays in [-1, 1] (16 kHz), or
    (array, rate) tuples at any rate (multi-channel arrays are averaged)."""
    resampler: StreamResampler | None = None
    for chunk in chunks:
        rate = SAMPLE_RATE
        if isinstance(chunk, tuple):
            chunk, rate = chunk
        x = np.asarray(chunk)
        if x.ndim == 2:
            x = x.mean(axis=1 if x.shape[1] < x.shape[0] else 0)
        if x.dtype == np.int16 and rate == SAMPLE_RATE:
            yield x
            continue
        x = x.astype(np.float64) / (32768.0 if x.dtype.kind in "iu" else 1.0)
        if rate != SAMPLE_RATE:
            if resampler is None or resampler.rate != rate:
                resampler = StreamResampler(rate)
            x = resampler.push(x)
        yield np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)
    if resampler is not None:
        tail = resampler.push(np.zeros(0), final=True)
        if tail.size:
            yield np.clip(np.round(tail * 32768.0), -32768, 32767).astype(np.int16)


class LiveRenderer:
    """The warp renderer for one portrait at one output size, frame by frame."""

    def __init__(self, prepared: Any, size: tuple[int, int]) -> None:
        from renderer.warp import RenderConfig, RenderStyle, WarpRenderer

        from makeittalk.pipelines.portrait import _scale_points

        self.size = size
        self._scale = None if size == prepared.size else (prepared.size, size)
        self._scale_points = _scale_points
        background = "white" if prepared.has_alpha else None
        config = RenderConfig(style=RenderStyle(prepared.style), premultiplied=True)
        self._renderer = WarpRenderer.from_puppet(prepared.puppet, config=config, size=size, background=background)

    def render(self, landmarks: np.ndarray) -> np.ndarray:
        points = landmarks if self._scale is None else self._scale_points(landmarks[None], *self._scale)[0]
        frame = self._renderer.render(points, channels=3)
        w, h = self.size
        return frame if frame.shape[:2] == (h, w) else np.ascontiguousarray(frame[:h, :w])

    def close(self) -> None:
        self._renderer.release()


def stream_frames(head: Any, portrait: Any, chunks: Iterable[Any], *, fps: float = 25.0, size: Any = None,
                  seed: int = 0, still: bool = False, pose_scale: float = 1.0, lip_scale: float = 1.0,
                  blink: bool = True, blink_rate: float = 30.0, face_landmarks: Any = None,
                  detector: str = "auto", on_audio=None, render: bool = True) -> Iterator[LiveFrame]:
    """The generator behind `TalkingHead.stream`; `on_audio(samples)` sees each 16 kHz chunk first.

    The portrait, the networks and the renderer are set up here, before the first chunk is
    taken, so that bad options fail at once and the first frame is not late.
    """
    from makeittalk.animation.streaming import StreamConfig, StreamingAnimator
    from makeittalk.pipelines.talking_head import output_size

    prepared = head.prepare_portrait(portrait, face_landmarks=face_landmarks, detector=detector)
    out_size = output_size(prepared.size, size)
    config = StreamConfig(fps=fps, seed=seed, still=still, pose_scale=pose_scale, lip_scale=lip_scale,
                          blink=blink, blink_rate=blink_rate)
    config.animation()
    animator = StreamingAnimator(head.animator, prepared.face, config)
    renderer = LiveRenderer(prepared, out_size) if render else None
    return _frames(animator, renderer, chunks, on_audio)


def _frames(animator: Any, renderer: LiveRenderer | None, chunks: Iterable[Any], on_audio) -> Iterator[LiveFrame]:
    try:
        for samples in as_int16_chunks(chunks):
            if on_audio is not None:
                on_audio(samples)
            for index, t, points in animator.push(samples):
                yield LiveFrame(index, t, renderer.render(points) if renderer else None, points)
        for index, t, points in animator.finish():
            yield LiveFrame(index, t, renderer.render(points) if renderer else None, points)
    finally:
        if renderer is not None:
            renderer.close()


# ---- outputs ---------------------------------------------------------------------------------


class Y4mWriter:
    """YUV4MPEG2 (4:2:0, BT.601 limited range) to a binary stream: what ffmpeg, mpv and OBS read from a pipe."""

    def __init__(self, stream: BinaryIO, fps: float) -> None:
        self.stream = stream
        self.fps = fps
        self._started = False
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        if not self._started:
            num, den = _rational(self.fps)
            self.stream.write(f"YUV4MPEG2 W{w} H{h} F{num}:{den} Ip A1:1 C420jpeg XYSCSS=420JPEG\n".encode())
            self._started = True
        rgb = frame.astype(np.float32)
        y = 16 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255
        cb = 128 + (-37.797 * rgb[..., 0] - 74.203 * rgb[..., 1] + 112.0 * rgb[..., 2]) / 255
        cr = 128 + (112.0 * rgb[..., 0] - 93.786 * rgb[..., 1] - 18.214 * rgb[..., 2]) / 255
        sub = lambda c: c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))  # noqa: E731
        planes = [np.clip(np.round(p), 0, 255).astype(np.uint8) for p in (y, sub(cb), sub(cr))]
        self.stream.write(b"FRAME\n" + b"".join(p.tobytes() for p in planes))
        self.stream.flush()
        self.frames_written += 1

    def write_audio(self, samples: np.ndarray) -> None:  # y4m carries no sound
        pass

    def close(self) -> None:
        self.stream.flush()

    def abort(self) -> None:
        self.close()


def _rational(fps: float) -> tuple[int, int]:
    from fractions import Fraction

    value = Fraction(fps).limit_denominator(1001)
    return value.numerator, value.denominator


class FragmentedMp4Writer:
    """H.264 + AAC in a fragmented mp4 that players can open while it is written.

    Frames go to ffmpeg's stdin, the audio through a named pipe fed by its own thread (two
    pipes from one thread could deadlock ffmpeg's interleaving). Every fragment starts on a
    key frame, one per second, so a reader is never more than a second behind.
    """

    def __init__(self, output: Path, fps: float, size: tuple[int, int], *, overwrite: bool) -> None:
        from makeittalk.fileio import check_output_path
        from makeittalk.pipelines.video import ffmpeg_executable, widen_pipe

        check_output_path(output, overwrite=overwrite, suffixes=(".mp4",))
        self.output = output
        self._folder = tempfile.TemporaryDirectory(prefix="makeittalk-live-")
        self._fifo = Path(self._folder.name) / "audio.pcm"
        os.mkfifo(self._fifo)
        w, h = size
        gop = max(1, int(round(fps)))
        # No probing: ffmpeg would otherwise wait for seconds of each input before starting, and
        # the two inputs only advance together.
        quick = ["-thread_queue_size", "1024", "-probesize", "32", "-analyzeduration", "0"]
        command = [ffmpeg_executable(), "-hide_banner", "-loglevel", "error", "-y", "-fflags", "nobuffer",
                   *quick, "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps}", "-i", "pipe:0",
                   *quick, "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", str(self._fifo),
                   "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-crf", "20",
                   "-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop),
                   "-c:a", "aac", "-b:a", "96k",
                   # Without flush_packets the fragments wait in ffmpeg's output buffer, so the file
                   # stayed at its 28-byte header until the stream ended instead of growing.
                   "-flush_packets", "1",
                   "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", str(output)]
        self._log = open(Path(self._folder.name) / "ffmpeg.log", "w+b")
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=self._log, process_group=0)
        widen_pipe(self._process.stdin, w * h * 3)
        self._audio: queue.Queue = queue.Queue()
        self._audio_thread = threading.Thread(target=self._feed_audio, daemon=True)
        self._audio_thread.start()
        # Frames go through a thread too, so the live loop never waits on the encoder.
        self._video: queue.Queue = queue.Queue(maxsize=VIDEO_QUEUE_FRAMES)
        self._video_error: BaseException | None = None
        self._video_thread = threading.Thread(target=self._feed_video, daemon=True)
        self._video_thread.start()
        self.frames_written = 0

    def _feed_video(self) -> None:
        while True:
            frame = self._video.get()
            if frame is None:
                return
            try:
                self._process.stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
            except (BrokenPipeError, ValueError, OSError) as exc:
                self._video_error = exc
                return

    def _feed_audio(self) -> None:
        with open(self._fifo, "wb") as pipe:
            while True:
                samples = self._audio.get()
                if samples is None:
                    return
                try:
                    pipe.write(samples.tobytes())
                except BrokenPipeError:
                    return

    def write_audio(self, samples: np.ndarray) -> None:
        self._audio.put(np.asarray(samples, dtype=np.int16))

    def write(self, frame: np.ndarray) -> None:
        if self._video_error is not None:
            raise MakeItTalkError(f"ffmpeg stopped while writing {self.output}: {self._message()}")
        self._video.put(np.ascontiguousarray(frame))
        self.frames_written += 1

    def _message(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip() or "no message from ffmpeg"

    def close(self) -> None:
        self._audio.put(None)
        self._video.put(None)
        self._audio_thread.join()
        self._video_thread.join()
        self._process.stdin.close()
        if self._process.wait() != 0:
            raise MakeItTalkError(f"ffmpeg failed writing {self.output}: {self._message()}")
        self._log.close()
        self._folder.cleanup()

    def abort(self) -> None:
        self._audio.put(None)
        self._video.put(None)
        self._video_thread.join(timeout=5)
        try:
            self._process.stdin.close()
        except OSError:
            pass
        self._process.wait()
        self._log.close()
        self._folder.cleanup()


# ---- a paced run with statistics ------------------------------------------------------------


@dataclass
class LiveStats:
    latencies_ms: list[float] = field(default_factory=list)
    frames: int = 0
    dropped_frames: int = 0
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    realtime: bool = False
    first_frame_at: float = 0.0
    last_frame_at: float = 0.0

    def summary(self) -> dict:
        lat = np.asarray(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 1), "p95": round(float(np.percentile(lat, 95)), 1),
                           "max": round(float(lat.max()), 1)},
            "frames": self.frames, "dropped_frames": self.dropped_frames,
            # Frames per second of wall time between the first frame and the last.
            "fps": round((self.frames - 1) / (self.last_frame_at - self.first_frame_at), 2)
            if self.frames > 1 and self.last_frame_at > self.first_frame_at else 0.0,
            "audio_seconds": round(self.audio_seconds, 3), "wall_seconds": round(self.wall_seconds, 3),
            "realtime": self.realtime, "peak_rss_mb": round(peak_kb / 1024, 1),
        }


def decode_chunks(path: str | os.PathLike, chunk_seconds: float = CHUNK_SECONDS) -> Iterator[np.ndarray]:
    """Any audio file ffmpeg reads, as 16 kHz mono int16 chunks, decoded as it is read: an hour
    of audio never sits in memory at once."""
    from makeittalk.audio.io import check_audio_path
    from makeittalk.pipelines.video import ffmpeg_executable

    check_audio_path(Path(path))
    command = [ffmpeg_executable(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-vn",
               "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "pipe:1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    size = 2 * int(round(chunk_seconds * SAMPLE_RATE))
    try:
        while True:
            data = process.stdout.read(size)
            if not data:
                break
            yield np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int16)
    finally:
        process.stdout.close()
        error = process.stderr.read().decode(errors="replace").strip()
        if process.wait() != 0 and error:
            raise MakeItTalkError(f"{path}: ffmpeg could not decode it ({error.splitlines()[-1]})")


def paced_chunks(chunks: Iterable[np.ndarray], *, realtime: bool, arrivals: deque,
                 clock=time.perf_counter) -> Iterator[np.ndarray]:
    """`chunks` passed on; with `realtime` each when its last sample would have arrived from a
    sound card. `arrivals` gets (end sample, wall time) for each chunk."""
    start = None
    end = 0
    for chunk in chunks:
        if start is None:
            start = clock()
        end += len(chunk)
        if realtime:
            due = start + end / SAMPLE_RATE
            delay = due - clock()
            if delay > 0:
                time.sleep(delay)
            arrivals.append((end, max(clock(), due)))
        else:
            arrivals.append((end, clock()))
        yield chunk


class LiveRun:
    """A whole live session from a sample source: frames rendered, written and timed."""

    def __init__(self, head: Any, portrait: Any, *, writer: Any = None, fps: float = 25.0, size: Any = None,
                 options: dict | None = None) -> None:
        self.head = head
        self.portrait = portrait
        self.writer = writer
        self.fps = fps
        self.size = size
        self.options = options or {}
        self.stats = LiveStats()

    def run(self, audio: Any, *, realtime: bool, on_frame=None) -> LiveStats:
        """Stream `audio` (16 kHz int16 samples, or an iterable of such chunks), paced like a sound
        card with `realtime`; see LiveStats."""
        arrivals: deque = deque(maxlen=ARRIVALS_KEPT)
        self.stats.realtime = realtime
        if isinstance(audio, np.ndarray):
            step = int(round(CHUNK_SECONDS * SAMPLE_RATE))
            audio = [audio[i:i + step] for i in range(0, len(audio), step)]

        def counted():
            for chunk in audio:
                self.stats.audio_seconds += len(chunk) / SAMPLE_RATE
                yield chunk

        return self._run(paced_chunks(counted(), realtime=realtime, arrivals=arrivals), arrivals, realtime, on_frame)

    def run_source(self, chunks: Iterable[np.ndarray], on_frame=None) -> LiveStats:
        """Stream chunks that arrive in real time (a microphone); each arrives when it is received."""
        arrivals: deque = deque(maxlen=ARRIVALS_KEPT)
        self.stats.realtime = True

        def received():
            total = 0
            for chunk in as_int16_chunks(chunks):
                total += len(chunk)
                self.stats.audio_seconds = total / SAMPLE_RATE
                arrivals.append((total, time.perf_counter()))
                yield chunk

        return self._run(received(), arrivals, True, on_frame)

    def _run(self, chunks: Iterator[np.ndarray], arrivals: deque, realtime: bool, on_frame) -> LiveStats:
        stats = self.stats
        started = time.perf_counter()
        writer = self.writer
        audio_sink = writer.write_audio if writer is not None else None
        # The renderer and the networks are ready before the first sample is taken.
        renderer = self._renderer()
        renderer.render(self._rest_points)
        frames = stream_frames(self.head, self.portrait, chunks, fps=self.fps, size=self.size,
                               on_audio=audio_sink, render=False, **self.options)
        last = None
        try:
            for frame in frames:
                # The earliest sample this frame is the first to show: just after the previous frame's time.
                first_sample = int(np.floor((frame.index - 1) / self.fps * SAMPLE_RATE)) + 1 if frame.index else 0
                arrival = _arrival(arrivals, first_sample)
                if realtime and last is not None and time.perf_counter() - arrival > DROP_AFTER_SECONDS:
                    # Too late to be worth drawing: repeat the last image so the output keeps its
                    # timing, and catch up.
                    stats.dropped_frames += 1
                    if writer is not None:
                        writer.write(last)
                    continue
                image = renderer.render(frame.landmarks)
                last = image
                if writer is not None:
                    writer.write(image)
                if on_frame is not None:
                    on_frame(frame, image)
                now = time.perf_counter()
                stats.latencies_ms.append(1000.0 * (now - arrival))
                stats.frames += 1
                stats.first_frame_at = stats.first_frame_at or now
                stats.last_frame_at = now
            if writer is not None:
                writer.close()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        finally:
            if renderer is not None:
                renderer.close()
            stats.wall_seconds = time.perf_counter() - started
        return stats

    def _renderer(self) -> LiveRenderer:
        from makeittalk.pipelines.talking_head import output_size

        prepared = self.head.prepare_portrait(self.portrait, face_landmarks=self.options.get("face_landmarks"),
                                              detector=self.options.get("detector", "auto"))
        self._rest_points = prepared.landmarks
        return LiveRenderer(prepared, output_size(prepared.size, self.size))


def _arrival(arrivals: deque, sample: int) -> float:
    """Wall time at which `sample` arrived (the end of the chunk holding it); recent chunks only."""
    for end, wall in arrivals:
        if end > sample:
            return wall
    return arrivals[-1][1]


def write_stats(path: Path, summary: dict, *, overwrite: bool) -> None:
    from makeittalk.fileio import atomic_output

    with atomic_output(path, overwrite=overwrite, suffixes=(".json",)) as partial:
        partial.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")


def single_threaded() -> None:
    """One compute thread for torch: live steps are a few windows each, and with other busy
    processes on the machine OpenMP's spinning worker threads slowed a step by 30x (measured:
    a 60 s stream beside two busy processes had not finished after 9 minutes)."""
    import torch

    torch.set_num_threads(1)


__all__ = ["LiveFrame", "LiveRun", "LiveStats", "StreamResampler", "Y4mWriter", "FragmentedMp4Writer",
           "stream_frames", "as_int16_chunks", "decode_chunks", "write_stats"]
