"""`makeittalk puppet create|show|check` and the Puppet folder format."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from skimage.data import astronaut

from makeittalk.cli.main import main
from renderer import Puppet, PuppetError
from renderer.synthetic import draw_cartoon_face
from test_renderer_mesh import ASTRONAUT_LANDMARKS

PUPPET_FILES = {"puppet.json", "image.png", "landmarks.txt", "mesh.json", "triangles.txt", "scale_shift.txt"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("puppet_inputs")
    Image.fromarray(astronaut()).save(folder / "astronaut.png")
    toon = draw_cartoon_face(256, transparent=True)
    Image.fromarray(toon.image).save(folder / "toon.png")
    np.savetxt(folder / "toon.txt", toon.landmarks[:, :2], fmt="%.3f")
    (folder / "toon.json").write_text(json.dumps({"landmarks": toon.landmarks[:, :2].tolist()}))
    # No face anywhere: a smooth gradient.
    gradient = np.zeros((200, 200, 3), np.uint8)
    gradient[..., 0] = np.linspace(0, 255, 200, dtype=np.uint8)[None, :]
    Image.fromarray(gradient).save(folder / "gradient.png")
    return folder, toon


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["puppet", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_create_from_a_photo_detects_the_landmarks(inputs, tmp_path, capsys):
    folder, _ = inputs
    out = tmp_path / "astro"
    code, stdout, _ = run(capsys, "create", folder / "astronaut.png", "-o", out, "--detector", "dlib")
    assert code == 0, stdout
    assert "style photo" in stdout
    assert {p.name for p in out.iterdir()} == PUPPET_FILES
    desc = json.loads((out / "puppet.json").read_text())
    assert desc["format"] == "makeittalk-puppet" and desc["style"] == "photo"
    assert desc["image_size"] == [512, 512] and desc["source"]["landmarks"] == "detected"
    puppet = Puppet.load(out)
    # The detector's points land on the face (within a few pixels of dlib's reference).
    assert np.abs(puppet.landmarks[:, :2] - ASTRONAUT_LANDMARKS).mean() < 4.0
    assert puppet.scale < 0 and puppet.problems() == []
    scale, sx, sy = np.loadtxt(out / "scale_shift.txt")
    assert scale == pytest.approx(puppet.scale) and (sx, sy) == pytest.approx(tuple(puppet.shift))
    assert np.array_equal(np.loadtxt(out / "triangles.txt", dtype=int), puppet.mesh.triangles)


@pytest.mark.parametrize("landmarks_file", ["toon.txt", "toon.json"])
def test_create_a_cartoon_from_a_landmarks_file(inputs, tmp_path, capsys, landmarks_file):
    folder, toon = inputs
    out = tmp_path / "toon"
    code, stdout, _ = run(capsys, "create", folder / "toon.png", "-o", out, "--landmarks", folder / landmarks_file)
    assert code == 0
    puppet = Puppet.load(out)
    assert puppet.style == "cartoon"  # transparent background
    assert np.allclose(puppet.landmarks[:, :2], toon.landmarks[:, :2], atol=1e-3)
    assert np.array_equal(puppet.image, toon.image)  # RGBA kept losslessly
    assert puppet.source == {"image": "toon.png", "landmarks": "file", "landmarks_file": landmarks_file}


def test_existing_puppet_is_never_overwritten_without_the_flag(inputs, tmp_path, capsys):
    folder, _ = inputs
    out = tmp_path / "toon"
    args = ["create", folder / "toon.png", "-o", out, "--landmarks", folder / "toon.txt"]
    assert run(capsys, *args)[0] == 0
    before = (out / "puppet.json").read_text()
    code, _, stderr = run(capsys, *args, "--style", "photo")
    assert code == 2 and "already exists" in stderr and "--overwrite" in stderr
    assert (out / "puppet.json").read_text() == before
    code, _, _ = run(capsys, *args, "--style", "photo", "--overwrite")
    assert code == 0 and Puppet.load(out).style == "photo"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toon"]  # no temporary folders left


def test_overwrite_refuses_a_folder_that_is_not_a_puppet(inputs, tmp_path, capsys):
    folder, _ = inputs
    precious = tmp_path / "documents"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me")
    code, _, stderr = run(capsys, "create", folder / "toon.png", "-o", precious,
                          "--landmarks", folder / "toon.txt", "--overwrite")
    assert code == 2 and "not a puppet folder" in stderr
    assert (precious / "thesis.txt").read_text() == "keep me"


def test_an_empty_output_folder_is_used(inputs, tmp_path, capsys):
    folder, _ = inputs
    out = tmp_path / "made_by_user"
    out.mkdir()
    code, _, _ = run(capsys, "create", folder / "toon.png", "-o", out, "--landmarks", folder / "toon.txt")
    assert code == 0 and {p.name for p in out.iterdir()} == PUPPET_FILES


@pytest.mark.parametrize(
    "content, message",
    [
        ("\n".join(["10 20"] * 67), "68"),
        ("\n".join(["10 twenty"] * 68), "not numbers"),
        ("[[1, 2], [3", "invalid JSON"),
        ("\n".join(["5000 6000"] * 68), "outside"),
        ("", "empty"),
    ],
    ids=["67 points", "not numbers", "broken json", "outside the image", "empty"],
)
def test_bad_landmark_files_fail_with_one_line(inputs, tmp_path, capsys, content, message):
    folder, _ = inputs
    bad = tmp_path / ("bad.json" if content.startswith("[") else "bad.txt")
    bad.write_text(content)
    out = tmp_path / "never"
    code, _, stderr = run(capsys, "create", folder / "toon.png", "-o", out, "--landmarks", bad)
    assert code == 2
    assert message in stderr and stderr.count("\n") == 1
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [bad.name]


def test_no_face_found_points_to_the_landmarks_option(inputs, tmp_path, capsys):
    folder, _ = inputs
    code, _, stderr = run(capsys, "create", folder / "gradient.png", "-o", tmp_path / "p", "--detector", "dlib")
    assert code == 2
    assert "no face" in stderr and "--landmarks" in stderr


def test_missing_image(tmp_path, capsys):
    code, _, stderr = run(capsys, "create", tmp_path / "nope.png", "-o", tmp_path / "p")
    assert code == 2 and "not found" in stderr


def test_show_and_check(inputs, tmp_path, capsys):
    folder, _ = inputs
    out = tmp_path / "toon"
    assert run(capsys, "create", folder / "toon.png", "-o", out, "--landmarks", folder / "toon.txt")[0] == 0
    code, stdout, _ = run(capsys, "check", out)
    assert code == 0 and "OK" in stdout

    preview = tmp_path / "preview.png"
    code, _, _ = run(capsys, "show", out, "-o", preview)
    assert code == 0
    with Image.open(preview) as image:
        plain_size = image.size
        assert image.width >= 256
    code, _, _ = run(capsys, "show", out, "-o", preview, "--poses")
    assert code == 0
    with Image.open(preview) as image:
        assert image.height > plain_size[1]  # the strip of rendered poses below

    (out / "mesh.json").unlink()
    code, _, stderr = run(capsys, "check", out)
    assert code == 2 and "mesh.json is missing" in stderr


def test_load_rejects_what_is_not_a_puppet(tmp_path):
    with pytest.raises(PuppetError, match="no such puppet folder"):
        Puppet.load(tmp_path / "missing")
    (tmp_path / "puppet.json").write_text("{not json")
    with pytest.raises(PuppetError, match="JSON"):
        Puppet.load(tmp_path)


def test_puppet_renders_its_rest_pose(inputs, tmp_path):
    _, toon = inputs
    puppet = Puppet.create(toon.image, toon.landmarks)
    assert puppet.style == "cartoon"
    saved = Puppet.load(puppet.save(tmp_path / "p"))
    with saved.renderer(background="white") as renderer:
        frame = renderer.render(saved.landmarks)
    assert frame.shape == (256, 256, 4) and (frame[..., 3] == 255).all()
    assert saved.static_face().q.shape == (68, 3)


def test_style_is_guessed_from_the_pixels():
    import io

    from renderer import guess_style

    toon = draw_cartoon_face(256, transparent=False)
    assert guess_style(toon.image, toon.landmarks) == "cartoon"
    buffer = io.BytesIO()
    Image.fromarray(toon.image).convert("RGB").save(buffer, "JPEG", quality=85)
    jpeg = np.asarray(Image.open(buffer).convert("RGBA"))
    assert guess_style(jpeg, toon.landmarks) == "cartoon"
    photo = np.asarray(Image.fromarray(astronaut()).convert("RGBA"))
    assert guess_style(photo, ASTRONAUT_LANDMARKS) == "photo"


def test_show_draws_the_landmarks_and_the_mesh_over_the_image(inputs, tmp_path, capsys):
    from renderer.puppet import _PART_COLOURS, _part_of

    folder, toon = inputs
    out = tmp_path / "toon"
    assert run(capsys, "create", folder / "toon.png", "-o", out, "--landmarks", folder / "toon.txt")[0] == 0
    with_mesh, without_mesh = tmp_path / "mesh.png", tmp_path / "plain.png"
    assert run(capsys, "show", out, "-o", with_mesh)[0] == 0
    assert run(capsys, "show", out, "-o", without_mesh, "--no-mesh")[0] == 0
    shown = np.asarray(Image.open(with_mesh).convert("RGBA")).astype(int)
    plain = np.asarray(Image.open(without_mesh).convert("RGBA")).astype(int)
    factor = shown.shape[1] / toon.image.shape[1]
    assert shown.shape[:2] == plain.shape[:2] and factor >= 2  # enlarged to about 768 px
    # Every landmark is a dot in its part's colour.
    for i, (x, y) in enumerate(toon.landmarks[:, :2]):
        px, py = int((x + 0.5) * factor), int((y + 0.5) * factor)
        assert np.abs(shown[py, px, :3] - _PART_COLOURS[_part_of(i)][:3]).max() <= 10, i
    # The mesh adds lines: pixels along a triangle edge far from any landmark change.
    puppet = Puppet.load(out)
    mesh = puppet.mesh
    long_edges = [(a, b) for a, b, _ in mesh.triangles.tolist() if a >= 68 and b >= 68]
    a, b = mesh.rest[long_edges[0][0]], mesh.rest[long_edges[0][1]]
    middle = ((a + b) / 2 + 0.5) * factor
    window = (slice(int(middle[1]) - 2, int(middle[1]) + 3), slice(int(middle[0]) - 2, int(middle[0]) + 3))
    assert np.abs(shown[window] - plain[window]).max() > 20
    assert np.abs(shown - plain).max(axis=2).astype(bool).mean() > 0.01
