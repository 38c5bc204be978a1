"""Portrait loading: any file, PIL image or array in, a plain uint8 RGB(A) array out.

Decisions (documented for callers):
- Channel order is RGB. Arrays passed in are assumed RGB(A) too; OpenCV users convert
  BGR first.
- EXIF orientation is applied, so the array is upright as a photo viewer shows it.
- Transparency in mode "RGB" is composited over white: the original's drawings and most
  cartoon puppets have white backgrounds, and black would add a dark halo around the hair.
  Ask for mode "RGBA" to keep the alpha channel.
- 16-bit images are rescaled (65535 -> 255), not clipped as PIL's convert() would.
- CMYK and other colour modes go through PIL's plain conversion; embedded ICC profiles
  are ignored.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO, Literal, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from makeittalk.errors import ImageError

ImageSource = Union[str, os.PathLike, Image.Image, np.ndarray, IO[bytes]]
ImageMode = Literal["RGB", "RGBA"]

#: Smallest side (pixels) that can hold a detectable face.
MIN_IMAGE_SIDE = 32

_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}


def load_image(source: ImageSource, mode: ImageMode = "RGB") -> np.ndarray:
    """Load a portrait as a C-contiguous uint8 array, (H, W, 3) for "RGB" or (H, W, 4) for "RGBA".

    `source` is a path, an open binary file, a PIL image or an array ((H, W), (H, W, 1|3|4);
    uint8, uint16, bool, or float in [0, 1]). Raises ImageError naming the input and the fix.
    """
    if mode not in ("RGB", "RGBA"):
        raise ValueError(f"mode must be 'RGB' or 'RGBA', not {mode!r}")
    if isinstance(source, np.ndarray):
        name = "the image array"
        rgba = _array_to_rgba(source, name)
    elif isinstance(source, Image.Image):
        name = _pil_name(source)
        rgba = _pil_to_rgba(_upright(source), name)
    elif isinstance(source, (str, os.PathLike)):
        name = str(source)
        rgba = _pil_to_rgba(_open_path(Path(source)), name)
    elif hasattr(source, "read"):
        name = getattr(source, "name", None) or "the image stream"
        rgba = _pil_to_rgba(_open_stream(source, str(name)), str(name))
    else:
        raise ImageError(
            f"cannot read an image from a {type(source).__name__}; pass a file path, a PIL image "
            "or an (H, W, 3) uint8 RGB array"
        )
    height, width = rgba.shape[:2]
    if min(height, width) < MIN_IMAGE_SIDE:
        raise ImageError(
            f"{name}: {width}x{height} pixels is too small to hold a face; use an image at least "
            f"{MIN_IMAGE_SIDE} pixels on each side (256x256 or larger works best)"
        )
    out = rgba if mode == "RGBA" else _composite_on_white(rgba)
    if not out.flags.writeable or not out.flags.c_contiguous or out is source:
        out = np.array(out, dtype=np.uint8, order="C", copy=True)
    return out


def _pil_name(image: Image.Image) -> str:
    filename = getattr(image, "filename", "")
    return str(filename) if filename else "the PIL image"


def check_image_path(path: Path) -> None:
    """ImageError unless `path` is a non-empty file (no decoding: cheap enough to run first)."""
    if not path.exists():
        raise ImageError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise ImageError(f"{path} is a folder; give the path of an image file (PNG, JPEG, ...)")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
    if size == 0:
        raise ImageError(f"{path}: the file is empty; re-export or re-download the image")


def _open_path(path: Path) -> Image.Image:
    check_image_path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
    return _decode(io.BytesIO(data), str(path))


def _open_stream(stream: IO[bytes], name: str) -> Image.Image:
    try:
        data = stream.read()
    except OSError as exc:
        raise ImageError(f"{name}: cannot be read ({exc})") from exc
    if not data:
        raise ImageError(f"{name}: the stream is empty; pass image bytes (PNG, JPEG, ...)")
    return _decode(io.BytesIO(data), name)


def _decode(buffer: io.BytesIO, name: str) -> Image.Image:
    try:
        image = Image.open(buffer)
        image.load()  # decode now so truncated files fail here, not later
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name}: the image is too large to load safely ({exc}); downscale it first") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(
            f"{name}: not an image or an unsupported format; save it as PNG or JPEG"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: the image data is corrupt or truncated ({exc}); re-export the image") from exc
    return _upright(image)


def _upright(image: Image.Image) -> Image.Image:
    # Phones store portraits sideways plus an EXIF rotation flag; detection needs them upright.
    try:
        rotated = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make a readable photo unusable
        return image
    return rotated if rotated is not None else image


def _pil_to_rgba(image: Image.Image, name: str) -> np.ndarray:
    """Any PIL mode to (H, W, 4) uint8; alpha is 255 where the image has no transparency."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        return _gray_to_rgba(_deep_gray_to_uint8(np.asarray(image), mode))
    try:
        if "A" in mode or "a" in mode or _has_transparency(image):
            if mode == "La":  # PIL has no direct La -> RGBA path
                image = image.convert("LA")
            return np.asarray(image.convert("RGBA"), dtype=np.uint8)
        rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (ValueError, OSError) as exc:
        raise ImageError(f"{name}: image mode {mode!r} cannot be converted to RGB ({exc}); save it as an RGB PNG or JPEG") from exc
    alpha = np.full(rgb.shape[:2] + (1,), 255, dtype=np.uint8)
    return np.concatenate([rgb, alpha], axis=2)


def _has_transparency(image: Image.Image) -> bool:
    flag = getattr(image, "has_transparency_data", None)
    if isinstance(flag, bool):
        return flag
    return "transparency" in image.info


def _deep_gray_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    values = values.astype(np.float64)
    if mode == "F":
        if not np.all(np.isfinite(values)):
            values = np.nan_to_num(values, nan=0.0, posinf=255.0, neginf=0.0)
        # Float images are either [0, 1] or [0, 255]; anything above 1 means the latter.
        peak = 1.0 if values.max(initial=0.0) <= 1.0 else 255.0
    elif mode in _SIXTEEN_BIT_MODES:
        peak = 65535.0
    else:
        # 32-bit "I": older Pillow reads 16-bit PNGs this way; values above 255 mean 16-bit.
        peak = 255.0 if values.max(initial=0.0) <= 255.0 else 65535.0
    scaled = np.clip(values, 0.0, peak) * (255.0 / peak)
    return np.rint(scaled).astype(np.uint8)


def _gray_to_rgba(gray: np.ndarray) -> np.ndarray:
    alpha = np.full(gray.shape, 255, dtype=np.uint8)
    return np.stack([gray, gray, gray, alpha], axis=2)


def _array_to_rgba(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(
            f"{name} has shape {array.shape}; expected (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA"
        )
    values = _array_to_uint8(array, name)
    if values.ndim == 2:
        return _gray_to_rgba(values)
    if values.shape[2] == 3:
        alpha = np.full(values.shape[:2] + (1,), 255, dtype=np.uint8)
        return np.concatenate([values, alpha], axis=2)
    return values


def _array_to_uint8(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype == np.uint16:
        return np.rint(array.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ImageError(
                f"{name} is {array.dtype} with values outside 0..255; pass uint8, or uint16 for 16-bit images"
            )
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise ImageError(f"{name} contains NaN or infinite values; pass finite pixel values")
        if array.size and (array.min() < 0.0 or array.max() > 1.0):
            raise ImageError(
                f"{name} is floating point with values outside [0, 1]; scale it to [0, 1] or pass uint8"
            )
        return np.rint(array.astype(np.float64) * 255.0).astype(np.uint8)
    raise ImageError(f"{name} has dtype {array.dtype}; pass a uint8 RGB array")


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[:, :, 3:4]
    if np.all(alpha == 255):
        return np.ascontiguousarray(rgba[:, :, :3])
    rgb = rgba[:, :, :3].astype(np.uint32)
    a = alpha.astype(np.uint32)
    # Integer "over" with rounding: rgb*a/255 + 255*(255-a)/255.
    blended = (rgb * a + 255 * (255 - a) + 127) // 255
    return np.ascontiguousarray(blended.astype(np.uint8))
