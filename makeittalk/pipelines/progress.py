"""Progress of a render: one event type, shared by the CLI bar, --json-progress and the web app.

`TalkingHead.render(..., progress=callback)` calls `callback(ProgressEvent)` as it goes. The
stages, in order, are STAGES; "rendering" reports frames done out of the total with an
estimate of the time left; "audio features" and "landmarks" report fractions as their steps
finish; every stage reports its start (fraction 0) and end (fraction 1).

Consumers:
- `ConsoleProgress`: a tqdm bar per stage on stderr (stage name, frames, time remaining);
- `JsonProgress`: one JSON object per line on stderr, for programs driving the CLI;
- anything else taking a ProgressEvent (the Gradio app maps `fraction` onto its bar).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import IO, Callable

__all__ = [
    "STAGES",
    "ProgressEvent",
    "ProgressCallback",
    "ProgressTracker",
    "ConsoleProgress",
    "JsonProgress",
    "make_progress",
]

#: Stage names in the order a render goes through them.
STAGES = ("face", "audio features", "landmarks", "rendering", "encoding", "done")


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report.

    stage: one of STAGES; fraction: 0..1 within the stage; message: a human-readable note
    (which renderer was picked, the output written...); eta_seconds: estimated seconds until
    the render is finished (known while rendering frames), else None; done/total: frames
    rendered and to render (the "rendering" stage), else None.
    """

    stage: str
    fraction: float
    message: str = ""
    eta_seconds: float | None = None
    done: int | None = None
    total: int | None = None

    def to_json(self) -> str:
        data = asdict(self)
        if data["eta_seconds"] is not None:
            data["eta_seconds"] = round(float(data["eta_seconds"]), 2)
        data["fraction"] = round(float(data["fraction"]), 4)
        return json.dumps({k: v for k, v in data.items() if v is not None and v != ""})


ProgressCallback = Callable[[ProgressEvent], None]


class ProgressTracker:
    """Emits ProgressEvents to a callback (or nowhere); throttles the per-frame ones.

    Frame events go out at most every `interval` seconds, plus the first and the last, so a
    long video costs a few hundred events, not one per frame.
    """

    def __init__(self, callback: ProgressCallback | None, *, interval: float = 0.2) -> None:
        self.callback = callback
        self.interval = interval
        self.stage_name: str | None = None
        self._stage_start = time.perf_counter()
        self._last_emit = 0.0
        self.timings: dict[str, float] = {}

    def emit(self, event: ProgressEvent) -> None:
        if self.callback is not None:
            self.callback(event)

    def start(self, stage: str, message: str = "", *, total: int | None = None) -> None:
        self._close_stage()
        self.stage_name = stage
        self._stage_start = time.perf_counter()
        self._last_emit = 0.0
        self.emit(ProgressEvent(stage, 0.0, message, None, 0 if total is not None else None, total))

    def done(self, message: str = "") -> None:
        """The last event of a render: stage "done", fraction 1."""
        self._close_stage()
        self.emit(ProgressEvent("done", 1.0, message, 0.0))

    def note(self, message: str) -> None:
        """A message within the current stage (fraction unchanged at 0)."""
        self.emit(ProgressEvent(self.stage_name or "", 0.0, message))

    def fraction(self, fraction: float) -> None:
        """Part of the current stage done (0..1), for stages that report as they go; throttled."""
        now = time.perf_counter()
        # The end is finish()'s to report, with its message.
        if fraction >= 1.0 or now - self._last_emit < self.interval:
            return
        self._last_emit = now
        self.emit(ProgressEvent(self.stage_name or "", float(fraction)))

    def finish(self, message: str = "") -> None:
        if self.stage_name is None:
            return
        self.emit(ProgressEvent(self.stage_name, 1.0, message))
        self._close_stage()

    def frames(self, done: int, total: int, *, tail_seconds: float = 0.0) -> None:
        """`done` of `total` frames rendered; `tail_seconds` estimates the work after the last frame."""
        now = time.perf_counter()
        if 0 < done < total and now - self._last_emit < self.interval:
            return
        self._last_emit = now
        elapsed = now - self._stage_start
        eta = None
        if done > 0:
            eta = elapsed / done * (total - done) + tail_seconds
        fraction = done / total if total else 1.0
        self.emit(ProgressEvent(self.stage_name or "rendering", fraction, "", eta, done, total))

    def _close_stage(self) -> None:
        if self.stage_name is not None and self.stage_name not in self.timings:
            self.timings[self.stage_name] = time.perf_counter() - self._stage_start
        self.stage_name = None


class ConsoleProgress:
    """Progress on stderr: one line per finished stage (name, time, note) and a tqdm bar with
    frames and time remaining while rendering. On a terminal the running stage shows a live
    timer; in a log file only the lines appear."""

    def __init__(self, stream: IO[str] | None = None, *, prefix: str = "") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.prefix = prefix
        self._bar = None
        self._stage: str | None = None
        self._started = time.perf_counter()
        isatty = getattr(self.stream, "isatty", None)
        self._tty = bool(isatty and isatty())

    def _line(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(f"{self.prefix}{text}", file=self.stream)

    def __call__(self, event: ProgressEvent) -> None:
        from tqdm import tqdm

        if event.stage == "done":
            self.close()
            if event.message:
                self._line(event.message)
            return
        if event.stage != self._stage:
            self.close()
            self._stage = event.stage
            self._started = time.perf_counter()
            if event.stage == "rendering":
                if event.message:
                    self._line(f"{event.stage}: {event.message}")
                self._bar = tqdm(total=event.total, desc=f"{self.prefix}{event.stage}", unit="frame",
                                 file=self.stream, leave=True, dynamic_ncols=True, mininterval=0.5,
                                 bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} frames "
                                            "[{elapsed}<{remaining}, {rate_fmt}]")
                return
            if self._tty:
                self._bar = tqdm(total=100, desc=f"{self.prefix}{event.stage}", file=self.stream, leave=False,
                                 bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}", mininterval=0.5)
            return
        if self._stage == "rendering" and self._bar is not None:
            if event.total is not None and self._bar.total != event.total:
                self._bar.total = event.total
                self._bar.refresh()
            if event.done is not None:
                self._bar.update(max(0, event.done - self._bar.n))
            if event.fraction >= 1.0 and event.done is None:
                self.close()
            return
        if 0.0 < event.fraction < 1.0 and self._bar is not None:
            self._bar.n = int(round(100 * event.fraction))
            self._bar.refresh()
            return
        if event.fraction >= 1.0:
            seconds = time.perf_counter() - self._started
            self.close()
            note = f": {event.message}" if event.message else ""
            self._line(f"{event.stage} ({seconds:.1f} s){note}")
        elif event.message:
            self._line(f"{event.stage}: {event.message}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._stage = None


class JsonProgress:
    """One JSON object per event and line: {"stage", "fraction", "message"?, "eta_seconds"?, "done"?, "total"?}.

    `extra` fields (e.g. the batch job) are added to every line.
    """

    def __init__(self, stream: IO[str] | None = None, **extra: object) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.extra = extra

    def __call__(self, event: ProgressEvent) -> None:
        line = event.to_json()
        if self.extra:
            data = json.loads(line)
            data.update(self.extra)
            line = json.dumps(data)
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


def make_progress(*, quiet: bool = False, json_progress: bool = False, prefix: str = "", **extra: object):
    """The CLI's progress consumer for its flags: None (quiet), JsonProgress or ConsoleProgress."""
    if json_progress:
        return JsonProgress(**extra)
    if quiet:
        return None
    return ConsoleProgress(prefix=prefix)
