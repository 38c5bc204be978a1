"""load_image: every source type and image mode, EXIF orientation, and the error messages."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from makeittalk.errors import ImageError
from makeittalk.face import MIN_IMAGE_SIDE, load_image


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skdata.astronaut()


def _gray(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L"))


# ----------------------------------------------------------------------------- sources


def test_rgb_array_is_copied_unchanged(astronaut):
    out = load_image(astronaut)
    assert out.dtype == np.uint8 and out.shape == (512, 512, 3)
    assert np.array_equal(out, astronaut)
    assert out is not astronaut and out.flags.writeable and out.flags.c_contiguous


def test_path_str_pathlib_stream_and_pil_agree(astronaut, tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(astronaut).save(path)
    for source in (path, str(path), io.BytesIO(path.read_bytes()), Image.open(path)):
        assert np.array_equal(load_image(source), astronaut)


def test_reference_portrait_matches_opencv_read(reference_dir):
    import cv2

    bgr = cv2.imread(str(reference_dir / "portrait.png"))
    assert np.array_equal(load_image(reference_dir / "portrait.png"), bgr[:, :, ::-1])


# ----------------------------------------------------------------------------- modes


def test_rgba_composites_on_white_and_keeps_alpha_on_request(astronaut, tmp_path):
    alpha = np.full(astronaut.shape[:2], 255, dtype=np.uint8)
    alpha[:, :100] = 0  # fully transparent strip
    alpha[:, 100:110] = 128  # half transparent strip
    rgba = np.dstack([astronaut, alpha])
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(path)

    rgb = load_image(path)
    assert rgb.shape == (512, 512, 3)
    assert np.all(rgb[:, :100] == 255)
    assert np.array_equal(rgb[:, 110:], astronaut[:, 110:])
    expected_half = (astronaut[:, 100:110].astype(np.uint32) * 128 + 255 * 127 + 127) // 255
    assert np.array_equal(rgb[:, 100:110], expected_half.astype(np.uint8))

    kept = load_image(path, mode="RGBA")
    assert kept.shape == (512, 512, 4)
    assert np.array_equal(kept, rgba)


def test_rgb_in_rgba_mode_gets_opaque_alpha(astronaut):
    out = load_image(astronaut, mode="RGBA")
    assert out.shape == (512, 512, 4)
    assert np.all(out[:, :, 3] == 255) and np.array_equal(out[:, :, :3], astronaut)


def test_grayscale_l_png(astronaut, tmp_path):
    gray = _gray(astronaut)
    path = tmp_path / "l.png"
    Image.fromarray(gray, "L").save(path)
    out = load_image(path)
    assert out.shape == (512, 512, 3)
    for channel in range(3):
        assert np.array_equal(out[:, :, channel], gray)


def test_palette_with_transparency(astronaut, tmp_path):
    palette_image = Image.fromarray(astronaut).quantize(colors=64)
    indices = np.asarray(palette_image).copy()
    indices[:50, :50] = 63  # make a corner use the transparent index
    palette_image = Image.fromarray(indices, "P")
    palette_image.putpalette(Image.fromarray(astronaut).quantize(colors=64).getpalette())
    path = tmp_path / "p.png"
    palette_image.save(path, transparency=63)
    reread = Image.open(path)
    assert reread.mode == "P" and "transparency" in reread.info

    out = load_image(path)
    transparent = np.asarray(reread) == 63
    assert np.all(out[transparent] == 255)
    assert np.abs(out[~transparent].astype(int) - astronaut[~transparent].astype(int)).mean() < 12
    rgba = load_image(path, mode="RGBA")
    assert np.all(rgba[transparent, 3] == 0) and np.all(rgba[~transparent, 3] == 255)


def test_sixteen_bit_grayscale_png_is_rescaled_not_clipped(astronaut, tmp_path):
    gray = _gray(astronaut)
    path = tmp_path / "g16.png"
    Image.fromarray(gray.astype(np.uint16) * 257).save(path)  # k * 257 is k/255 of full scale
    assert Image.open(path).mode.startswith("I")
    out = load_image(path)
    assert np.array_equal(out[:, :, 0], gray)


def test_sixteen_bit_rgb_png(astronaut, tmp_path):
    import cv2

    path = tmp_path / "rgb16.png"
    cv2.imwrite(str(path), (astronaut.astype(np.uint16) * 257)[:, :, ::-1])
    assert np.abs(load_image(path).astype(int) - astronaut.astype(int)).max() <= 1


def test_cmyk_jpeg(astronaut, tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(astronaut).convert("CMYK").save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    out = load_image(path)
    assert out.shape == (512, 512, 3)
    assert np.abs(out.astype(int) - astronaut.astype(int)).mean() < 3


@pytest.mark.parametrize("pil_mode", ["1", "LA", "I", "F", "YCbCr", "HSV", "LAB", "RGBa"])
def test_other_pil_modes(astronaut, pil_mode):
    image = Image.fromarray(astronaut).convert(pil_mode)
    out = load_image(image)
    assert out.shape == (512, 512, 3) and out.dtype == np.uint8
    if pil_mode in ("I", "F", "LA"):
        assert np.abs(out[:, :, 0].astype(int) - _gray(astronaut).astype(int)).max() <= 1


def test_exif_orientation_is_applied(astronaut, tmp_path):
    upright_path = tmp_path / "upright.jpg"
    rotated_path = tmp_path / "rotated.jpg"
    Image.fromarray(astronaut).save(upright_path, quality=95)
    # Stored sideways (rotated 90 degrees counter-clockwise) with "rotate 90 CW to view" (6).
    sideways = Image.fromarray(astronaut[:, :400]).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(rotated_path, quality=95, exif=exif)
    assert Image.open(rotated_path).size == (512, 400)

    out = load_image(rotated_path)
    assert out.shape == (512, 400, 3)
    assert np.abs(out.astype(int) - astronaut[:, :400].astype(int)).mean() < 3


def test_any_size(astronaut):
    big = np.asarray(Image.fromarray(astronaut).resize((2000, 1500)))
    assert load_image(big).shape == (1500, 2000, 3)
    small = np.asarray(Image.fromarray(astronaut).resize((MIN_IMAGE_SIDE, MIN_IMAGE_SIDE)))
    assert load_image(small).shape == (MIN_IMAGE_SIDE, MIN_IMAGE_SIDE, 3)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.full((40, 40), 7, dtype=np.uint8), 7),
        (np.full((40, 40, 1), 9, dtype=np.uint8), 9),
        (np.full((40, 40, 3), 65535, dtype=np.uint16), 255),
        (np.full((40, 40, 3), 257 * 10, dtype=np.uint16), 10),
        (np.ones((40, 40, 3), dtype=bool), 255),
        (np.full((40, 40, 3), 0.5, dtype=np.float32), 128),
        (np.full((40, 40, 3), 200, dtype=np.int64), 200),
    ],
)
def test_array_dtypes(array, expected):
    out = load_image(array)
    assert out.shape == (40, 40, 3) and out.dtype == np.uint8
    assert np.all(out == expected)


# ----------------------------------------------------------------------------- errors


def _message(excinfo: pytest.ExceptionInfo) -> str:
    return str(excinfo.value)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError) as excinfo:
        load_image(tmp_path / "nope.png")
    assert "nope.png" in _message(excinfo) and "not found" in _message(excinfo)


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n")
    with pytest.raises(ImageError) as excinfo:
        load_image(path)
    assert "notes.png" in _message(excinfo) and "PNG or JPEG" in _message(excinfo)


def test_truncated_image(astronaut, tmp_path):
    whole = tmp_path / "whole.png"
    Image.fromarray(astronaut).save(whole)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[:5000])
    with pytest.raises(ImageError) as excinfo:
        load_image(cut)
    assert "cut.png" in _message(excinfo) and "corrupt" in _message(excinfo)


def test_too_small(astronaut, tmp_path):
    path = tmp_path / "tiny.png"
    Image.fromarray(astronaut).resize((20, 50)).save(path)
    with pytest.raises(ImageError) as excinfo:
        load_image(path)
    assert "tiny.png" in _message(excinfo) and "20x50" in _message(excinfo) and "too small" in _message(excinfo)
    with pytest.raises(ImageError, match="too small"):
        load_image(np.zeros((31, 400, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((40, 40, 2), dtype=np.uint8),
        np.zeros((40,), dtype=np.uint8),
        np.full((40, 40, 3), 2.0),
        np.full((40, 40, 3), np.nan),
        np.full((40, 40, 3), 300, dtype=np.int32),
        np.zeros((40, 40, 3), dtype=np.complex64),
    ],
)
def test_bad_arrays(array):
    with pytest.raises(ImageError):
        load_image(array)


def test_unsupported_source_type_and_mode():
    with pytest.raises(ImageError, match="file path"):
        load_image(12345)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        load_image(np.zeros((40, 40, 3), dtype=np.uint8), mode="BGR")  # type: ignore[arg-type]


def test_path_error_is_a_makeittalk_error(tmp_path: Path):
    from makeittalk.errors import MakeItTalkError

    with pytest.raises(MakeItTalkError):
        load_image(tmp_path / "missing.jpg")
