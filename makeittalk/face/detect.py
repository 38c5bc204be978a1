"""68-point face landmark detection (face-alignment 3-D FAN or dlib) and landmark files.

Detector choice ("auto"): face-alignment, which the original used, when its three weight
files are on disk (the torch hub cache or `weights_dir`); otherwise dlib's HOG detector and
68-point shape predictor, which the reference fixtures used. Nothing here ever downloads.

Landmarks are (68, 3) float64 pixels: x right, y down, origin at the top-left pixel.
z comes from FAN's depth network for face-alignment (pixel-scaled relative depth). dlib has
no depth, so z is the standard face's z column in its own normalised units, unscaled (the
reference's `shape_in`); the normalisation replaces z anyway (spec §1.3).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import os
import threading
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Literal
from urllib.parse import urlparse

import numpy as np

from makeittalk.errors import FaceNotFoundError, MakeItTalkError, WeightsError
from makeittalk.face.image import ImageSource, load_image
from makeittalk.face.topology import NUM_LANDMARKS, LandmarksError, check_landmarks
from makeittalk.resources import standard_face

logger = logging.getLogger(__name__)

DetectorChoice = Literal["auto", "face-alignment", "dlib"]
DETECTORS: tuple[str, ...] = ("auto", "face-alignment", "dlib")
_ALIASES = {"fan": "face-alignment", "face_alignment": "face-alignment", "facealignment": "face-alignment"}

#: Where the 68-point dlib model lives if not in face-recognition-models.
DLIB_PREDICTOR_ENV = "MAKEITTALK_DLIB_PREDICTOR"
DLIB_PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"

# HOG search policy. The reference ran 1 upsampling on its 256-px portrait; above this size
# faces are big enough for the detector's 80-px window without it, and 4x the pixels is slow.
_HOG_UPSAMPLE_MAX_SIDE = 640
# Larger images are searched on a downscaled copy; landmarks still come from full resolution.
_HOG_SEARCH_MAX_SIDE = 1024
# A last pass with one more upsampling only for small images (thumbnails with small faces).
_HOG_EXTRA_UPSAMPLE_MAX_SIDE = 512
# Faces that fill the frame: retry with this much black border on each side
# (the development data's "method 1").
_HOG_PAD_FRACTION = 0.25
# HOG detections scoring below this fraction of the best one are treated as false positives
# (on astronaut() the suit's mission patch scores ~0.1 of the face).
_HOG_RELATIVE_SCORE = 0.3

_HINT = (
    "use an upright, frontal, well-lit portrait whose face is at least about 80 pixels wide, or give the "
    "68 landmarks by hand: --face-landmarks FILE (68 lines of 'x y' in pixels), or "
    "`makeittalk puppet create IMAGE --landmarks FILE` for a cartoon"
)


class FaceDetectionWarning(UserWarning):
    """Detection succeeded with a caveat (several faces, a fallback detector)."""


@dataclass(eq=False)  # array fields: compare landmarks explicitly
class FaceDetection:
    """One face's landmarks and how they were found.

    `landmarks` (68, 3) float64 pixels; `detector` "face-alignment" or "dlib"; `num_faces`
    detections in the image (the largest is used); `box` (left, top, right, bottom) pixels of
    the chosen face; `method` the pass that found it ("sfd", "hog", "hog-padded",
    "hog-upsampled"); `z_source` "detector" or "standard_face" (see the module docstring).
    """

    landmarks: np.ndarray
    detector: str
    num_faces: int
    box: tuple[float, float, float, float]
    warnings: list[str] = field(default_factory=list)
    image_size: tuple[int, int] = (0, 0)  # (width, height)
    method: str = ""
    z_source: str = "standard_face"


# --------------------------------------------------------------------------- face-alignment


@dataclass(frozen=True)
class FaceAlignmentWeights:
    """The three files face-alignment's 3-D pipeline loads."""

    detector: Path  # S3FD face detector
    landmarks: Path  # 3DFAN-4
    depth: Path  # ResNetDepth

    def paths(self) -> tuple[Path, Path, Path]:
        return (self.detector, self.landmarks, self.depth)


@lru_cache(maxsize=1)
def face_alignment_weight_urls() -> dict[str, str]:
    """Download URLs of the 3-D weights, read from the installed face-alignment's source.

    Keys "detector", "landmarks", "depth". File names differ between releases (1.4 shipped
    TorchScript .zip files, 1.5 .pth.tar), so they are never hard-coded here.
    Raises WeightsError if face-alignment cannot be imported.
    """
    try:
        from face_alignment import api as fa_api
        from face_alignment.detection.sfd import sfd_detector
    except Exception as exc:  # noqa: BLE001 - any import failure means "not usable here"
        raise WeightsError(
            f"face-alignment cannot be imported ({type(exc).__name__}: {exc}); "
            "install it with `pip install face-alignment` or use the dlib detector"
        ) from exc
    return {
        "detector": sfd_detector.models_urls["s3fd"],
        "landmarks": fa_api.models_urls["3DFAN-4"],
        "depth": fa_api.models_urls["depth"],
    }


def face_alignment_weight_names() -> dict[str, str]:
    """File names of the 3-D weights ({"detector": "s3fd-….pth", …})."""
    return {role: _url_basename(url) for role, url in face_alignment_weight_urls().items()}


def face_alignment_cache_dir() -> Path:
    """The torch hub checkpoint folder where face-alignment looks for (and would download) weights."""
    import sys

    if "torch" in sys.modules:  # honours torch.hub.set_dir
        return Path(sys.modules["torch"].hub.get_dir()) / "checkpoints"
    # torch.hub.get_dir()'s rule, without importing torch (a second of the face prefetch's time).
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))) / "hub" / "checkpoints"


def find_face_alignment_weights(weights_dir: str | os.PathLike | None = None) -> FaceAlignmentWeights | None:
    """The weight files in `weights_dir` (or the torch hub cache if None); None if any is missing."""
    folder = Path(weights_dir) if weights_dir is not None else face_alignment_cache_dir()
    if not any(folder.glob("s3fd*")):
        return None  # every face-alignment release names it s3fd-*; skips importing the package
    names = face_alignment_weight_names()
    paths = {role: folder / name for role, name in names.items()}
    if all(_nonempty_file(p) for p in paths.values()):
        return FaceAlignmentWeights(**paths)
    return None


def _missing_weights_error(weights_dir: str | os.PathLike | None) -> WeightsError:
    urls = face_alignment_weight_urls()
    folder = Path(weights_dir) if weights_dir is not None else face_alignment_cache_dir()
    lines = []
    for url in urls.values():
        name = _url_basename(url)
        state = "present" if _nonempty_file(folder / name) else "MISSING"
        lines.append(f"{name} ({state}; from {url})")
    where = (
        f"the folder given as weights_dir, {folder}"
        if weights_dir is not None
        else f"the torch hub cache {folder} (or pass a folder holding them as weights_dir)"
    )
    return WeightsError(
        "face-alignment weights are not installed; this tool never downloads them. Put "
        + ", ".join(lines)
        + f" into {where}, or use the dlib detector (detector='dlib')"
    )


def _nonempty_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def _url_basename(url: str) -> str:
    return os.path.basename(urlparse(url).path)


_BUILD_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _face_alignment_model(weights: FaceAlignmentWeights, device: str) -> tuple[Any, threading.Lock]:
    import face_alignment
    from face_alignment import api as fa_api

    local = {p.name: p for p in (weights.landmarks, weights.depth)}

    def local_only(url: str, *args: object, **kwargs: object) -> str:
        name = _url_basename(url)
        if name not in local:
            raise WeightsError(f"face-alignment asked for {name} ({url}), which is not installed; refusing to download it")
        return str(local[name])

    if not hasattr(fa_api, "load_file_from_url"):
        raise WeightsError(
            f"face-alignment {getattr(face_alignment, '__version__', '?')} loads its weights in a way this "
            "tool does not support; install face-alignment 1.4 or 1.5, or use the dlib detector"
        )
    landmarks_type = getattr(fa_api.LandmarksType, "THREE_D", None) or getattr(fa_api.LandmarksType, "_3D")
    kwargs: dict[str, Any] = {
        "device": device,
        "flip_input": True,  # as the original
        "face_detector": "sfd",
        "face_detector_kwargs": {"path_to_detector": str(weights.detector)},
    }
    if "compile" in inspect.signature(fa_api.FaceAlignment.__init__).parameters:
        kwargs["compile"] = False  # torch.compile warm-up costs minutes and writes a cache in ~
    # face-alignment resolves FAN and depth through its module-level load_file_from_url, which
    # downloads when the file is absent; swap in a resolver that can only return local files.
    with _BUILD_LOCK:
        original: Callable[..., str] = fa_api.load_file_from_url
        fa_api.load_file_from_url = local_only
        try:
            model = fa_api.FaceAlignment(landmarks_type, **kwargs)
        finally:
            fa_api.load_file_from_url = original
    return model, threading.Lock()


def _detect_face_alignment(rgb: np.ndarray, weights: FaceAlignmentWeights, device: str | None) -> FaceDetection | None:
    from makeittalk.device import pick_device

    model, lock = _face_alignment_model(weights, str(pick_device(device)))
    with lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns "No faces were detected." itself
        # FAN was trained on RGB; the original fed it OpenCV's BGR (a quirk that only moves the
        # detected points slightly, so it is not reproduced).
        found, _, boxes = model.get_landmarks_from_image(rgb, return_bboxes=True)
    if not found:
        return None
    areas = [float((b[2] - b[0]) * (b[3] - b[1])) for b in boxes]
    best = int(np.argmax(areas))
    box = tuple(float(v) for v in boxes[best][:4])
    points = np.asarray(found[best], dtype=np.float64).reshape(NUM_LANDMARKS, -1)
    if points.shape[1] == 2:
        points = add_standard_z(points)
    return FaceDetection(
        landmarks=points,
        detector="face-alignment",
        num_faces=len(found),
        box=box,  # type: ignore[arg-type]
        image_size=(rgb.shape[1], rgb.shape[0]),
        method="sfd",
        z_source="detector",
    )


# --------------------------------------------------------------------------- dlib


def dlib_predictor_path() -> Path:
    """The 68-point dlib model: $MAKEITTALK_DLIB_PREDICTOR, else face-recognition-models' copy."""
    override = os.environ.get(DLIB_PREDICTOR_ENV)
    if override:
        path = Path(override)
        if not _nonempty_file(path):
            raise WeightsError(f"{DLIB_PREDICTOR_ENV}={override} is not a file; point it at {DLIB_PREDICTOR_FILE}")
        return path
    # find_spec does not import the package (its __init__ imports pkg_resources).
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / "models" / DLIB_PREDICTOR_FILE
        if _nonempty_file(path):
            return path
    raise WeightsError(
        f"dlib's {DLIB_PREDICTOR_FILE} was not found: install it with "
        f"`pip install face-recognition-models`, or set {DLIB_PREDICTOR_ENV} to the .dat file"
    )


@lru_cache(maxsize=1)
def _dlib_models() -> tuple[Any, Any, threading.Lock]:
    try:
        import dlib
    except ImportError as exc:
        raise WeightsError(
            f"dlib cannot be imported ({exc}); install it with `pip install dlib-bin`, "
            "or install the face-alignment weights"
        ) from exc
    predictor_path = dlib_predictor_path()
    try:
        predictor = dlib.shape_predictor(str(predictor_path))
    except RuntimeError as exc:
        raise WeightsError(f"{predictor_path} cannot be loaded ({exc}); reinstall face-recognition-models") from exc
    return dlib.get_frontal_face_detector(), predictor, threading.Lock()


def _hog_passes(search_side: int) -> list[tuple[str, float, int]]:
    upsample = 1 if search_side <= _HOG_UPSAMPLE_MAX_SIDE else 0
    passes = [("hog", 0.0, upsample), ("hog-padded", _HOG_PAD_FRACTION, upsample)]
    if search_side <= _HOG_EXTRA_UPSAMPLE_MAX_SIDE:
        passes.append(("hog-upsampled", 0.0, upsample + 1))
    return passes


def _detect_dlib(rgb: np.ndarray) -> FaceDetection | None:
    import dlib

    detector, predictor, lock = _dlib_models()
    height, width = rgb.shape[:2]
    factor = min(1.0, _HOG_SEARCH_MAX_SIDE / max(height, width))
    search = rgb if factor == 1.0 else _resize(rgb, factor)
    sh, sw = search.shape[:2]
    for method, pad_fraction, upsample in _hog_passes(max(sh, sw)):
        pad_y, pad_x = int(round(sh * pad_fraction)), int(round(sw * pad_fraction))
        image = search if pad_fraction == 0 else np.pad(search, ((pad_y, pad_y), (pad_x, pad_x), (0, 0)))
        with lock:
            rects, scores, _ = detector.run(np.ascontiguousarray(image), upsample, 0.0)
        if len(rects) == 0:
            continue
        best_score = max(scores)
        kept = [r for r, s in zip(rects, scores) if s >= _HOG_RELATIVE_SCORE * best_score]
        chosen = max(kept, key=lambda r: r.width() * r.height())
        if factor == 1.0 and pad_fraction == 0:
            rect = chosen  # untouched, so the reference portrait reproduces exactly
        else:
            rect = dlib.rectangle(
                int(round((chosen.left() - pad_x) / factor)),
                int(round((chosen.top() - pad_y) / factor)),
                int(round((chosen.right() - pad_x) / factor)),
                int(round((chosen.bottom() - pad_y) / factor)),
            )
        # Outside the image the predictor reads 0, exactly what a black pad would give,
        # so full-resolution landmarks need no padded copy.
        with lock:
            shape = predictor(rgb, rect)
        xy = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        return FaceDetection(
            landmarks=add_standard_z(xy),
            detector="dlib",
            num_faces=len(kept),
            box=(float(rect.left()), float(rect.top()), float(rect.right()), float(rect.bottom())),
            image_size=(width, height),
            method=method,
            z_source="standard_face",
        )
    return None


def _resize(rgb: np.ndarray, factor: float) -> np.ndarray:
    from PIL import Image

    height, width = rgb.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)


# --------------------------------------------------------------------------- public entry points


def resolve_detector(detector: str = "auto", weights_dir: str | os.PathLike | None = None) -> str:
    """The detector `detect_landmarks` would use: "face-alignment" or "dlib".

    Raises WeightsError when face-alignment is asked for (explicitly, or through `weights_dir`)
    and its weights are not there.
    """
    choice = _normalise_choice(detector)
    if choice == "dlib":
        return "dlib"
    try:
        weights = find_face_alignment_weights(weights_dir)
    except WeightsError:
        if choice == "face-alignment" or weights_dir is not None:
            raise
        return "dlib"  # face-alignment not importable: auto quietly uses dlib
    if weights is not None:
        return "face-alignment"
    if choice == "face-alignment" or weights_dir is not None:
        raise _missing_weights_error(weights_dir)
    return "dlib"


def detect_landmarks(
    image_rgb: ImageSource,
    detector: str = "auto",
    weights_dir: str | os.PathLike | None = None,
    *,
    device: str | None = None,
    name: str | None = None,
) -> FaceDetection:
    """Find the (largest) face in a portrait and return its 68 landmarks in pixels.

    `image_rgb` is an (H, W, 3) uint8 RGB array or anything `load_image` accepts.
    `detector` is "auto", "face-alignment" or "dlib"; `weights_dir` a folder holding
    face-alignment's weight files (used in place of the torch hub cache; never downloads).
    `device` is for face-alignment (see makeittalk.device.pick_device); `name` labels the
    image in messages. Raises FaceNotFoundError when no face is found.
    """
    label = name or (str(image_rgb) if isinstance(image_rgb, (str, os.PathLike)) else "the portrait")
    rgb = load_image(image_rgb, "RGB")
    chosen = resolve_detector(detector, weights_dir)
    notes: list[str] = []
    result: FaceDetection | None = None
    tried: list[str] = []
    if chosen == "face-alignment":
        weights = find_face_alignment_weights(weights_dir)
        assert weights is not None  # resolve_detector checked
        try:
            result = _detect_face_alignment(rgb, weights, device)
        except MakeItTalkError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken optional detector must not stop "auto"
            if _normalise_choice(detector) != "auto" or weights_dir is not None:
                raise WeightsError(
                    f"face-alignment failed ({type(exc).__name__}: {exc}); check its weight files "
                    "and the device, or use the dlib detector"
                ) from exc
            notes.append(f"face-alignment failed ({type(exc).__name__}: {exc}); used dlib instead")
            chosen = "dlib"
        else:
            tried.append("face-alignment")
            if result is None and _normalise_choice(detector) == "auto":
                notes.append("face-alignment found no face; used dlib instead")
                chosen = "dlib"
    if chosen == "dlib" and result is None:
        tried.append("dlib")
        result = _detect_dlib(rgb)
    if result is None:
        raise FaceNotFoundError(f"{label}: no face found (tried {' and '.join(tried)}); {_HINT}")
    if result.num_faces > 1:
        left, top, right, bottom = (int(round(v)) for v in result.box)
        notes.append(
            f"{label}: {result.num_faces} faces found; using the largest (box {left},{top}-{right},{bottom}). "
            "To animate another one, crop the portrait to it or pass its landmarks with --face-landmarks FILE"
        )
    for note in notes:
        warnings.warn(note, FaceDetectionWarning, stacklevel=2)
    result.warnings.extend(notes)
    logger.debug("%s: %s (%s) found %d face(s), box %s", label, result.detector, result.method, result.num_faces, result.box)
    return result


def clear_detector_cache() -> None:
    """Drop the loaded detector models (they are kept after first use because loading is slow)."""
    _dlib_models.cache_clear()
    _face_alignment_model.cache_clear()
    face_alignment_weight_urls.cache_clear()


def _normalise_choice(detector: str) -> str:
    choice = _ALIASES.get(str(detector).strip().lower(), str(detector).strip().lower())
    if choice not in DETECTORS:
        raise MakeItTalkError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    return choice


# --------------------------------------------------------------------------- landmark files


def add_standard_z(points_xy: np.ndarray) -> np.ndarray:
    """(68, 2) pixel points -> (68, 3), z = the standard face's z column (normalised units)."""
    xy = check_landmarks(points_xy, what="landmarks", dims=(2,))
    return np.concatenate([xy, standard_face()[:, 2:3]], axis=1)


def check_landmarks_path(file: Path) -> None:
    """LandmarksError unless `file` exists and is a file (cheap enough to run before any work)."""
    if not file.exists():
        raise LandmarksError(f"{file}: landmarks file not found; check the path")
    if file.is_dir():
        raise LandmarksError(f"{file} is a folder; give a landmarks file (JSON or 68 lines of 'x y')")


def load_landmarks_file(path: str | os.PathLike) -> np.ndarray:
    """Read 68 hand-made landmarks: (68, 2) or (68, 3) float64 pixels.

    Formats: JSON, a list of 68 [x, y] or [x, y, z] (or {"landmarks": that list}); text
    with 68 lines of `x y` or `x y z` (whitespace or commas; blank lines and `#` comments
    skipped; a single line of 136 or 204 numbers is also accepted); or a NumPy .npy array of
    shape (68, 2) or (68, 3). Raises LandmarksError.
    """
    file = Path(path)
    check_landmarks_path(file)
    if file.suffix.lower() == ".npy":
        return _npy_landmarks(file)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise LandmarksError(f"{file}: cannot be read ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LandmarksError(f"{file}: not a text file; write the landmarks as JSON, 68 lines of 'x y' or a .npy array") from exc
    if not text.strip():
        raise LandmarksError(f"{file}: the file is empty; it needs 68 lines of 'x y' (pixels)")
    if file.suffix.lower() == ".json" or text.lstrip()[:1] in "[{":
        rows = _json_rows(text, file)
    else:
        rows = _text_rows(text, file)
    if len(rows) != NUM_LANDMARKS:
        raise LandmarksError(
            f"{file}: found {len(rows)} points, need exactly 68 (iBUG-68 order: jaw 0-16, brows, nose, eyes, lips)"
        )
    widths = {len(r) for r in rows}
    if len(widths) != 1 or widths.pop() not in (2, 3):
        counts = sorted({len(r) for r in rows})
        raise LandmarksError(f"{file}: every point needs 2 (x y) or 3 (x y z) numbers, all alike; found rows of {counts} values")
    return check_landmarks(np.array(rows, dtype=np.float64), what=str(file))


def _npy_landmarks(file: Path) -> np.ndarray:
    try:
        points = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise LandmarksError(f"{file}: not a readable .npy array ({exc}); save one with numpy.save") from exc
    if points.ndim == 3 and points.shape[1:2] == (NUM_LANDMARKS,):
        raise LandmarksError(f"{file} holds {points.shape[0]} frames of landmarks; save one face, e.g. numpy.save(path, frames[0])")
    if points.shape not in ((NUM_LANDMARKS, 2), (NUM_LANDMARKS, 3)) or not np.issubdtype(points.dtype, np.number):
        raise LandmarksError(f"{file}: array of shape {points.shape} ({points.dtype}); need 68 x 2 (x y) or 68 x 3 (x y z) numbers")
    return check_landmarks(points.astype(np.float64), what=str(file))


def _json_rows(text: str, file: Path) -> list[list[float]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LandmarksError(f"{file}: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})") from exc
    if isinstance(data, dict):
        if "landmarks" not in data:
            raise LandmarksError(f"{file}: JSON object has no 'landmarks' key (keys: {', '.join(map(str, data)) or 'none'})")
        data = data["landmarks"]
    if not isinstance(data, list):
        raise LandmarksError(f"{file}: expected a JSON list of 68 [x, y] points, got {type(data).__name__}")
    if len(data) in (2 * NUM_LANDMARKS, 3 * NUM_LANDMARKS) and all(_is_number(v) for v in data):
        width = len(data) // NUM_LANDMARKS
        data = [data[i : i + width] for i in range(0, len(data), width)]
    rows = []
    for index, point in enumerate(data):
        if not isinstance(point, list) or not all(_is_number(v) for v in point):
            raise LandmarksError(f"{file}: point {index} is {json.dumps(point)[:60]}; each point must be [x, y] or [x, y, z] numbers")
        rows.append([float(v) for v in point])
    return rows


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text_rows(text: str, file: Path) -> list[list[float]]:
    rows: list[list[float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].replace(",", " ").split()
        if not content:
            continue
        try:
            rows.append([float(v) for v in content])
        except ValueError as exc:
            raise LandmarksError(f"{file}, line {number}: {line.strip()[:60]!r} is not numbers; each line must be 'x y' or 'x y z'") from exc
    if len(rows) == 1 and len(rows[0]) in (2 * NUM_LANDMARKS, 3 * NUM_LANDMARKS):
        width = len(rows[0]) // NUM_LANDMARKS
        rows = [rows[0][i : i + width] for i in range(0, len(rows[0]), width)]
    return rows


__all__ = [
    "DETECTORS",
    "FaceAlignmentWeights",
    "FaceDetection",
    "FaceDetectionWarning",
    "add_standard_z",
    "clear_detector_cache",
    "detect_landmarks",
    "dlib_predictor_path",
    "face_alignment_cache_dir",
    "face_alignment_weight_names",
    "face_alignment_weight_urls",
    "find_face_alignment_weights",
    "load_landmarks_file",
    "resolve_detector",
]
