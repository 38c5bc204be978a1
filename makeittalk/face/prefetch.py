"""Find a portrait's face in a child process while the CLI imports torch and loads the networks.

A `makeittalk render` spends its first two seconds importing torch and scipy on one core, and then
about a second loading dlib's 100 MB landmark model and finding the face, which holds the GIL. The
child process does the second on the idle core during the first: a 30 s render on the 2-core CI
CPU went from 8.9 s to 8.2 s.

The child runs exactly what the render would (`load_image` twice, then `detect_landmarks` with
the same detector and label) and sends back the pixels' digest with the FaceDetection. The render
uses the result only when its own pixels have the same digest and the detector matches; on any
failure in the child (no face, a broken file) it finds the face itself, so errors and warnings
are the ones a render without the child gives.

    python -m makeittalk.face.prefetch IMAGE DETECTOR LABEL   # one JSON line on stdout
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["start_face_prefetch", "take_prefetched", "cancel_prefetches"]

_lock = threading.Lock()
_pending: dict[tuple[str, str], subprocess.Popen] = {}


def pixel_digest(rgb: np.ndarray) -> str:
    rgb = np.ascontiguousarray(rgb)
    return hashlib.sha256(repr((rgb.shape, rgb.dtype.str)).encode() + memoryview(rgb).cast("B")).hexdigest()


def detection_pixels(image_rgba: np.ndarray) -> np.ndarray:
    """The RGB array faces are found on, from a portrait loaded as RGBA (makeittalk.pipelines.portrait
    detects on this too, so the prefetch's digest matches the render's pixels)."""
    from makeittalk.face.image import load_image

    return load_image(image_rgba, "RGB")


def detection_input(path: str | os.PathLike) -> np.ndarray:
    """The RGB array a render detects on for an image file."""
    from makeittalk.face.image import load_image

    return detection_pixels(load_image(path, "RGBA"))


def start_face_prefetch(portrait: Any, detector: str = "auto") -> bool:
    """Start finding the face of the image file `portrait` in a child process (True if started).

    Only image files whose detector resolves to dlib are prefetched: face-alignment needs torch,
    so its child would import what the parent is importing. The label is the one a render uses.
    """
    if not isinstance(portrait, (str, os.PathLike)) or not Path(portrait).is_file():
        return False
    from makeittalk.face.detect import resolve_detector

    try:
        if resolve_detector(detector) != "dlib":
            return False
    except Exception:  # noqa: BLE001 - the render reports a bad detector choice itself
        return False
    key = (str(portrait), str(detector))
    with _lock:
        if key in _pending:
            return True
        env = dict(os.environ, OMP_NUM_THREADS="1")  # one core: the parent needs the other
        _pending[key] = subprocess.Popen(
            [sys.executable, "-m", "makeittalk.face.prefetch", str(portrait), str(detector), str(portrait)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    return True


def take_prefetched(rgb: np.ndarray, detector: str, label: str):
    """The FaceDetection a prefetch found on exactly these pixels with `detector` and `label`,
    or None (none started, it failed, or the input differs). Its warnings are re-issued."""
    from makeittalk.face.detect import FaceDetection, FaceDetectionWarning

    with _lock:
        process = _pending.pop((label, str(detector)), None)
    if process is None:
        return None
    out, _ = process.communicate()
    if process.returncode != 0:
        return None
    try:
        sent = json.loads(out)
    except ValueError:
        return None
    if sent.get("digest") != pixel_digest(rgb):
        return None
    found = FaceDetection(
        landmarks=np.asarray(sent["landmarks"], dtype=np.float64), detector=sent["detector"],
        num_faces=int(sent["num_faces"]), box=tuple(float(v) for v in sent["box"]), warnings=[],
        image_size=tuple(int(v) for v in sent["image_size"]), method=sent["method"], z_source=sent["z_source"])
    for note in sent["warnings"]:
        warnings.warn(note, FaceDetectionWarning, stacklevel=3)
    found.warnings.extend(sent["warnings"])
    return found


def cancel_prefetches() -> None:
    """Stop children whose result was never asked for (the render failed before the face)."""
    with _lock:
        processes = list(_pending.values())
        _pending.clear()
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate()


def _child(image: str, detector: str, label: str) -> int:
    from makeittalk.face.detect import detect_landmarks

    rgb = detection_input(image)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sent back and re-issued by the parent
        found = detect_landmarks(rgb, detector, name=label)
    # repr-exact floats: json writes float64 values so that they read back bit for bit.
    print(json.dumps({
        "digest": pixel_digest(rgb), "landmarks": found.landmarks.tolist(), "detector": found.detector,
        "num_faces": found.num_faces, "box": list(found.box), "warnings": list(found.warnings),
        "image_size": list(found.image_size), "method": found.method, "z_source": found.z_source,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(*sys.argv[1:4]))
