"""The landmark sequence and its files: JSON (self-describing) and .npy (the bare array).

JSON layout (format "makeittalk-landmarks", version 1)::

    {"format": "makeittalk-landmarks", "format_version": 1,
     "fps": 25.0, "num_frames": 115, "image_size": [256, 256],
     "audio_seconds": 4.58, "weights": "original", "version": "0.1.0",
     "compat": null, "seed": 0,
     "landmarks": [[[x, y, z], ... 68 points], ... num_frames frames]}

Landmarks are portrait pixels (x right, y down, origin at the top-left pixel's corner as in
the original); z is the normalised-space depth, not a pixel value. Frame i is at time i/fps
from the start of the audio. Values are written with 6 decimals (sub-micro-pixel).

`.npy` holds only the (num_frames, 68, 3) float64 array; the frame rate is the one requested.

Both writers refuse to replace an existing file unless `overwrite=True`, and write to a
temporary file in the same folder that is renamed into place only when complete, so an
interrupted export never leaves a half-written file under the requested name.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from makeittalk.errors import MakeItTalkError
from makeittalk.fileio import atomic_output

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "LandmarkSequence",
    "ExportError",
    "save_landmarks",
    "load_landmarks",
]

FORMAT_NAME = "makeittalk-landmarks"
FORMAT_VERSION = 1
_SUFFIXES = (".json", ".npy")


class ExportError(MakeItTalkError):
    """A landmark file that cannot be written or read."""


def _package_version() -> str:
    from makeittalk import __version__

    return __version__


@dataclass
class LandmarkSequence:
    """Landmarks over time for one portrait: (num_frames, 68, 3) float64 in portrait pixels.

    Frame i is at time i/fps from the start of the audio. `image_size` is (width, height) of
    the portrait, `weights` the name of the weight set that produced the motion, `compat`
    "original" when the original release's chain was reproduced, `seed` the blink seed.
    """

    landmarks: np.ndarray
    fps: float
    audio_seconds: float
    image_size: tuple[int, int] | None = None
    weights: str = ""
    version: str = field(default_factory=_package_version)
    compat: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        landmarks = np.asarray(self.landmarks, dtype=np.float64)
        if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 3) or landmarks.shape[0] == 0:
            raise ExportError(f"landmarks must have shape (num_frames >= 1, 68, 3), got {landmarks.shape}")
        if not np.all(np.isfinite(landmarks)):
            raise ExportError("landmarks contain NaN or infinite values")
        self.landmarks = landmarks
        self.fps = float(self.fps)
        if not self.fps > 0:
            raise ExportError(f"fps must be positive, got {self.fps}")
        self.audio_seconds = float(self.audio_seconds)
        if self.image_size is not None:
            w, h = self.image_size
            self.image_size = (int(w), int(h))

    @property
    def num_frames(self) -> int:
        return int(self.landmarks.shape[0])

    @property
    def times(self) -> np.ndarray:
        """Time in seconds of every frame (i / fps)."""
        return np.arange(self.num_frames, dtype=np.float64) / self.fps

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata plus the landmarks as nested lists."""
        meta = self._metadata()
        meta["landmarks"] = np.round(self.landmarks, 6).tolist()
        return meta

    def _metadata(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "fps": self.fps,
            "num_frames": self.num_frames,
            "image_size": list(self.image_size) if self.image_size is not None else None,
            "audio_seconds": self.audio_seconds,
            "weights": self.weights,
            "version": self.version,
            "compat": self.compat,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "landmark data") -> LandmarkSequence:
        if data.get("format", FORMAT_NAME) != FORMAT_NAME:
            raise ExportError(f"{source} is a {data.get('format')!r} file, not {FORMAT_NAME!r}")
        try:
            landmarks = np.asarray(data["landmarks"], dtype=np.float64)
            sequence = cls(
                landmarks=landmarks,
                fps=float(data["fps"]),
                audio_seconds=float(data.get("audio_seconds", landmarks.shape[0] / float(data["fps"]))),
                image_size=tuple(data["image_size"]) if data.get("image_size") is not None else None,  # type: ignore[arg-type]
                weights=str(data.get("weights", "")),
                version=str(data.get("version", "")),
                compat=data.get("compat"),
                seed=data.get("seed"),
            )
        except KeyError as exc:
            raise ExportError(f"{source} lacks the field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ExportError(f"{source} is malformed: {exc}") from None
        if "num_frames" in data and int(data["num_frames"]) != sequence.num_frames:
            raise ExportError(
                f"{source} says num_frames={data['num_frames']} but holds {sequence.num_frames} frames"
            )
        return sequence

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        return save_landmarks(self, path, overwrite=overwrite)


def _json_text(sequence: LandmarkSequence) -> str:
    # One %-format per frame keeps a 10-minute export to about a second; json.dumps on
    # millions of floats is several times slower and prints 17 digits.
    header = json.dumps(sequence._metadata(), indent=None)
    point = "[%.6f,%.6f,%.6f]"
    frame_format = "[" + ",".join([point] * 68) + "]"
    rows = [frame_format % tuple(frame) for frame in sequence.landmarks.reshape(-1, 204)]
    # "-0.000000" is valid JSON, but a clean zero reads better.
    body = ",\n".join(rows).replace("-0.000000", "0.000000")
    return header[:-1] + ', "landmarks": [\n' + body + "\n]}\n"


def save_landmarks(sequence: LandmarkSequence, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write `sequence` to `path` (.json or .npy) atomically; see the module docstring."""
    target = Path(path)
    with atomic_output(target, overwrite=overwrite, suffixes=_SUFFIXES) as partial:
        with open(partial, "wb") as stream:
            if target.suffix.lower() == ".json":
                stream.write(_json_text(sequence).encode("utf-8"))
            else:
                np.save(stream, np.ascontiguousarray(sequence.landmarks, dtype=np.float64), allow_pickle=False)
    return target


def load_landmarks(path: str | os.PathLike[str], *, fps: float | None = None) -> LandmarkSequence:
    """Read a file written by `save_landmarks`.

    A .npy file carries no metadata: pass the `fps` it was exported at (audio_seconds is then
    taken as num_frames / fps).
    """
    source = Path(path)
    if not source.is_file():
        raise ExportError(f"{source} does not exist or is not a file")
    suffix = source.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ExportError(f"{source} is not a readable JSON landmark file ({exc})") from None
        if not isinstance(data, dict):
            raise ExportError(f"{source} is not a landmark file: the top level must be an object")
        return LandmarkSequence.from_dict(data, source=str(source))
    if suffix == ".npy":
        if fps is None:
            raise ExportError(f"{source} is a bare .npy array without a frame rate; pass fps=")
        try:
            landmarks = np.load(source, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ExportError(f"{source} is not a readable .npy array ({exc})") from None
        return LandmarkSequence(landmarks=landmarks, fps=fps, audio_seconds=landmarks.shape[0] / float(fps))
    raise ExportError(f"{source}: landmark files end in .json or .npy")
