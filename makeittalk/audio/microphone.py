"""A microphone as a live audio source: chunks from PortAudio (through `sounddevice`) as they arrive.

`Microphone()` opens the default input device (or `device`, a name or index as PortAudio lists
them) at 16 kHz when the device takes it, else at its own default rate; the stream resamples
(`(samples, rate)` chunks). Iterating opens the stream (then calls `on_open`) and yields chunks until `stop()` is called (from another
thread or a signal handler), `max_seconds` of audio have been taken, or the device fails.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Iterator

import numpy as np

from makeittalk.errors import MakeItTalkError

SAMPLE_RATE = 16000
INSTALL_HINT = "install them with 'pip install \"makeittalk[mic]\"' and 'sudo apt-get install libportaudio2', or use --input"


def _sounddevice():
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the package is there, PortAudio is not
        raise MakeItTalkError(f"--mic needs the sounddevice package and PortAudio ({exc}); {INSTALL_HINT}") from None
    return sounddevice


class Microphone:
    """The default (or a named) input device, read in `chunk_seconds` blocks."""

    def __init__(self, device: Any = None, *, chunk_seconds: float = 0.02, max_seconds: float | None = None,
                 on_open=None) -> None:
        self._sd = _sounddevice()
        try:
            info = self._sd.query_devices(device, kind="input")
        except (ValueError, self._sd.PortAudioError) as exc:
            raise MakeItTalkError(f"no microphone to read ({exc}); plug one in, name one with --mic-device "
                                  f"(see 'python -m sounddevice'), or use --input") from None
        self.device_name = str(info["name"])
        self._device = device
        self.rate = SAMPLE_RATE
        try:
            self._sd.check_input_settings(device=device, samplerate=SAMPLE_RATE, channels=1, dtype="int16")
        except (ValueError, self._sd.PortAudioError):
            # Many sound cards only take 44.1/48 kHz; the stream resamples as it goes.
            self.rate = int(info["default_samplerate"])
        self._block = max(1, int(round(self.rate * chunk_seconds)))
        self._max_samples = None if max_seconds is None else int(round(max_seconds * self.rate))
        self._chunks: queue.Queue = queue.Queue()
        self._stopped = threading.Event()
        self.overflows = 0
        self._on_open = on_open

    def stop(self) -> None:
        """End the iteration after the chunk in hand (safe from a signal handler or another thread)."""
        self._stopped.set()
        self._chunks.put(None)

    def _callback(self, data, frames, time_info, status) -> None:
        if status.input_overflow:
            self.overflows += 1
        self._chunks.put(np.array(data[:, 0]))

    def __iter__(self) -> Iterator[Any]:
        taken = 0
        try:
            stream = self._sd.InputStream(device=self._device, samplerate=self.rate, channels=1, dtype="int16",
                                          blocksize=self._block, callback=self._callback)
        except self._sd.PortAudioError as exc:
            raise MakeItTalkError(f"could not open the microphone {self.device_name!r} ({exc}); "
                                  f"name another with --mic-device, or use --input") from None
        with stream:
            if self._on_open is not None:
                self._on_open(self)
            while not self._stopped.is_set():
                chunk = self._chunks.get()
                if chunk is None:
                    break
                if self._max_samples is not None:
                    chunk = chunk[:self._max_samples - taken]
                taken += len(chunk)
                yield chunk if self.rate == SAMPLE_RATE else (chunk, self.rate)
                if self._max_samples is not None and taken >= self._max_samples:
                    break
