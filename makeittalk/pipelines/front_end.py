"""The two independent first stages of a render, the face and the audio features, run together.

Finding the face (dlib, mostly holding the GIL) and the audio features (Resemblyzer's LSTM,
FFTs and the RAPT worker process, mostly not) need nothing from each other. The features run in
a worker thread while the face is found on the calling thread: on the 2-core CI CPU, a 30 s clip
and a 512x512 photo took 1.47-1.58 s together instead of 1.74-1.75 s one after the other.

Progress events keep the documented stage order (face, then audio features): the worker's
fractions are held back until the face stage has finished.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from makeittalk.pipelines.progress import ProgressTracker

__all__ = ["face_and_features"]


class _HeldFractions:
    """A progress callback that keeps the latest fraction until `release_to` names where it goes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._target: Callable[[float], None] | None = None
        self._latest: float | None = None

    def __call__(self, fraction: float) -> None:
        with self._lock:
            target = self._target
            if target is None:
                self._latest = fraction
                return
        target(fraction)

    def release_to(self, target: Callable[[float], None]) -> None:
        with self._lock:
            self._target, latest = target, self._latest
        if latest is not None:
            target(latest)


def face_and_features(head: Any, portrait: Any, waveform: Any, tracker: ProgressTracker, *, with_features: bool,
                      face_landmarks: Any = None, detector: str = "auto", after_face: Callable[[Any], None] | None = None):
    """(PreparedPortrait, AudioFeatures or None) for a render.

    `after_face(prepared)` runs as soon as the face is known (the renderer choice, which must fail
    before the audio work is waited for). A face error is raised once the worker has stopped, so
    no thread outlives the call.
    """
    def find_face() -> Any:
        tracker.start("face")
        prepared = head.prepare_portrait(portrait, face_landmarks=face_landmarks, detector=detector)
        tracker.finish(f"{prepared.landmark_source}, {prepared.style}, {prepared.size[0]}x{prepared.size[1]}")
        if after_face is not None:
            after_face(prepared)
        return prepared

    if not with_features:
        return find_face(), None
    animator = head.animator  # loaded here: the worker must not race the lazy load
    fractions = _HeldFractions()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="makeittalk-audio-features") as pool:
        features_job = pool.submit(animator.features, waveform, progress=fractions)
        prepared = find_face()
        tracker.start("audio features", f"{waveform.seconds:.1f} s of audio")
        fractions.release_to(tracker.fraction)
        features = features_job.result()
        tracker.finish()
    return prepared, features
