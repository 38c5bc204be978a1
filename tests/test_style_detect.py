"""The photo/cartoon detector on real video frames and on drawn faces (benchmarks/bench_style.py has the full set)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from renderer.puppet import guess_style

# Real frames the flat-pixel rule called cartoons (compressed or upscaled video is smooth).
HARD_PHOTOS = ["vretalking_2", "vretalking_1", "styletalk_reagan_clip1", "pcavs_Input_00010", "styletalk_feifeili_clip1"]


def first_face_frame(folder, clip):
    import imageio_ffmpeg

    with np.load(folder / f"{clip}.landmarks.npz") as data:
        index = int(np.flatnonzero(data["detected"])[0])
        points = data["landmarks"][index]
    reader = imageio_ffmpeg.read_frames(str(folder / f"{clip}.mp4"))
    meta = next(reader)
    for _ in range(index + 1):
        frame = next(reader)
    reader.close()
    w, h = meta["size"]
    rgb = np.frombuffer(frame, np.uint8).reshape(h, w, 3)
    return np.dstack([rgb, np.full((h, w), 255, np.uint8)]), points


@pytest.mark.parametrize("clip", HARD_PHOTOS)
def test_real_video_frames_are_photos(data_dir, clip):
    image, points = first_face_frame(data_dir / "talking", clip)
    assert guess_style(image, points) == "photo"


@pytest.mark.parametrize("size", [256, 512, 1024])
def test_drawn_faces_are_cartoons_as_png_and_jpeg(size):
    from renderer.synthetic import draw_cartoon_face

    toon = draw_cartoon_face(size, transparent=False)
    rgb = toon.image[..., :3]
    opaque = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert guess_style(opaque, toon.landmarks) == "cartoon"
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=80)
    jpeg = np.asarray(Image.open(buffer).convert("RGB"))
    assert guess_style(np.dstack([jpeg, opaque[..., 3]]), toon.landmarks) == "cartoon"
    assert guess_style(draw_cartoon_face(size, transparent=True).image, toon.landmarks) == "cartoon"
