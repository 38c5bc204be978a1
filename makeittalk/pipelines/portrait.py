"""Portraits made ready once and reused across audios: image, rest landmarks, style, the face the
networks animate, and the per-size crops and puppet the renderers need (see `TalkingHead.prepare_portrait`)."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from makeittalk.pipelines.preflight import check_portrait_path


def _real(path: Path) -> str:
    return os.path.realpath(os.fspath(path))

@dataclass
class PreparedPortrait:
    """Per-portrait work done once and reused across audios (see `TalkingHead.prepare_portrait`).

    image: (H, W, 4) uint8 RGBA at the portrait's own size; landmarks: (68, 3) rest landmarks
    in its pixels; style: "photo" or "cartoon"; face: the StaticFace the networks animate;
    landmark_source: "puppet", "file", "given" or the detector's name; path: the file or
    puppet folder it came from (None for in-memory images).
    """

    name: str
    image: np.ndarray
    landmarks: np.ndarray
    style: str
    face: Any
    landmark_source: str
    path: Path | None = None
    _puppet: Any = None
    _crops: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def size(self) -> tuple[int, int]:
        return (int(self.image.shape[1]), int(self.image.shape[0]))

    @property
    def has_alpha(self) -> bool:
        return bool((self.image[..., 3] < 255).any())

    @property
    def puppet(self):
        """The warp renderer's puppet (image, landmarks, mesh), built on first use."""
        with self._lock:
            if self._puppet is None:
                from renderer.puppet import Puppet

                self._puppet = Puppet.create(self.image, self.landmarks, style=self.style, name=self.name)
            return self._puppet

    def face_crop(self, size: tuple[int, int], background: Any = None):
        """The translator's FaceCrop for output `size` (cached per size and background)."""
        from makeittalk.pipelines.translator_render import FaceCrop

        key = (tuple(size), _background_key(background))
        with self._lock:
            crop = self._crops.get(key)
        if crop is None:
            rgb = _flatten(self.image, background)
            rgb, landmarks = _resize_portrait(rgb, self.landmarks, size)
            crop = FaceCrop.from_landmarks(rgb, landmarks)
            with self._lock:
                self._crops[key] = crop
        return crop


def _background_key(background: Any) -> Any:
    if background is None or isinstance(background, (str, tuple)):
        return background
    array = np.ascontiguousarray(np.asarray(background))
    return ("array", array.shape, hashlib.sha1(array.tobytes()).hexdigest())


def _flatten(rgba: np.ndarray, background: Any) -> np.ndarray:
    """RGB of an RGBA image over `background` (None: white, as the face detector sees it)."""
    if not (rgba[..., 3] < 255).any():
        return np.ascontiguousarray(rgba[..., :3])
    height, width = rgba.shape[:2]
    if background is None or isinstance(background, (str, tuple)):
        from renderer.warp import parse_color

        r, g, b, _ = parse_color(background if background is not None else "white")
        base = np.empty((height, width, 3), np.float32)
        base[...] = (r, g, b)
    else:
        from PIL import Image

        bg = Image.fromarray(np.asarray(background)[..., :3]).resize((width, height), Image.Resampling.LANCZOS)
        base = np.asarray(bg, dtype=np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    out = rgba[..., :3].astype(np.float32) * alpha + base * (1.0 - alpha)
    return np.rint(out).astype(np.uint8)


def _resize_portrait(rgb: np.ndarray, landmarks: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The portrait and its landmarks at output `size` (w, h): scaled, or cropped by at most one
    pixel per side to even dimensions when `size` is the even version of the portrait's size."""
    import cv2

    height, width = rgb.shape[:2]
    out_w, out_h = size
    if (out_w, out_h) == (width, height):
        return rgb, np.asarray(landmarks, dtype=np.float64)
    if width - out_w in (0, 1) and height - out_h in (0, 1):
        return np.ascontiguousarray(rgb[:out_h, :out_w]), np.asarray(landmarks, dtype=np.float64)
    shrink = out_w < width and out_h < height
    scaled = cv2.resize(rgb, (out_w, out_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return scaled, _scale_points(landmarks, (width, height), size)


def _scale_points(points: np.ndarray, source: tuple[int, int], target: tuple[int, int]) -> np.ndarray:
    """Pixel coordinates (centre convention) from a source-size image to a target-size one."""
    out = np.array(points, dtype=np.float64, copy=True)
    sx = target[0] / source[0]
    sy = target[1] / source[1]
    out[..., 0] = (out[..., 0] + 0.5) * sx - 0.5
    out[..., 1] = (out[..., 1] + 0.5) * sy - 0.5
    return out




# --------------------------------------------------------------------------------------------
# portrait preparation


def _portrait_key(portrait: Any, face_landmarks: Any, detector: str, style: str) -> Any:
    def file_key(path: Path) -> Any:
        try:
            if path.is_dir():
                parts = []
                for child in sorted(path.iterdir()):
                    st = child.stat()
                    parts.append((child.name, st.st_size, st.st_mtime_ns))
                return ("dir", _real(path), tuple(parts))
            st = path.stat()
            return ("file", _real(path), st.st_size, st.st_mtime_ns)
        except OSError:
            return None

    def value_key(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (str, os.PathLike)):
            return file_key(Path(value))
        if hasattr(value, "tobytes") and hasattr(value, "mode"):  # PIL
            array = np.asarray(value)
        else:
            try:
                array = np.ascontiguousarray(np.asarray(value))
            except Exception:  # noqa: BLE001 - not hashable content: no caching
                return None
            if array.dtype == object:
                return None
        return ("array", array.shape, str(array.dtype), hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest())

    if type(portrait).__name__ == "Puppet":
        return None
    main = value_key(portrait)
    if main is None:
        return None
    extra = value_key(face_landmarks)
    if face_landmarks is not None and extra is None:
        return None
    return (main, extra, str(detector), style)


def _prepare(portrait: Any, face_landmarks: Any, detector: str, style: str, *, device: Any = None,
             face_tweaks: bool = True) -> PreparedPortrait:
    from makeittalk.face import (
        CARTOON_Z_SCALE,
        PHOTO_Z_SCALE,
        StaticFace,
        add_standard_z,
        apply_original_tweaks,
        detect_landmarks,
        load_image,
        load_landmarks_file,
    )
    from makeittalk.face.topology import check_landmarks

    puppet = None
    path: Path | None = None
    if type(portrait).__name__ == "Puppet":
        puppet = portrait
    elif isinstance(portrait, (str, os.PathLike)):
        path = Path(portrait)
        if path.is_dir():
            check_portrait_path(path)
            from renderer.puppet import Puppet

            puppet = Puppet.load(path)
    name = "portrait" if path is None else (path.name if path.is_dir() else path.stem)

    if puppet is not None:
        image = np.ascontiguousarray(puppet.image)
        rest = np.asarray(puppet.landmarks, dtype=np.float64)
        source = "puppet"
        chosen = puppet.style if style == "auto" else style
        name = puppet.name
    else:
        image = load_image(portrait, "RGBA")
        chosen = style
        rest = None
        source = ""
    if face_landmarks is not None:
        if isinstance(face_landmarks, (str, os.PathLike)):
            rest = load_landmarks_file(face_landmarks)
            source = "file"
        else:
            rest = check_landmarks(face_landmarks, what="face landmarks")
            source = "given"
    elif rest is None:
        from makeittalk.face.prefetch import detection_pixels, take_prefetched

        label = str(portrait) if path is not None else "the portrait"
        rgb = detection_pixels(image)
        # The CLI may have started finding this face in a child process (makeittalk.face.prefetch).
        detection = take_prefetched(rgb, detector, label) if path is not None else None
        if detection is None:
            detection = detect_landmarks(rgb, detector, name=label, device=str(device) if device is not None else None)
        rest = detection.landmarks
        source = detection.detector
    if rest.shape[1] == 2:
        rest = add_standard_z(rest)
    rest = np.asarray(rest, dtype=np.float64)
    label = str(face_landmarks) if isinstance(face_landmarks, (str, os.PathLike)) else f"the landmarks of {name}"
    _check_face_in_image(rest, image.shape[1], image.shape[0], label)
    if chosen == "auto":
        from renderer.puppet import guess_style

        chosen = guess_style(image, rest)
    if chosen == "cartoon":
        face = StaticFace.from_landmarks(rest, z_scale=CARTOON_Z_SCALE)
    else:  # the original's photo path: fixed pixel tweaks (unless the weights say not), z × 0.1
        face = StaticFace.from_landmarks(apply_original_tweaks(rest) if face_tweaks else rest, z_scale=PHOTO_Z_SCALE)
    prepared = PreparedPortrait(name=name, image=image, landmarks=rest, style=chosen, face=face,
                                landmark_source=source, path=path)
    if puppet is not None and style in ("auto", puppet.style) and face_landmarks is None:
        prepared._puppet = puppet
    return prepared


def _check_face_in_image(points: np.ndarray, width: int, height: int, label: str) -> None:
    from makeittalk.face.topology import LandmarksError

    xy = points[:, :2]
    outside = (xy[:, 0] < -0.25 * width) | (xy[:, 0] > 1.25 * width) | (xy[:, 1] < -0.25 * height) | (
        xy[:, 1] > 1.25 * height)
    if outside.any() or (np.ptp(xy[:, 0]) < 4 and np.ptp(xy[:, 1]) < 4):
        raise LandmarksError(
            f"{label}: the face landmarks do not lie in the {width}x{height} portrait; they must be in its "
            "pixels (x right, y down), 68 points in iBUG order"
        )
