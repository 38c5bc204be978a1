"""The image-translator path: crop/align, landmark drawing, the UNet in batches, paste-back.

The translator (`ImageTranslator`, the original `ResUnetGenerator`) only works at 256x256 on
faces framed like its training crops. A portrait of any size is therefore handled in three
steps:

1. **Align.** A similarity transform (scale, rotation, shift) maps the portrait's rest
   landmarks onto a canonical 256x256 face: the standard face with the midpoint of jaw points
   0 and 16 at (128, 100) and those points 123 px apart, the framing of the original's example
   portraits. The portrait is resampled through it once (`FaceCrop`).
2. **Translate.** For every video frame the landmarks are mapped through the same transform
   and drawn exactly as the original draws them (`draw_landmarks`, reference README §5); the
   network input is [drawing (BGR/255) ⊕ aligned portrait (BGR/255)] (spec §6.2), frames go
   through the network in batches under `torch.inference_mode()`, and the output becomes
   tanh → negatives to 0 → ×255 → uint8 (truncated) → BGR to RGB, as in the original.
3. **Paste back.** The generated 256x256 face is warped back with the inverse transform and
   blended into the full-resolution portrait through a mask that fades to zero over a band
   along the crop's border (`feather`), so the output keeps the user's framing and size and
   shows no seam.

Landmark coordinates are the pixel coordinates the detector reports (the original draws
them on the image they were detected on with no offset), so the same affine matrix serves
points and `cv2.warpAffine`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from makeittalk.face.topology import LANDMARK_DRAWING_COLORS_BGR, LANDMARK_DRAWING_SEGMENTS

__all__ = [
    "TRANSLATOR_SIZE",
    "FaceCrop",
    "TranslatorRenderer",
    "draw_landmarks",
    "feather_mask",
    "translator_input",
    "translator_output_to_rgb",
]

TRANSLATOR_SIZE = 256
# Canonical framing in the 256x256 crop (the original's example portraits): jaw points 0 and 16
# are FACE_WIDTH apart with their midpoint at JAW_MIDPOINT.
FACE_WIDTH = 123.0
JAW_MIDPOINT = (128.0, 100.0)
# Points the alignment fits: jaw ends, nose, eyes and mouth corners (stable under speech).
ALIGN_POINTS = (0, 16, *range(27, 36), *range(36, 48), 48, 54)
# Width of the paste-back fade along the crop border, in crop pixels.
DEFAULT_FEATHER = 24.0
# Coordinates are clipped to this before the integer cast: far outside any canvas, inside int32.
_COORD_LIMIT = 1 << 20

_SEGMENTS = tuple(
    (tuple(int(c) for c in LANDMARK_DRAWING_COLORS_BGR[part]), segments)
    for part, segments in LANDMARK_DRAWING_SEGMENTS.items()
)


def draw_landmarks(points: np.ndarray, size: int = TRANSLATOR_SIZE, out: np.ndarray | None = None) -> np.ndarray:
    """The original's landmark drawing (`vis_landmark_on_img`): a (size, size, 3) uint8 BGR image.

    White canvas; coordinates truncated toward zero (`astype(int)`); `cv2.line`, thickness 2,
    8-connected, part by part in the original's order and colours (BGR). `out` may be a
    preallocated (size, size, 3) uint8 array to draw into.
    """
    import cv2

    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] != 68 or pts.shape[1] < 2:
        raise ValueError(f"draw_landmarks needs (68, 2|3) points, got {pts.shape}")
    xy = np.clip(np.nan_to_num(pts[:, :2], nan=-_COORD_LIMIT), -_COORD_LIMIT, _COORD_LIMIT).astype(np.int64)
    if out is None:
        canvas = np.full((size, size, 3), 255, dtype=np.uint8)
    else:
        canvas = out
        canvas.fill(255)
    coords = xy.tolist()
    for color, segments in _SEGMENTS:
        for i, j in segments:
            cv2.line(canvas, tuple(coords[i]), tuple(coords[j]), color, 2)
    return canvas


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama, no reflection) mapping src (N,2) onto dst (N,2): (2, 3)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rotation = u @ sign @ vt
    var = (s**2).sum() / len(src)
    scale = float(np.trace(np.diag(sigma) @ sign) / var) if var > 0 else 1.0
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mu_d - matrix[:, :2] @ mu_s
    return matrix


def canonical_face(size: int = TRANSLATOR_SIZE) -> np.ndarray:
    """(68, 2) standard face placed in the canonical framing of a size x size crop."""
    from makeittalk.resources import standard_face

    k = size / TRANSLATOR_SIZE
    mid = np.asarray(JAW_MIDPOINT) * k
    return mid + standard_face()[:, :2] * (FACE_WIDTH * k / 1.6)


def feather_mask(size: int = TRANSLATOR_SIZE, feather: float = DEFAULT_FEATHER) -> np.ndarray:
    """(size, size) float32 mask: 1 inside, falling smoothly to 0 over `feather` px at the border."""
    centres = np.arange(size, dtype=np.float64) + 0.5
    edge = np.minimum(centres, size - centres)  # distance of each pixel centre to the border
    ramp = np.clip(edge / max(float(feather), 1e-6), 0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)  # smoothstep: no visible crease where the fade ends
    return np.minimum.outer(ramp, ramp).astype(np.float32)


@dataclass
class FaceCrop:
    """The aligned crop of one portrait and everything needed to paste frames back.

    `matrix` maps portrait pixels to crop pixels; `portrait` is the (H, W, 3) uint8 RGB image
    frames are pasted into; `crop_bgr` the aligned (size, size, 3) uint8 BGR portrait (the
    translator's appearance input); `box` the (x0, y0, x1, y1) region of the portrait the
    crop covers; `paste_matrix` maps crop pixels into that region; `mask` (box h, box w, 1)
    float32 is the feathered blend weight there.
    """

    matrix: np.ndarray
    portrait: np.ndarray
    crop_bgr: np.ndarray
    box: tuple[int, int, int, int]
    paste_matrix: np.ndarray
    mask: np.ndarray
    size: int = TRANSLATOR_SIZE

    @classmethod
    def from_landmarks(
        cls,
        portrait_rgb: np.ndarray,
        landmarks: np.ndarray,
        *,
        size: int = TRANSLATOR_SIZE,
        feather: float = DEFAULT_FEATHER,
        align_square: bool = False,
    ) -> FaceCrop:
        """Align `portrait_rgb` (H, W, 3) by its `landmarks` (68, 2|3).

        A portrait of exactly size x size is taken as it is (identity transform, no seam),
        as the original takes its 256x256 input, unless `align_square`.
        """
        import cv2

        image = np.ascontiguousarray(portrait_rgb[:, :, :3])
        if image.shape[:2] == (size, size) and not align_square:
            # Already the network's size: used as is, as the original uses its 256x256 input
            # (no alignment, the generated frame is the output), so its frames are reproduced.
            whole = np.ones((size, size, 1), np.float32)
            return cls(matrix=np.array([[1.0, 0, 0], [0, 1.0, 0]]), portrait=image,
                       crop_bgr=np.ascontiguousarray(image[:, :, ::-1]), box=(0, 0, size, size),
                       paste_matrix=np.array([[1.0, 0, 0], [0, 1.0, 0]]), mask=whole, size=size)
        points = np.asarray(landmarks, dtype=np.float64)[:, :2]
        index = list(ALIGN_POINTS)
        matrix = _similarity(points[index], canonical_face(size)[index])
        scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
        # Shrinking a lot with bilinear sampling aliases: pre-shrink with an area filter so
        # the remaining warp scales by about 1.
        source, pre = image, 1.0
        if scale < 0.75:
            pre = scale
            height, width = image.shape[:2]
            source = cv2.resize(image, (max(1, round(width * pre)), max(1, round(height * pre))),
                                interpolation=cv2.INTER_AREA)
            pre_x = source.shape[1] / width
            pre_y = source.shape[0] / height
            # points p in the portrait sit at about (p + 0.5) * pre - 0.5 in the shrunk image
            to_source = np.array([[pre_x, 0, 0.5 * pre_x - 0.5], [0, pre_y, 0.5 * pre_y - 0.5]])
            warp = _compose(matrix, _invert(to_source))
        else:
            warp = matrix
        crop_rgb = cv2.warpAffine(source, warp, (size, size), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
        crop_bgr = np.ascontiguousarray(crop_rgb[:, :, ::-1])

        inverse = _invert(matrix)
        height, width = image.shape[:2]
        corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]])
        mapped = corners @ inverse[:, :2].T + inverse[:, 2]
        x0 = int(np.clip(np.floor(mapped[:, 0].min()), 0, width))
        y0 = int(np.clip(np.floor(mapped[:, 1].min()), 0, height))
        x1 = int(np.clip(np.ceil(mapped[:, 0].max()) + 1, 0, width))
        y1 = int(np.clip(np.ceil(mapped[:, 1].max()) + 1, 0, height))
        if x1 <= x0 or y1 <= y0:
            raise ValueError("the face crop does not overlap the portrait")
        paste = inverse.copy()
        paste[:, 2] -= (x0, y0)
        mask = cv2.warpAffine(feather_mask(size, feather), paste, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        return cls(matrix=matrix, portrait=image, crop_bgr=crop_bgr, box=(x0, y0, x1, y1),
                   paste_matrix=paste, mask=np.ascontiguousarray(mask[:, :, None]), size=size)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """(..., 68, 2|3) portrait-pixel landmarks in crop pixels (z unchanged)."""
        out = np.array(points, dtype=np.float64, copy=True)
        xy = out[..., :2]
        out[..., :2] = xy @ self.matrix[:, :2].T + self.matrix[:, 2]
        return out

    def paste(self, generated_rgb: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The portrait with the (size, size, 3) uint8 RGB face blended in: (H, W, 3) uint8."""
        import cv2

        x0, y0, x1, y1 = self.box
        face = cv2.warpAffine(generated_rgb, self.paste_matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        frame = out if out is not None else np.empty_like(self.portrait)
        frame[...] = self.portrait
        region = self.portrait[y0:y1, x0:x1].astype(np.float32)
        region += self.mask * (face.astype(np.float32) - region)
        np.rint(region, out=region)
        frame[y0:y1, x0:x1] = region.astype(np.uint8)
        return frame


def _invert(matrix: np.ndarray) -> np.ndarray:
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """outer ∘ inner for (2, 3) affine matrices."""
    a = np.vstack([outer, [0.0, 0.0, 1.0]])
    b = np.vstack([inner, [0.0, 0.0, 1.0]])
    return (a @ b)[:2]


def translator_input(drawings_bgr: np.ndarray, portrait_bgr: np.ndarray):
    """The network input (B, 6, S, S) float32: drawings (B, S, S, 3) and the portrait (S, S, 3),
    both uint8 BGR, scaled as float32(value) / 255 (spec §6.2)."""
    import torch

    batch = drawings_bgr.shape[0]
    size = drawings_bgr.shape[1]
    x = np.empty((batch, size, size, 6), dtype=np.float32)
    np.divide(drawings_bgr, np.float32(255.0), out=x[..., :3], dtype=np.float32)
    np.divide(portrait_bgr, np.float32(255.0), out=x[..., 3:], dtype=np.float32)
    # NHWC memory viewed as NCHW: exactly the channels-last layout the convolutions prefer.
    return torch.from_numpy(x).permute(0, 3, 1, 2)


def translator_output_to_rgb(output_tanh) -> np.ndarray:
    """(B, 3, S, S) tanh output (BGR) -> (B, S, S, 3) uint8 RGB: negatives to 0, ×255, truncated."""
    array = output_tanh.detach().float().cpu().numpy()
    array = np.clip(array, 0.0, None) * np.float32(255.0)
    # The original casts with astype(uint8) (truncation); tanh <= 1 keeps values <= 255.
    bgr = array.astype(np.uint8)
    return np.ascontiguousarray(bgr[:, ::-1].transpose(0, 2, 3, 1))


PRECISIONS = ("auto", "float32", "bfloat16", "float16")


def default_batch_size(device) -> int:
    """Frames per network call: 8 on CPUs (end to end on a 2-core AMX CPU, 30 s at 512x512:
    53 s with 8, 58 s with 4, 67 s with 16), 16 on GPUs."""
    import torch

    return 8 if torch.device(device).type == "cpu" else 16


def autocast_dtype(device, precision: str = "auto"):
    """The autocast dtype for the translator on `device`, or None for plain float32.

    "auto" uses bfloat16 where the hardware computes it natively (CPUs with AMX or
    AVX512-BF16: about 3x faster, frames within a few 8-bit levels of float32; CUDA GPUs
    with bf16) and float32 elsewhere.
    """
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose {', '.join(PRECISIONS)}")
    kind = torch.device(device).type
    if precision == "float32":
        return None
    if precision == "bfloat16":
        return torch.bfloat16
    if precision == "float16":
        return torch.float16
    if kind == "cpu":
        cpu = getattr(torch, "cpu", None)
        try:
            native = bool(cpu._is_amx_tile_supported() or cpu._is_avx512_bf16_supported())
        except AttributeError:
            native = False
        return torch.bfloat16 if native else None
    if kind == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return None


class TranslatorRenderer:
    """Frames of a portrait driven by landmarks through the image translator.

        with torch.inference_mode():
            renderer = TranslatorRenderer(translator, portrait_rgb, rest_landmarks)
            for frame in renderer.render_sequence(landmark_frames):   # (H, W, 3) uint8 RGB
                writer.write(frame)

    `portrait_rgb` is the image frames are pasted into (already at the output size) and
    `rest_landmarks` its landmarks, from which the crop is aligned; landmark frames are in
    the same pixels. `batch_size` frames go through the network per call (None: see
    `default_batch_size`); `precision` is
    "auto" (see `autocast_dtype`), "float32", "bfloat16" or "float16".
    """

    def __init__(
        self,
        translator,
        portrait_rgb: np.ndarray,
        rest_landmarks: np.ndarray,
        *,
        batch_size: int | None = None,
        feather: float = DEFAULT_FEATHER,
        crop: FaceCrop | None = None,
        channels_last: bool = True,
        precision: str = "auto",
    ) -> None:
        import torch

        self.translator = translator
        self.crop = crop if crop is not None else FaceCrop.from_landmarks(portrait_rgb, rest_landmarks, feather=feather)
        param = next(translator.parameters())
        self.device = param.device
        self.batch_size = max(1, int(batch_size)) if batch_size else default_batch_size(self.device)
        self.dtype = param.dtype
        self.channels_last = channels_last
        self.autocast_dtype = autocast_dtype(self.device, precision)
        if channels_last:
            translator.to(memory_format=torch.channels_last)
        size = self.crop.size
        self._drawings = np.empty((self.batch_size, size, size, 3), dtype=np.uint8)

    def drawings(self, landmark_frames: np.ndarray) -> np.ndarray:
        """(B, S, S, 3) uint8 BGR drawings of (B, 68, 3) portrait-pixel landmark frames."""
        frames = np.asarray(landmark_frames, dtype=np.float64)
        out = self._drawings[: len(frames)] if len(frames) <= self.batch_size else np.empty(
            (len(frames), self.crop.size, self.crop.size, 3), np.uint8)
        for k, points in enumerate(self.crop.to_crop(frames)):
            draw_landmarks(points, self.crop.size, out=out[k])
        return out

    def generate(self, landmark_frames: np.ndarray) -> np.ndarray:
        """(B, S, S, 3) uint8 RGB generated faces (crop space) for (B, 68, 3) landmark frames."""
        import torch

        x = translator_input(self.drawings(landmark_frames), self.crop.crop_bgr)
        x = x.to(self.device, self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        else:
            x = x.contiguous()
        with torch.inference_mode():
            if self.autocast_dtype is not None:
                with torch.autocast(self.device.type, dtype=self.autocast_dtype):
                    y = self.translator(x)
                y = torch.tanh(y.float())
            else:
                y = torch.tanh(self.translator(x))
        return translator_output_to_rgb(y)

    def render_batch(self, landmark_frames: np.ndarray) -> list[np.ndarray]:
        """Full-size (H, W, 3) uint8 RGB frames for (B, 68, 3) landmark frames."""
        return [self.crop.paste(face) for face in self.generate(landmark_frames)]

    def render_sequence(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Render landmark frames in batches of `batch_size`, yielding frames one by one."""
        pending: list[np.ndarray] = []
        for landmarks in frames:
            pending.append(np.asarray(landmarks, dtype=np.float64))
            if len(pending) == self.batch_size:
                yield from self.render_batch(np.stack(pending))
                pending = []
        if pending:
            yield from self.render_batch(np.stack(pending))
