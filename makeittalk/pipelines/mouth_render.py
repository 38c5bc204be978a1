"""The photo path: the warp renderer's frame, with the mouth re-synthesised by the mouth translator.

Per frame:
1. the warp renderer draws the portrait at the frame's landmarks (head pose, face, background);
2. the frame's mouth crop is cut out of that frame (`makeittalk.face.mouth_region`), its hole
   blanked, and sent with the mouth guides and the portrait's own mouth (the reference crop,
   cut once from the portrait at rest) through the network, frames in batches;
3. the network's crop goes back through the inverse transform and is blended in with the
   feathered weight, inside the crop's bounding box only.

Outside the hole every pixel is the warp renderer's, so identity and background stay as stable
as they are on the warp path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch

from makeittalk.face.mouth_region import MouthRegion, crop_matrix, invert, map_points, warp_into_crop
from makeittalk.pipelines.portrait import _scale_points

__all__ = ["MouthTranslatorRenderer", "paste_crop"]

DEFAULT_BATCH = 8


def paste_crop(frame: np.ndarray, crop: np.ndarray, weight: np.ndarray, matrix: np.ndarray) -> None:
    """Blend `crop` (S, S, 3) uint8 into `frame` (H, W, 3) uint8 in place, weighted by `weight`
    (S, S) float32; `matrix` maps frame pixels to crop pixels."""
    import cv2

    size = crop.shape[0]
    inverse = invert(matrix)
    height, width = frame.shape[:2]
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]])
    mapped = corners @ inverse[:, :2].T + inverse[:, 2]
    x0, y0 = (int(np.clip(np.floor(mapped[:, k].min()), 0, (width, height)[k])) for k in (0, 1))
    x1, y1 = (int(np.clip(np.ceil(mapped[:, k].max()) + 1, 0, (width, height)[k])) for k in (0, 1))
    if x1 <= x0 or y1 <= y0:
        return
    # crop pixels -> box pixels: the inverse, shifted by the box origin
    to_box = inverse.copy()
    to_box[:, 2] -= (x0, y0)
    box = (x1 - x0, y1 - y0)
    pixels = cv2.warpAffine(crop, to_box, box, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(weight, to_box, box, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    region = frame[y0:y1, x0:x1]
    mixed = region.astype(np.float32) + alpha[:, :, None] * (pixels.astype(np.float32) - region)
    region[...] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


class MouthTranslatorRenderer:
    """Frames of a portrait from landmark frames: warp + translated mouth.

    `translator` is a MouthTranslator (eval mode); `warp` a WarpRenderer whose output frames
    are (H, W, 3|4) uint8; `portrait_rgb` and `rest_landmarks` the portrait (the reference
    mouth is cut from it). Landmark frames are in the portrait's pixels, as the warp takes them.
    """

    def __init__(self, translator, warp, portrait_rgb: np.ndarray, rest_landmarks: np.ndarray, *,
                 batch_size: int | None = None, channels: int = 4) -> None:
        from makeittalk.training.tasks.mouth_translator import translator_inputs

        self.translator = translator.eval()
        self.warp = warp
        config = translator.config
        self.region = MouthRegion.from_dict({**config.region, "size": config.image_size})
        self.batch_size = max(1, int(batch_size or DEFAULT_BATCH))
        self.device = next(translator.parameters()).device
        rest = np.asarray(rest_landmarks, dtype=np.float64)[:, :2]
        self.reference = warp_into_crop(np.ascontiguousarray(portrait_rgb[:, :, :3]), crop_matrix(rest, self.region),
                                        self.region.size)
        self._inputs = translator_inputs
        self._source_size = tuple(int(v) for v in warp.source_size)
        self._output_size = tuple(int(v) for v in warp.output_size)
        self.channels = channels  # of the frames render_sequence yields: 3 (RGB, for video) or 4

    def output_points(self, landmarks: np.ndarray) -> np.ndarray:
        """(68, 2) landmarks in the portrait's pixels -> in the warp's output pixels."""
        lm = np.asarray(landmarks, dtype=np.float64)[:, :2]
        return lm if self._output_size == self._source_size else _scale_points(lm, self._source_size, self._output_size)

    def redraw(self, frames: list[np.ndarray], landmarks: list[np.ndarray]) -> list[np.ndarray]:
        """The warp's `frames` (H, W, 3|4) with the mouth redrawn, in one network call;
        `landmarks` in output pixels (see output_points). Writeable frames are changed in place."""
        region = self.region
        xs, weights, matrices = [], [], []
        for frame, points in zip(frames, landmarks):
            matrix = crop_matrix(points, region)
            crop = warp_into_crop(frame[:, :, :3], matrix, region.size)
            x, weight = self._inputs(crop, map_points(points, matrix), self.reference, region)
            xs.append(x)
            weights.append(weight)
            matrices.append(matrix)
        with torch.inference_mode():
            out = self.translator(torch.from_numpy(np.stack(xs)).to(self.device))
        crops = (out.clamp(0, 1).mul(255).add(0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
        done = []
        for frame, crop, weight, matrix in zip(frames, crops, weights, matrices):
            rgb = np.ascontiguousarray(frame[:, :, :3]) if frame.shape[2] != 3 else frame
            if not rgb.flags.writeable:
                rgb = rgb.copy()
            paste_crop(rgb, np.ascontiguousarray(crop), weight, matrix)
            if frame.shape[2] == 4:
                frame = frame.copy() if not frame.flags.writeable else frame
                frame[:, :, :3] = rgb
                done.append(frame)
            else:
                done.append(rgb)
        return done

    def render_sequence(self, landmark_frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Frames in order; the network sees `batch_size` frames at a time."""
        frames: list[np.ndarray] = []
        points: list[np.ndarray] = []
        for landmarks in landmark_frames:
            lm = np.asarray(landmarks, dtype=np.float64)[:, :2]
            frames.append(self.warp.render(lm, channels=self.channels))
            points.append(self.output_points(lm))
            if len(frames) == self.batch_size:
                yield from self.redraw(frames, points)
                frames, points = [], []
        if frames:
            yield from self.redraw(frames, points)

    def render(self, landmarks: np.ndarray) -> np.ndarray:
        return next(iter(self.render_sequence([landmarks])))
