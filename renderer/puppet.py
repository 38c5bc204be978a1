"""Puppets: a portrait prepared once for the warp renderer.

A puppet folder holds everything the renderer and the landmark networks need, in plain files:

    puppet.json      description: format, name, style, image size, scale/shift, where the
                     landmarks came from, the file names below
    image.png        the portrait, RGBA (transparency kept for compositing)
    landmarks.txt    68 lines `x y z`: the rest landmarks in pixels of image.png
    mesh.json        the triangulated warp mesh (vertices, kinds, follow weights, triangles)
    triangles.txt    the triangles, one `a b c` per line (the original's delauney_tri format)
    scale_shift.txt  3 lines: scale, shift_x, shift_y (the original's normalisation)
    static_face.txt  optional, 68 lines `x y z`: the landmark networks' normalised static input
                     q when it is not simply the normalised rest landmarks (an original
                     puppet's closed-mouth annotation)
    background.png   optional background the puppet is rendered over by default

Folders are written atomically (a temporary folder renamed into place) and never replace an
existing one unless asked to, and then only if it is a puppet folder.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from makeittalk.errors import MakeItTalkError
from makeittalk.fileio import normal_permissions, replace_folder
from renderer.mesh import NUM_LANDMARKS, Mesh, MeshConfig

PUPPET_FORMAT = "makeittalk-puppet"
PUPPET_VERSION = 1
DESCRIPTION_FILE = "puppet.json"
IMAGE_FILE = "image.png"
LANDMARKS_FILE = "landmarks.txt"
MESH_FILE = "mesh.json"
TRIANGLES_FILE = "triangles.txt"
SCALE_SHIFT_FILE = "scale_shift.txt"
STATIC_FACE_FILE = "static_face.txt"
BACKGROUND_FILE = "background.png"
STYLES = ("photo", "cartoon")


class PuppetError(MakeItTalkError):
    """A puppet folder or puppet input that cannot be used."""


def _face_box(image_rgba: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    h, w = image_rgba.shape[:2]
    x0, y0 = np.clip(np.floor(pts.min(0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(pts.max(0)).astype(int) + 1, 1, [w, h])
    return image_rgba[y0:y1, x0:x1, :3]


def _flat_share(rgb: np.ndarray) -> float:
    if rgb.shape[0] < 4 or rgb.shape[1] < 4:
        return 0.0
    return float((np.abs(np.diff(rgb.astype(np.int16), axis=1)).max(axis=2) <= 2).mean())


def style_features(image_rgba: np.ndarray, landmarks: np.ndarray) -> dict[str, float]:
    """What guess_style decides on: transparency, and flatness at native and at face scale."""
    from PIL import Image

    face = _face_box(image_rgba, landmarks)
    small = face
    if face.shape[1] > FACE_SCALE_PX:
        height = max(4, round(face.shape[0] * FACE_SCALE_PX / face.shape[1]))
        small = np.asarray(Image.fromarray(np.ascontiguousarray(face)).resize((FACE_SCALE_PX, height), Image.BOX))
    levels = (small.reshape(-1, 3) // 16).astype(np.int32)
    counts = np.bincount(levels[:, 0] * 256 + levels[:, 1] * 16 + levels[:, 2], minlength=4096)
    return {
        "palette_share": float(np.sort(counts)[-PALETTE_COLOURS:].sum() / max(1, counts.sum())),
        "transparent_share": float((image_rgba[..., 3] < 250).mean()),
        "flat_share": _flat_share(face),
        "flat_share_face_scale": _flat_share(small),
    }


FACE_SCALE_PX = 96
PALETTE_COLOURS = 6


def guess_style(image_rgba: np.ndarray, landmarks: np.ndarray) -> str:
    """'cartoon' for transparent faces or faces drawn in a few flat colours, else 'photo'.

    Measured on the face box scaled to FACE_SCALE_PX wide: the share of its pixels that fall in
    its PALETTE_COLOURS most common colours (4 bits per channel). Drawings are filled with a few
    colours (0.76-0.88 for the project's cartoon as PNG or JPEG from 256 px up); photographed
    skin spreads over many (0.21-0.66 on 76 real video frames and photos). The older rule, the
    share of flat neighbouring pixels at native size, called 15 of 30 compressed or upscaled
    video frames cartoons. `benchmarks/bench_style.py` measures both.
    """
    features = style_features(image_rgba, landmarks)
    if features["transparent_share"] > 0.01:
        return "cartoon"
    return "cartoon" if features["palette_share"] > CARTOON_PALETTE_SHARE else "photo"


# Between the largest photo (0.661) and the smallest cartoon from 256 px up (0.757), nearer the
# photos' side: a photo taken for a cartoon gets flat fills, the costlier mistake.
CARTOON_PALETTE_SHARE = 0.70


def _check_landmarks_in_image(landmarks: np.ndarray, size: tuple[int, int], label: str) -> None:
    w, h = size
    pts = landmarks[:, :2]
    outside = (pts[:, 0] < -0.5) | (pts[:, 0] > w - 0.5) | (pts[:, 1] < -0.5) | (pts[:, 1] > h - 0.5)
    far = (pts[:, 0] < -0.25 * w) | (pts[:, 0] > 1.25 * w) | (pts[:, 1] < -0.25 * h) | (pts[:, 1] > 1.25 * h)
    if far.any() or outside.mean() > 0.25:
        idx = np.flatnonzero(outside)
        shown = ", ".join(str(i) for i in idx[:8]) + (" ..." if len(idx) > 8 else "")
        raise PuppetError(
            f"{label}: {int(outside.sum())} of 68 landmarks lie outside the {w}x{h} image (points {shown}); "
            "landmarks must be in pixels of this image (x right, y down)"
        )
    if np.hypot(*(pts[16] - pts[0])) < 4 or np.ptp(pts[:, 1]) < 4:
        raise PuppetError(f"{label}: the landmarks span only a few pixels; they must be in pixels of the image")


@dataclass
class Puppet:
    """An image, its rest landmarks, the warp mesh and the original's scale/shift."""

    image: np.ndarray  # (H, W, 4) uint8 RGBA
    landmarks: np.ndarray  # (68, 3) float64 pixels
    mesh: Mesh
    style: str = "photo"
    name: str = "puppet"
    scale: float = 0.0
    shift: np.ndarray = field(default_factory=lambda: np.zeros(2))
    source: dict[str, Any] = field(default_factory=dict)
    # The networks' normalised static input (68, 3) when it is not derived from the rest
    # landmarks (original puppets ship one with the mouth closed); None derives it.
    static_q: np.ndarray | None = None
    # (H, W, 4) uint8 RGBA rendered behind the puppet by default; None: no background.
    background: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        return (int(self.image.shape[1]), int(self.image.shape[0]))

    # --- creation ----------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        image: Any,
        landmarks: Any = None,
        *,
        style: str = "auto",
        name: str | None = None,
        detector: str = "auto",
        mesh_config: MeshConfig | None = None,
    ) -> "Puppet":
        """Prepare a puppet from an image (path, PIL image or array).

        `landmarks` is None (detect them), a path to a landmarks file (JSON or 68 lines of
        `x y`), or a (68, 2|3) array in pixels of the image.
        """
        from makeittalk.face import (
            StaticFace,
            add_standard_z,
            detect_landmarks,
            load_image,
            load_landmarks_file,
        )
        from makeittalk.face.topology import check_landmarks

        label = str(image) if isinstance(image, (str, os.PathLike)) else "the image"
        rgba = load_image(image, "RGBA")
        source: dict[str, Any] = {}
        if isinstance(image, (str, os.PathLike)):
            source["image"] = Path(image).name
        if landmarks is None:
            rgb = load_image(rgba, "RGB")  # transparency composited on white for the detector
            detection = detect_landmarks(rgb, detector=detector, name=label)
            points = np.asarray(detection.landmarks, dtype=np.float64)
            source.update(landmarks="detected", detector=detection.detector, num_faces=detection.num_faces)
            lm_label = label
        elif isinstance(landmarks, (str, os.PathLike)):
            points = load_landmarks_file(landmarks)
            source.update(landmarks="file", landmarks_file=Path(landmarks).name)
            lm_label = str(landmarks)
        else:
            points = check_landmarks(landmarks, what="landmarks")
            source.update(landmarks="given")
            lm_label = "the landmarks"
        if points.shape[1] == 2:
            points = add_standard_z(points)
        size = (int(rgba.shape[1]), int(rgba.shape[0]))
        _check_landmarks_in_image(points, size, lm_label)

        chosen = guess_style(rgba, points) if style == "auto" else style
        if chosen not in STYLES:
            raise PuppetError(f"unknown style {style!r}; choose auto, {' or '.join(STYLES)}")
        static = StaticFace.from_landmarks(points)
        mesh = Mesh.build(points, size, mesh_config)
        if name is None:
            name = Path(image).stem if isinstance(image, (str, os.PathLike)) else "puppet"
        return cls(image=rgba, landmarks=points, mesh=mesh, style=chosen, name=name,
                   scale=float(static.scale), shift=np.asarray(static.shift, dtype=np.float64),
                   source=source)

    # --- files -------------------------------------------------------------------------------

    def description(self) -> dict[str, Any]:
        files = {
            "image": IMAGE_FILE,
            "landmarks": LANDMARKS_FILE,
            "mesh": MESH_FILE,
            "triangles": TRIANGLES_FILE,
            "scale_shift": SCALE_SHIFT_FILE,
        }
        if self.static_q is not None:
            files["static_face"] = STATIC_FACE_FILE
        if self.background is not None:
            files["background"] = BACKGROUND_FILE
        return {
            "format": PUPPET_FORMAT,
            "version": PUPPET_VERSION,
            "name": self.name,
            "style": self.style,
            "image_size": list(self.size),
            "scale": self.scale,
            "shift": [float(v) for v in self.shift],
            "source": self.source,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "files": files,
            "mesh": {"vertices": self.mesh.num_vertices, "triangles": int(len(self.mesh.triangles)),
                     "source": self.mesh.source},
        }

    def _write_files(self, folder: Path) -> None:
        from PIL import Image

        Image.fromarray(self.image, "RGBA").save(folder / IMAGE_FILE)
        np.savetxt(folder / LANDMARKS_FILE, self.landmarks, fmt="%.6f",
                   header="68 rest landmarks: x y z (pixels of image.png; z in standard-face units)")
        (folder / MESH_FILE).write_text(json.dumps(self.mesh.to_dict()), encoding="utf-8")
        np.savetxt(folder / TRIANGLES_FILE, self.mesh.triangles, fmt="%d")
        (folder / SCALE_SHIFT_FILE).write_text(
            f"{self.scale:.10f}\n{self.shift[0]:.10f}\n{self.shift[1]:.10f}\n", encoding="utf-8"
        )
        if self.static_q is not None:
            np.savetxt(folder / STATIC_FACE_FILE, np.asarray(self.static_q, dtype=np.float64), fmt="%.10f",
                       header="68 normalised landmarks x y z: the landmark networks' static input q")
        if self.background is not None:
            Image.fromarray(np.asarray(self.background, dtype=np.uint8), "RGBA").save(folder / BACKGROUND_FILE)
        (folder / DESCRIPTION_FILE).write_text(json.dumps(self.description(), indent=2) + "\n",
                                               encoding="utf-8")

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the puppet folder atomically; refuse to replace an existing one unless
        `overwrite` (and even then only a puppet folder, never an unrelated one)."""
        target = Path(path)
        if target.exists() or target.is_symlink():
            empty_dir = target.is_dir() and not target.is_symlink() and not any(target.iterdir())
            if not empty_dir:
                if not overwrite:
                    raise PuppetError(f"{target} already exists; pass --overwrite to replace it")
                if not (target.is_dir() and (target / DESCRIPTION_FILE).is_file()):
                    raise PuppetError(
                        f"{target} exists and is not a puppet folder; refusing to replace it, "
                        "choose another output folder"
                    )
        parent = target.parent
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
        try:
            normal_permissions(staging)  # mkdtemp makes the folder private (0700)
            self._write_files(staging)
            replace_folder(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    @classmethod
    def import_original(cls, folder: str | os.PathLike, name: str | None = None, **kwargs) -> "Puppet":
        """Import a puppet in the original MakeItTalk format (see renderer.original)."""
        from renderer.original import import_original_puppet

        return import_original_puppet(folder, name, **kwargs)[0]

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Puppet":
        """Read a puppet folder written by `save`; raises PuppetError naming what is wrong."""
        from PIL import Image, UnidentifiedImageError

        folder = Path(path)
        if not folder.is_dir():
            raise PuppetError(f"{folder}: no such puppet folder; create one with 'makeittalk puppet create IMAGE -o {folder}'")
        desc_path = folder / DESCRIPTION_FILE
        if not desc_path.is_file():
            raise PuppetError(f"{folder}: not a puppet folder ({DESCRIPTION_FILE} is missing)")
        try:
            desc = json.loads(desc_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PuppetError(f"{desc_path}: cannot be read as JSON ({exc}); re-create the puppet") from exc
        if not isinstance(desc, dict) or desc.get("format") != PUPPET_FORMAT:
            raise PuppetError(f"{desc_path}: not a makeittalk puppet description")
        if int(desc.get("version", 0)) > PUPPET_VERSION:
            raise PuppetError(f"{desc_path}: puppet format version {desc.get('version')} is newer than this "
                              f"makeittalk understands ({PUPPET_VERSION}); upgrade makeittalk")
        files = desc.get("files", {})

        def member(key: str, default: str) -> Path:
            file = folder / str(files.get(key, default))
            if not file.is_file():
                raise PuppetError(f"{folder}: {file.name} is missing; re-create the puppet")
            return file

        try:
            with Image.open(member("image", IMAGE_FILE)) as pil:
                image = np.asarray(pil.convert("RGBA")).copy()
        except (UnidentifiedImageError, OSError) as exc:
            raise PuppetError(f"{folder}: the puppet image cannot be read ({exc})") from exc
        try:
            landmarks = np.loadtxt(member("landmarks", LANDMARKS_FILE), dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise PuppetError(f"{folder}: {LANDMARKS_FILE} is not 68 rows of numbers ({exc})") from exc
        if landmarks.shape[0] != NUM_LANDMARKS or landmarks.shape[1] not in (2, 3) or not np.isfinite(landmarks).all():
            raise PuppetError(f"{folder}: {LANDMARKS_FILE} must hold 68 finite rows of 'x y z', got shape {landmarks.shape}")
        try:
            mesh = Mesh.from_dict(json.loads(member("mesh", MESH_FILE).read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            raise PuppetError(f"{folder}: {MESH_FILE} is not a valid warp mesh ({exc}); re-create the puppet") from exc
        size = (int(image.shape[1]), int(image.shape[0]))
        if tuple(mesh.image_size) != size:
            raise PuppetError(f"{folder}: the mesh was made for {mesh.image_size[0]}x{mesh.image_size[1]} "
                              f"but the image is {size[0]}x{size[1]}; re-create the puppet")
        if mesh.num_vertices < NUM_LANDMARKS or np.abs(mesh.rest[:NUM_LANDMARKS] - landmarks[:, :2]).max() > 1e-3:
            raise PuppetError(f"{folder}: the mesh does not match {LANDMARKS_FILE}; re-create the puppet")
        style = str(desc.get("style", "photo"))
        if style not in STYLES:
            raise PuppetError(f"{desc_path}: unknown style {style!r} (expected {' or '.join(STYLES)})")
        static_q = None
        if "static_face" in files:
            try:
                static_q = np.loadtxt(member("static_face", STATIC_FACE_FILE), dtype=np.float64, ndmin=2)
            except ValueError as exc:
                raise PuppetError(f"{folder}: {STATIC_FACE_FILE} is not 68 rows of numbers ({exc})") from exc
            if static_q.shape != (NUM_LANDMARKS, 3) or not np.isfinite(static_q).all():
                raise PuppetError(f"{folder}: {STATIC_FACE_FILE} must hold 68 finite rows of 'x y z', "
                                  f"got shape {static_q.shape}")
        background = None
        if "background" in files:
            try:
                with Image.open(member("background", BACKGROUND_FILE)) as pil:
                    background = np.asarray(pil.convert("RGBA")).copy()
            except (UnidentifiedImageError, OSError) as exc:
                raise PuppetError(f"{folder}: the background image cannot be read ({exc})") from exc
        return cls(image=image, landmarks=landmarks, mesh=mesh, style=style,
                   name=str(desc.get("name", folder.name)), scale=float(desc.get("scale", 0.0)),
                   shift=np.asarray(desc.get("shift", [0.0, 0.0]), dtype=np.float64),
                   source=dict(desc.get("source", {})), static_q=static_q, background=background)

    # --- inspection --------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """What would make this puppet animate badly (empty when it is fine)."""
        issues = list(self.mesh.problems())
        w, h = self.size
        pts = self.landmarks[:, :2]
        outside = (pts[:, 0] < -0.5) | (pts[:, 0] > w - 0.5) | (pts[:, 1] < -0.5) | (pts[:, 1] > h - 0.5)
        if outside.any():
            issues.append(f"{int(outside.sum())} landmarks lie outside the image")
        if self.scale >= 0:
            issues.append("scale is not negative: jaw point 0 should be left of point 16 (mirrored landmarks?)")
        if (self.image[..., 3] == 0).all():
            issues.append("the image is fully transparent")
        if self.style == "cartoon" and self.source.get("landmarks") == "detected":
            from renderer.plausibility import cartoon_landmark_problems

            issues.extend(cartoon_landmark_problems(self.image, self.landmarks))
        return issues

    def static_face(self):
        """The landmark networks' static input: the puppet's own q where it has one (an
        imported original puppet's closed-mouth file, with its scale/shift), else the original
        normalisation of the rest landmarks, z following the style as in the original's photo
        and cartoon paths."""
        from makeittalk.face import CARTOON_Z_SCALE, PHOTO_Z_SCALE, StaticFace

        if self.static_q is not None:
            return StaticFace(q=np.asarray(self.static_q, dtype=np.float64), scale=self.scale, shift=self.shift)
        z_scale = CARTOON_Z_SCALE if self.style == "cartoon" else PHOTO_Z_SCALE
        return StaticFace.from_landmarks(self.landmarks, z_scale=z_scale)

    def renderer(self, **kwargs):
        """A WarpRenderer for this puppet (keyword arguments go to WarpRenderer; the puppet's
        own background is used unless `background` is given, None included)."""
        from renderer.warp import WarpRenderer

        return WarpRenderer.from_puppet(self, **kwargs)

    def preview(self, *, mesh: bool = True, landmarks: bool = True, scale: float | None = None) -> np.ndarray:
        """The image (on a checkerboard where transparent) with the mesh and landmarks drawn."""
        from PIL import Image, ImageDraw

        w, h = self.size
        factor = scale if scale is not None else max(1.0, 768.0 / max(w, h))
        size = (max(1, int(round(w * factor))), max(1, int(round(h * factor))))
        board = _checkerboard(self.image.shape[:2])
        base = Image.alpha_composite(Image.fromarray(board, "RGBA"), Image.fromarray(self.image, "RGBA"))
        base = base.resize(size, Image.Resampling.LANCZOS)
        overlay = Image.new("RGBA", size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)

        def at(p):
            return ((p[0] + 0.5) * factor, (p[1] + 0.5) * factor)

        if mesh:
            # Light lines with a dark casing: visible over light and dark pixels alike.
            edges = {tuple(sorted((int(t[i]), int(t[(i + 1) % 3])))) for t in self.mesh.triangles for i in range(3)}
            for colour, line_width in (((0, 0, 0, 110), 3), ((255, 255, 255, 200), 1)):
                for a, b in sorted(edges):
                    draw.line([at(self.mesh.rest[a]), at(self.mesh.rest[b])], fill=colour, width=line_width)
            for p, kind in zip(self.mesh.rest[NUM_LANDMARKS:], self.mesh.kinds[NUM_LANDMARKS:]):
                x, y = at(p)
                colour = {1: (255, 200, 0, 255), 2: (0, 200, 255, 255)}.get(int(kind), (160, 160, 160, 255))
                draw.rectangle([x - 3, y - 3, x + 3, y + 3], outline=colour, width=2)
        if landmarks:
            for i, p in enumerate(self.landmarks):
                x, y = at(p)
                colour = _PART_COLOURS[_part_of(i)]
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour, outline=(0, 0, 0, 255))
        return np.asarray(Image.alpha_composite(base, overlay))


_PART_COLOURS = {
    "jaw": (255, 255, 255, 255), "brows": (255, 140, 0, 255), "nose": (255, 230, 0, 255),
    "eyes": (70, 130, 255, 255), "lips": (255, 60, 160, 255),
}


def _part_of(index: int) -> str:
    if index < 17:
        return "jaw"
    if index < 27:
        return "brows"
    if index < 36:
        return "nose"
    if index < 48:
        return "eyes"
    return "lips"


def _checkerboard(shape: tuple[int, int], cell: int = 16) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    light = ((yy // cell + xx // cell) % 2 == 0)
    board = np.where(light[..., None], 235, 200).astype(np.uint8).repeat(3, axis=2)
    return np.concatenate([board, np.full((h, w, 1), 255, np.uint8)], axis=2)
