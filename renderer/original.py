"""Import puppets in the original MakeItTalk cartoon format (`examples_cartoon/`).

An original puppet NAME is a set of files in one folder:

    NAME.png | NAME.jpg            the puppet image (PNG keeps transparency)
    NAME_bg.*                      optional background, normally the image's size
    NAME_face_open_mouth.txt       68 lines `x y 1.0`: the rest pose in pixels of the image
                                   (the texture-space reference points)
    NAME_face_close_mouth.txt      68 lines `x y z`: normalised landmarks with the mouth
                                   forced closed, the landmark networks' static input q
    NAME_face_open_mouth_norm.txt  optional normalised open-mouth annotation (not needed)
    NAME_scale_shift.txt           3 lines: scale (negative), shift_x, shift_y, with
                                   q_xy = -(xy + shift) * scale
    NAME_delauney_tri.txt          one triangle `a b c` per line, indices into the 68
                                   landmarks followed by 12 points on the image frame (or 48
                                   landmarks without the outer lips: 0-47, 60-67, then 12)

Files that some shipped puppets lack are derived where possible and the derivation is
reported: scale/shift is fitted between the open- and closed-mouth annotations (or computed
from jaw points 0 and 16 as the original generator does); an empty or missing open-mouth
annotation is de-normalised from the other annotations; the closed-mouth file is made from
the open-mouth one; a missing or broken triangulation is recomputed over the same points.
Anything that cannot be derived fails with a PuppetError naming the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from renderer.mesh import NUM_LANDMARKS, Mesh, MeshConfig
from renderer.puppet import Puppet, PuppetError, _check_landmarks_in_image, guess_style

# The 12 frame points of the original's triangulation (gen_puppet_utils.delauney_tri), as
# fractions of (W, H) = (width - 1, height - 1), in its order.
BORDER_12 = ((0, 0), (0, 0.25), (0, 0.5), (0, 0.75), (0, 1), (0.5, 1), (1, 1), (1, 0.5), (1, 0),
             (0.25, 0), (0.5, 0), (0.75, 0))
# Legacy puppets used 8 frame points; their order is not documented, so this natural one is
# tried and the triangulation is re-computed when it does not fit.
BORDER_8 = ((0, 0), (0, 0.5), (0, 1), (0.5, 1), (1, 1), (1, 0.5), (1, 0), (0.5, 0))
# Landmarks kept by inner-lip-only puppets: everything but the outer lips 48-59.
INNER_LIP_LAYOUT = tuple(range(0, 48)) + tuple(range(60, 68))
# Points speech and the mouth closing leave alone (jaw, brows, nose): scale/shift is fitted on
# them.
FIT_POINTS = tuple(range(0, 36))

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tga", ".tif", ".tiff", ".gif")
SIGNATURE_SUFFIXES = ("_face_open_mouth.txt", "_face_close_mouth.txt", "_delauney_tri.txt", "_scale_shift.txt")

# Fitted scale/shift is trusted when the annotations agree this well (pixels, RMS).
FIT_TOLERANCE_PX = 1.5
# A scale_shift file further than this from the annotations is reported (pixels, RMS).
MISMATCH_WARN_PX = 3.0


def border_points(size: tuple[int, int], fractions=BORDER_12) -> np.ndarray:
    """The original's frame points in this renderer's pixel convention: the image frame
    spans -0.5 .. size - 0.5 (the original put them at 0 .. size - 1 in its own)."""
    width, height = size
    return np.array([(-0.5 + fx * width, -0.5 + fy * height) for fx, fy in fractions], dtype=np.float64)


def original_border_points(size: tuple[int, int], fractions=BORDER_12) -> np.ndarray:
    """The frame points exactly as the original generator placed them (W = width - 1)."""
    width, height = size
    return np.array([(fx * (width - 1), fy * (height - 1)) for fx, fy in fractions], dtype=np.float64)


def find_puppet_names(folder: str | Path) -> list[str]:
    """Names of the original puppets in `folder` (from their annotation/triangle files)."""
    names = set()
    for file in Path(folder).iterdir():
        for suffix in SIGNATURE_SUFFIXES:
            if file.name.endswith(suffix) and len(file.name) > len(suffix):
                names.add(file.name[: -len(suffix)])
    return sorted(names)


def _read_numbers(path: Path) -> np.ndarray:
    """Every number in a text file (whitespace or commas), like the original's fscanf loops;
    anything else fails with the file, line and token."""
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise PuppetError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise PuppetError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    values: list[float] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for token in re.split(r"[\s,;]+", line.strip()):
            if not token:
                continue
            try:
                value = float(token)
            except ValueError:
                raise PuppetError(f"{path}: line {number}: {token!r} is not a number") from None
            if not np.isfinite(value):
                raise PuppetError(f"{path}: line {number}: {token!r} is not a finite number")
            values.append(value)
    return np.asarray(values, dtype=np.float64)


def _read_points(path: Path, what: str) -> np.ndarray | None:
    """68 points from `x y [z]` lines: (68, 2) or (68, 3); None for an empty file."""
    values = _read_numbers(path)
    if values.size == 0:
        return None
    for columns in (3, 2):
        if values.size == NUM_LANDMARKS * columns:
            return values.reshape(NUM_LANDMARKS, columns)
    raise PuppetError(f"{path}: holds {values.size} numbers; {what} must be 68 lines of 'x y z' "
                      f"(204 numbers) or 'x y' (136)")


@dataclass
class OriginalFiles:
    """Where the files of one original puppet are (None: absent)."""

    folder: Path
    name: str
    images: list[Path]
    background: Path | None
    open_mouth: Path | None
    open_mouth_norm: Path | None
    close_mouth: Path | None
    scale_shift: Path | None
    triangles: Path | None

    @classmethod
    def find(cls, folder: Path, name: str) -> "OriginalFiles":
        entries = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}

        def file(suffix: str) -> Path | None:
            return entries.get(f"{name}{suffix}".lower())

        def images(stem: str) -> list[Path]:
            return [entries[f"{stem}{ext}".lower()] for ext in IMAGE_EXTENSIONS if f"{stem}{ext}".lower() in entries]

        backgrounds = images(f"{name}_bg")
        return cls(
            folder=folder, name=name, images=images(name),
            background=backgrounds[0] if backgrounds else None,
            open_mouth=file("_face_open_mouth.txt"), open_mouth_norm=file("_face_open_mouth_norm.txt"),
            close_mouth=file("_face_close_mouth.txt"), scale_shift=file("_scale_shift.txt"),
            triangles=file("_delauney_tri.txt"),
        )


@dataclass
class ImportReport:
    """What an import used, and what it had to derive."""

    files: dict[str, str] = field(default_factory=dict)
    derived: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def fit_scale_shift(pixels: np.ndarray, normalized: np.ndarray, points=FIT_POINTS) -> tuple[float, np.ndarray, float]:
    """Least-squares (scale, shift) with normalized_xy = -(pixels_xy + shift) * scale over
    `points`; also the RMS residual in pixels."""
    idx = list(points)
    xy = np.asarray(pixels, dtype=np.float64)[idx, :2]
    q = np.asarray(normalized, dtype=np.float64)[idx, :2]
    n = len(idx)
    # q = -s * xy + c, with c = -s * shift: unknowns (s, c_x, c_y).
    a = np.zeros((2 * n, 3))
    a[0::2, 0], a[1::2, 0] = -xy[:, 0], -xy[:, 1]
    a[0::2, 1] = 1.0
    a[1::2, 2] = 1.0
    b = q.reshape(-1)
    (s, cx, cy), *_ = np.linalg.lstsq(a, b, rcond=None)
    if not np.isfinite(s) or abs(s) < 1e-12:
        return float("nan"), np.zeros(2), float("inf")
    shift = -np.array([cx, cy]) / s
    residual = float(np.sqrt(np.mean((a @ np.array([s, cx, cy]) - b) ** 2)) / abs(s))
    return float(s), shift, residual


def _normalize(pixels: np.ndarray, scale: float, shift: np.ndarray) -> np.ndarray:
    return -((pixels[:, :2] + shift) * scale)


def _denormalize(normalized: np.ndarray, scale: float, shift: np.ndarray) -> np.ndarray:
    return (-normalized[:, :2]) / scale - shift


def _load_rgba(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as pil:
            return np.asarray(pil.convert("RGBA")).copy()
    except (UnidentifiedImageError, OSError) as exc:
        raise PuppetError(f"{path}: cannot be read as an image ({exc})") from exc


def _triangle_layout(triangles: np.ndarray):
    """(landmark indices of the file's first points, border fractions) from the largest index."""
    top = int(triangles.max())
    layouts = {
        NUM_LANDMARKS + len(BORDER_12) - 1: (tuple(range(NUM_LANDMARKS)), BORDER_12),
        len(INNER_LIP_LAYOUT) + len(BORDER_12) - 1: (INNER_LIP_LAYOUT, BORDER_12),
        NUM_LANDMARKS + len(BORDER_8) - 1: (tuple(range(NUM_LANDMARKS)), BORDER_8),
        len(INNER_LIP_LAYOUT) + len(BORDER_8) - 1: (INNER_LIP_LAYOUT, BORDER_8),
    }
    if top not in layouts:
        raise ValueError(f"its largest index is {top}; expected 79 (68 landmarks + 12 frame points) or 67 "
                         f"(56 without the outer lips + 12)")
    return layouts[top]


def _read_triangles(path: Path) -> np.ndarray:
    values = _read_numbers(path)
    if values.size == 0:
        raise ValueError("it is empty")
    if values.size % 3:
        raise ValueError(f"it holds {values.size} numbers, not a multiple of 3 (one 'a b c' triangle per line)")
    if not np.all(values == np.round(values)) or values.min() < 0:
        raise ValueError("triangle indices must be non-negative integers")
    return values.reshape(-1, 3).astype(np.int64)


def _mesh_from_file(path: Path, landmarks: np.ndarray, size: tuple[int, int]) -> Mesh:
    triangles = _read_triangles(path)
    face_order, fractions = _triangle_layout(triangles)
    mapping = np.concatenate([np.asarray(face_order), NUM_LANDMARKS + np.arange(len(fractions))])
    return Mesh.from_triangles(landmarks, border_points(size, fractions), mapping[triangles], size,
                               source="original")


def import_original_puppet(
    folder: str | Path,
    name: str | None = None,
    *,
    style: str = "auto",
    mesh: str = "original",
    mesh_config: MeshConfig | None = None,
) -> tuple[Puppet, ImportReport]:
    """Read the original-format puppet NAME from `folder` into a Puppet.

    `mesh`: "original" uses the puppet's own triangulation (re-computed over the same points
    if it is missing or broken), "rebuild" this renderer's anchored mesh, whose forehead and
    hair follow the head rigidly.
    """
    from makeittalk.face import CARTOON_Z_SCALE, close_mouth
    from makeittalk.resources import standard_face

    folder = Path(folder)
    if not folder.is_dir():
        raise PuppetError(f"{folder}: no such folder; give the folder that holds the original puppet files "
                          "(NAME.png, NAME_face_open_mouth.txt, ...)")
    found = find_puppet_names(folder)
    if name is None:
        if len(found) != 1:
            listed = ", ".join(found) if found else "none"
            raise PuppetError(f"{folder}: pass --name; original puppets found there: {listed}")
        name = found[0]
    if mesh not in ("original", "rebuild"):
        raise PuppetError(f"unknown mesh choice {mesh!r}; use original or rebuild")
    files = OriginalFiles.find(folder, name)
    if not any((files.images, files.open_mouth, files.close_mouth, files.triangles, files.scale_shift)):
        listed = ", ".join(found) if found else "none"
        raise PuppetError(f"{folder}: no original puppet named {name!r} (expected {name}.png and "
                          f"{name}_face_open_mouth.txt ...); puppets found there: {listed}")
    report = ImportReport()

    # --- annotations ------------------------------------------------------------------------
    open_px = _read_points(files.open_mouth, "the open-mouth annotation") if files.open_mouth else None
    if files.open_mouth and open_px is None:
        report.derived.append(f"{files.open_mouth.name} is empty")
    open_norm = _read_points(files.open_mouth_norm, "the normalised open-mouth annotation") if files.open_mouth_norm else None
    close_q = _read_points(files.close_mouth, "the closed-mouth landmarks") if files.close_mouth else None
    for label, path, value in (("open_mouth", files.open_mouth, open_px), ("close_mouth", files.close_mouth, close_q)):
        if value is not None:
            report.files[label] = path.name

    # --- scale / shift ----------------------------------------------------------------------
    scale_shift_name = f"{name}_scale_shift.txt"
    if files.scale_shift is not None:
        values = _read_numbers(files.scale_shift)
        if values.size != 3:
            raise PuppetError(f"{files.scale_shift}: holds {values.size} numbers; expected 3 lines: scale, "
                              "shift_x, shift_y")
        scale, shift = float(values[0]), values[1:3].copy()
        if scale == 0.0:
            raise PuppetError(f"{files.scale_shift}: the scale is 0; it must be 1.6 / (x0 - x16), a negative number")
        report.files["scale_shift"] = files.scale_shift.name
        if open_px is not None and close_q is not None:
            error = np.sqrt(np.mean(np.sum(
                (_denormalize(close_q, scale, shift)[list(FIT_POINTS)] - open_px[list(FIT_POINTS), :2]) ** 2, axis=1)))
            if error > MISMATCH_WARN_PX:
                report.warnings.append(
                    f"{files.scale_shift.name} maps {files.close_mouth.name} {error:.1f} px (RMS) away from "
                    f"{files.open_mouth.name} on the jaw, brows and nose; the annotations may not belong together")
    elif open_px is not None:
        scale = shift = None
        if close_q is not None:
            fitted_scale, fitted_shift, residual = fit_scale_shift(open_px, close_q)
            if residual <= FIT_TOLERANCE_PX:
                scale, shift = fitted_scale, fitted_shift
                report.derived.append(
                    f"{scale_shift_name} is missing: scale/shift fitted between {files.open_mouth.name} and "
                    f"{files.close_mouth.name} (residual {residual:.2f} px)")
            else:
                report.warnings.append(
                    f"{files.close_mouth.name} does not match {files.open_mouth.name} by a scale and shift "
                    f"(residual {residual:.1f} px)")
        if scale is None:
            x0, x16 = open_px[0, 0], open_px[16, 0]
            if x0 == x16:
                raise PuppetError(f"{files.open_mouth}: jaw points 0 and 16 share x, so {scale_shift_name} "
                                  "cannot be derived")
            scale = 1.6 / (x0 - x16)
            shift = -0.5 * (open_px[0, :2] + open_px[16, :2])
            report.derived.append(f"{scale_shift_name} is missing: scale/shift computed from jaw points 0 and 16 "
                                  f"of {files.open_mouth.name}, as the original generator does")
    else:
        missing_open = f"{name}_face_open_mouth.txt is {'empty' if files.open_mouth else 'missing'}"
        raise PuppetError(f"{folder}: {missing_open} and {scale_shift_name} is missing, so the rest landmarks in "
                          f"pixels cannot be derived; add {name}_face_open_mouth.txt (68 lines 'x y 1.0' in pixels of "
                          f"the image) or {scale_shift_name}")

    # --- rest landmarks (pixels) ------------------------------------------------------------
    if open_px is not None:
        rest_xy = open_px[:, :2].copy()
    elif open_norm is not None:
        rest_xy = _denormalize(open_norm, scale, shift)
        report.files["open_mouth_norm"] = files.open_mouth_norm.name
        report.derived.append(f"rest landmarks de-normalised from {files.open_mouth_norm.name} with {scale_shift_name}")
    elif close_q is not None:
        rest_xy = _denormalize(close_q, scale, shift)
        report.derived.append(f"rest landmarks de-normalised from {files.close_mouth.name} with {scale_shift_name} "
                              "(the rest mouth is closed)")
    else:
        raise PuppetError(f"{folder}: {name}_face_open_mouth.txt and {name}_face_close_mouth.txt are both missing "
                          "or empty; an original puppet needs at least one of them")
    if not np.isfinite(rest_xy).all():
        raise PuppetError(f"{folder}: the rest landmarks are not finite (is the scale in {scale_shift_name} 0?)")

    # --- the networks' static input q ---------------------------------------------------------
    if close_q is not None:
        q = close_q if close_q.shape[1] == 3 else np.concatenate(
            [close_q, standard_face()[:, 2:3] * CARTOON_Z_SCALE], axis=1)
    else:
        q = np.empty((NUM_LANDMARKS, 3))
        q[:, :2] = _normalize(rest_xy, scale, shift)
        q[:, :2] = close_mouth(q[:, :2])
        q[:, 2] = standard_face()[:, 2] * CARTOON_Z_SCALE
        report.derived.append(f"{name}_face_close_mouth.txt is missing: made by normalising the rest landmarks "
                              "and closing the mouth")

    # --- image and background -----------------------------------------------------------------
    if not files.images:
        raise PuppetError(f"{folder}: the puppet image {name}.png (or {name}.jpg) is missing")
    image = None
    first_error: PuppetError | None = None
    source_label = report.files.get("open_mouth") or "the derived rest landmarks"
    for candidate in files.images:  # PNG first; another one if its size fits the annotation
        rgba = _load_rgba(candidate)
        try:
            _check_landmarks_in_image(rest_xy, (rgba.shape[1], rgba.shape[0]), f"{source_label} on {candidate.name}")
        except PuppetError as exc:
            first_error = first_error or exc
            continue
        image = rgba
        report.files["image"] = candidate.name
        break
    if image is None:
        raise PuppetError(f"{folder}: {first_error}")
    size = (int(image.shape[1]), int(image.shape[0]))
    background = None
    if files.background is not None:
        background = _load_rgba(files.background)
        report.files["background"] = files.background.name
        if background.shape[:2] != image.shape[:2]:
            report.warnings.append(
                f"{files.background.name} is {background.shape[1]}x{background.shape[0]}, the image "
                f"{size[0]}x{size[1]}; it is stretched to the image")

    # --- mesh -----------------------------------------------------------------------------------
    if mesh == "rebuild":
        warp_mesh = Mesh.build(rest_xy, size, mesh_config)
        report.derived.append("mesh rebuilt with forehead and hair anchors (--mesh rebuild)")
    elif files.triangles is None:
        warp_mesh = Mesh.delaunay(rest_xy, border_points(size), size)
        report.derived.append(f"{name}_delauney_tri.txt is missing: the landmarks and 12 frame points were "
                              "triangulated as the original generator does")
    else:
        try:
            warp_mesh = _mesh_from_file(files.triangles, rest_xy, size)
            report.files["triangles"] = files.triangles.name
        except ValueError as exc:
            warp_mesh = Mesh.delaunay(rest_xy, border_points(size), size)
            report.derived.append(f"{files.triangles.name} cannot be used ({exc}): the landmarks and 12 frame "
                                  "points were re-triangulated")

    landmarks = np.concatenate([rest_xy, standard_face()[:, 2:3]], axis=1)
    chosen = guess_style(image, landmarks) if style == "auto" else style
    if chosen not in ("photo", "cartoon"):
        raise PuppetError(f"unknown style {style!r}; choose auto, photo or cartoon")
    source = {"format": "makeittalk-original", "name": name, "files": dict(report.files)}
    if report.derived:
        source["derived"] = list(report.derived)
    puppet = Puppet(image=image, landmarks=landmarks, mesh=warp_mesh, style=chosen, name=name,
                    scale=float(scale), shift=np.asarray(shift, dtype=np.float64), source=source,
                    static_q=np.asarray(q, dtype=np.float64), background=background)
    return puppet, report


__all__ = [
    "BORDER_12",
    "ImportReport",
    "OriginalFiles",
    "border_points",
    "find_puppet_names",
    "fit_scale_shift",
    "import_original_puppet",
    "original_border_points",
]
