"""`makeittalk puppet import`: puppets in the original MakeItTalk cartoon format (spec §7).

The original files cannot be downloaded here, so the fixtures are written in the original
format by the original generator's recipe (spec §7.2) from a cartoon drawn in code: the
open-mouth annotation in pixels (`x y 1.0`), the normalisation (scale = 1.6 / (x0 - x16),
shift = -(p0 + p16) / 2, xy' = -(xy + shift) * scale, z = the standard face's z), the
closed-mouth file, scale/shift (`%.10f`) and an OpenCV Subdiv2D triangulation of the
int-cast landmarks plus 12 points on the image frame. Then each variant the shipped puppets
show (spec §7.5) is imported and rendered.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from makeittalk.cli.main import main
from makeittalk.face import close_mouth
from makeittalk.resources import standard_face
from renderer import Puppet, PuppetError, RenderConfig, WarpRenderer
from renderer.mesh import INNER_LIP, KIND_BORDER, NUM_LANDMARKS
from renderer.original import BORDER_8, BORDER_12, import_original_puppet, original_border_points
from renderer.synthetic import draw_cartoon_face, open_mouth

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "puppet_import"
WIDTH, HEIGHT = 300, 352  # not square: a swapped width/height shows


# --- writing puppets in the original format ------------------------------------------------


def _cartoon() -> tuple[np.ndarray, np.ndarray]:
    """A transparent cartoon on a 300x352 canvas and its 68 landmarks (pixels)."""
    toon = draw_cartoon_face(320, transparent=True)
    canvas = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    offset = np.array([-10.0, 16.0])
    canvas.paste(Image.fromarray(toon.image, "RGBA"), (int(offset[0]), int(offset[1])))
    return np.asarray(canvas).copy(), toon.landmarks[:, :2] + offset


def _subdiv2d(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The original's triangulation: OpenCV Subdiv2D, triangles with a vertex that is not one
    of the points dropped, indices into `points` (scipy's Delaunay without OpenCV)."""
    try:
        import cv2
    except ImportError:
        from scipy.spatial import Delaunay

        return Delaunay(points).simplices
    subdiv = cv2.Subdiv2D((0, 0, size[0], size[1]))
    for x, y in points:
        subdiv.insert((float(x), float(y)))
    lookup = {(float(x), float(y)): i for i, (x, y) in enumerate(points)}
    triangles = []
    for t in subdiv.getTriangleList():
        corners = [(float(t[0]), float(t[1])), (float(t[2]), float(t[3])), (float(t[4]), float(t[5]))]
        if all(c in lookup for c in corners):
            triangles.append([lookup[c] for c in corners])
    return np.asarray(triangles)


def write_original_puppet(folder: Path, name: str, image: np.ndarray, landmarks: np.ndarray, *,
                          image_format: str = "png", background: np.ndarray | None = None,
                          scale_shift: bool = True, open_mouth_file: str = "full",
                          close_mouth_file: bool = True, norm_file: bool = True,
                          triangles: str = "full") -> dict:
    """Write puppet `name` in the original layout; returns the true scale, shift and q.

    open_mouth_file: "full", "empty" (0 bytes, like whiteface) or "missing";
    triangles: "full" (68 + 12 points), "inner" (56 + 12, outer lips dropped), "holes"
    (some triangles missing), "missing", or the legacy 8 frame points: "legacy8" (in the
    order the importer assumes) or "legacy8_other" (in another order).
    """
    folder.mkdir(parents=True, exist_ok=True)
    if image_format == "png":
        Image.fromarray(image, "RGBA").save(folder / f"{name}.png")
    else:
        rgb = Image.alpha_composite(Image.new("RGBA", (image.shape[1], image.shape[0]), (255, 255, 255, 255)),
                                    Image.fromarray(image, "RGBA")).convert("RGB")
        rgb.save(folder / f"{name}.jpg", quality=95)
    if background is not None:
        Image.fromarray(background).save(folder / f"{name}_bg.jpg", quality=95)

    anno = np.concatenate([landmarks[:, :2], np.ones((NUM_LANDMARKS, 1))], axis=1)
    if open_mouth_file == "full":
        np.savetxt(folder / f"{name}_face_open_mouth.txt", anno, fmt="%.4f %.4f %.1f")
    elif open_mouth_file == "empty":
        (folder / f"{name}_face_open_mouth.txt").write_bytes(b"")

    # gen_puppet_utils.norm_anno
    scale = 1.6 / (anno[0, 0] - anno[16, 0])
    shift = -0.5 * (anno[0, 0:2] + anno[16, 0:2])
    norm = np.empty((NUM_LANDMARKS, 3))
    norm[:, :2] = -((anno[:, :2] + shift) * scale)
    norm[:, 2] = standard_face()[:, 2]
    if norm_file:
        np.savetxt(folder / f"{name}_face_open_mouth_norm.txt", norm)
    if scale_shift:
        (folder / f"{name}_scale_shift.txt").write_text(f"{scale:.10f}\n{shift[0]:.10f}\n{shift[1]:.10f}\n")
    closed = norm.copy()
    closed[:, :2] = close_mouth(norm[:, :2])
    if close_mouth_file:
        np.savetxt(folder / f"{name}_face_close_mouth.txt", closed)

    # gen_puppet_utils.delauney_tri: int-cast landmarks (optionally without the outer lips)
    # and 12 frame points.
    size = (image.shape[1], image.shape[0])
    keep = list(range(48)) + list(range(60, 68)) if triangles == "inner" else list(range(NUM_LANDMARKS))
    frame = {"legacy8": BORDER_8, "legacy8_other": BORDER_8[::-1]}.get(triangles, BORDER_12)
    points = np.concatenate([np.floor(landmarks[keep, :2]), original_border_points(size, frame)])
    tris = _subdiv2d(points, size)
    if triangles == "holes":
        face = [i for i, t in enumerate(tris) if max(t) < len(keep)]
        tris = np.delete(tris, face[:5], axis=0)
    if triangles != "missing":
        np.savetxt(folder / f"{name}_delauney_tri.txt", tris, fmt="%d")
    return {"scale": scale, "shift": shift, "q": closed, "triangles": tris}


def _gradient(size=(WIDTH, HEIGHT)) -> np.ndarray:
    bg = np.zeros((size[1], size[0], 3), np.uint8)
    bg[..., 0] = np.linspace(40, 220, size[0], dtype=np.uint8)[None, :]
    bg[..., 1] = 150
    bg[..., 2] = np.linspace(220, 60, size[1], dtype=np.uint8)[:, None]
    return bg


@pytest.fixture(scope="module")
def cartoon():
    return _cartoon()


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(["puppet", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def save_artifact(name: str, frame: np.ndarray) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame, "RGBA" if frame.shape[2] == 4 else "RGB").save(ARTIFACTS / f"{name}.png")


# --- the complete puppet ---------------------------------------------------------------------


def test_complete_puppet_imports_with_its_own_files(tmp_path, cartoon, ctx):
    image, landmarks = cartoon
    truth = write_original_puppet(tmp_path / "src", "toon", image, landmarks, background=_gradient())
    puppet, report = import_original_puppet(tmp_path / "src", "toon")
    assert report.derived == [] and report.warnings == []
    assert report.files == {"open_mouth": "toon_face_open_mouth.txt", "close_mouth": "toon_face_close_mouth.txt",
                            "scale_shift": "toon_scale_shift.txt", "image": "toon.png",
                            "background": "toon_bg.jpg", "triangles": "toon_delauney_tri.txt"}
    assert puppet.size == (WIDTH, HEIGHT) and puppet.style == "cartoon"
    assert np.allclose(puppet.landmarks[:, :2], np.round(landmarks, 4), atol=1e-9)
    assert puppet.scale == pytest.approx(truth["scale"], abs=1e-10)
    assert puppet.shift == pytest.approx(truth["shift"], abs=1e-9)
    # The networks' static input is the closed-mouth file, with the file's scale and shift.
    face = puppet.static_face()
    assert np.allclose(face.q, truth["q"], atol=1e-12) and face.scale == puppet.scale
    # The triangulation is the file's: the 68 landmarks then the 12 frame points, in order.
    mesh = puppet.mesh
    assert mesh.source == "original" and mesh.num_vertices == NUM_LANDMARKS + 12
    assert (mesh.kinds[NUM_LANDMARKS:] == KIND_BORDER).all()
    frame_points = mesh.rest[NUM_LANDMARKS:]
    assert frame_points[0] == pytest.approx([-0.5, -0.5]) and frame_points[6] == pytest.approx([WIDTH - 0.5, HEIGHT - 0.5])
    original = {tuple(sorted(t)) for t in truth["triangles"].tolist()}
    imported = {tuple(sorted(t)) for t in mesh.triangles.tolist()}
    assert len(original ^ imported) <= 0.1 * len(original)  # a few flips put the lip lines on edges
    assert mesh.problems() == [] and puppet.problems() == []

    with puppet.renderer(background=None, ctx=ctx) as renderer:
        rest = renderer.render(puppet.landmarks).astype(int)
    expected = np.round(image[..., :3] * (image[..., 3:4] / 255.0))
    assert np.abs(rest[..., :3] - expected).mean() < 0.1
    assert np.abs(rest[..., 3] - image[..., 3]).max() <= 1

    # By default the puppet stands on its background (the _bg file), composited behind it.
    with puppet.renderer(ctx=ctx) as renderer:
        framed = renderer.render(puppet.landmarks)
        talking = renderer.render(open_mouth(puppet.landmarks, 0.35))
    assert (framed[..., 3] == 255).all()
    background = np.asarray(Image.open(tmp_path / "src" / "toon_bg.jpg").convert("RGB")).astype(int)
    clear = image[..., 3] == 0
    assert np.abs(framed[clear][:, :3] - background[clear]).max() <= 2
    inner = open_mouth(puppet.landmarks, 0.35)[list(INNER_LIP), :2].mean(0).astype(int)
    assert framed[inner[1], inner[0], :3].astype(int).sum() > 300  # lips at rest
    assert talking[inner[1] + 3, inner[0], :3].max() < 90  # a dark cavity when open
    save_artifact("complete_rest", framed)
    save_artifact("complete_talking", talking)


def test_saved_puppet_keeps_static_face_and_background(tmp_path, cartoon):
    image, landmarks = cartoon
    truth = write_original_puppet(tmp_path / "src", "toon", image, landmarks, background=_gradient())
    puppet, _ = import_original_puppet(tmp_path / "src", "toon")
    loaded = Puppet.load(puppet.save(tmp_path / "puppet"))
    desc = json.loads((tmp_path / "puppet" / "puppet.json").read_text())
    assert desc["files"]["static_face"] == "static_face.txt" and desc["files"]["background"] == "background.png"
    assert desc["source"]["format"] == "makeittalk-original" and desc["mesh"]["source"] == "original"
    assert np.allclose(loaded.static_face().q, truth["q"], atol=1e-9)
    assert loaded.static_face().scale == pytest.approx(truth["scale"], abs=1e-10)  # the file has %.10f
    assert np.array_equal(loaded.background, puppet.background)
    assert np.array_equal(loaded.mesh.triangles, puppet.mesh.triangles) and loaded.mesh.source == "original"


# --- variants of the shipped puppets ---------------------------------------------------------


def test_jpg_without_scale_shift_fits_it_to_the_annotations(tmp_path, cartoon, ctx):
    image, landmarks = cartoon  # like 'color': a JPEG, no scale_shift file, no background
    truth = write_original_puppet(tmp_path, "color", image, landmarks, image_format="jpg", scale_shift=False)
    puppet, report = import_original_puppet(tmp_path, "color")
    assert report.files["image"] == "color.jpg" and "background" not in report.files
    assert len(report.derived) == 1 and "color_scale_shift.txt is missing" in report.derived[0]
    assert "fitted" in report.derived[0]
    assert puppet.scale == pytest.approx(truth["scale"], rel=1e-6)
    assert puppet.shift == pytest.approx(truth["shift"], abs=1e-3)
    assert puppet.background is None and puppet.style == "cartoon"
    with puppet.renderer(ctx=ctx) as renderer:
        frame = renderer.render(puppet.landmarks)
    jpeg = np.asarray(Image.open(tmp_path / "color.jpg").convert("RGB")).astype(int)
    assert np.abs(frame[..., :3].astype(int) - jpeg).mean() < 0.1


def test_without_scale_shift_or_close_mouth_the_jaw_points_give_it(tmp_path, cartoon):
    image, landmarks = cartoon
    truth = write_original_puppet(tmp_path, "toon", image, landmarks, scale_shift=False, close_mouth_file=False)
    puppet, report = import_original_puppet(tmp_path, "toon")
    assert any("jaw points 0 and 16" in note for note in report.derived)
    assert any("toon_face_close_mouth.txt is missing" in note for note in report.derived)
    assert puppet.scale == pytest.approx(truth["scale"], rel=1e-6)
    # The derived q is the normalised rest pose with the mouth closed, as the generator makes it.
    assert np.allclose(puppet.static_face().q, truth["q"], atol=1e-5)


@pytest.mark.parametrize("variant", ["missing", "empty"])
def test_missing_or_empty_open_mouth_is_denormalised(tmp_path, cartoon, variant, ctx):
    image, landmarks = cartoon  # 'whiteface' ships an empty one
    write_original_puppet(tmp_path, "toon", image, landmarks, open_mouth_file=variant)
    puppet, report = import_original_puppet(tmp_path, "toon")
    assert any("toon_face_open_mouth_norm.txt" in note for note in report.derived)
    if variant == "empty":
        assert "toon_face_open_mouth.txt is empty" in report.derived
    # The normalised open-mouth file and scale/shift give the annotation back (%.10f digits).
    assert np.abs(puppet.landmarks[:, :2] - np.round(landmarks, 4)).max() < 1e-4
    with puppet.renderer(background=None, ctx=ctx) as renderer:
        assert renderer.render(puppet.landmarks).shape == (HEIGHT, WIDTH, 4)


def test_only_the_closed_mouth_file_gives_a_closed_rest_pose(tmp_path, cartoon):
    image, landmarks = cartoon
    write_original_puppet(tmp_path, "toon", image, landmarks, open_mouth_file="missing", norm_file=False)
    puppet, report = import_original_puppet(tmp_path, "toon")
    assert any("de-normalised from toon_face_close_mouth.txt" in note for note in report.derived)
    face_points = list(range(48))
    assert np.abs(puppet.landmarks[face_points, :2] - landmarks[face_points]).max() < 1e-3


def test_no_open_mouth_and_no_scale_shift_fails_naming_both(tmp_path, cartoon, capsys):
    image, landmarks = cartoon
    write_original_puppet(tmp_path / "src", "toon", image, landmarks, open_mouth_file="empty",
                          scale_shift=False, norm_file=False)
    code, _, stderr = run(capsys, "import", tmp_path / "src", "--name", "toon", "-o", tmp_path / "out")
    assert code == 2 and stderr.count("\n") == 1
    assert "toon_face_open_mouth.txt is empty" in stderr and "toon_scale_shift.txt is missing" in stderr
    assert not (tmp_path / "out").exists()


def test_missing_image_is_named(tmp_path, cartoon):
    image, landmarks = cartoon  # like 'napkin', whose image was not available
    write_original_puppet(tmp_path, "napkin", image, landmarks)
    (tmp_path / "napkin.png").unlink()
    with pytest.raises(PuppetError, match=r"napkin\.png \(or napkin\.jpg\) is missing"):
        import_original_puppet(tmp_path, "napkin")


def test_an_image_of_another_size_is_skipped_for_one_that_fits(tmp_path, cartoon):
    image, landmarks = cartoon  # like the cartoon 'obama': a 455x640 png and a 256x256 jpg
    write_original_puppet(tmp_path, "toon", image, landmarks, image_format="jpg")
    Image.fromarray(image[:100, :100]).save(tmp_path / "toon.png")
    puppet, report = import_original_puppet(tmp_path, "toon")
    assert report.files["image"] == "toon.jpg" and puppet.size == (WIDTH, HEIGHT)


def test_inner_lip_triangulation_maps_to_the_landmarks(tmp_path, cartoon, ctx):
    image, landmarks = cartoon
    truth = write_original_puppet(tmp_path, "toon", image, landmarks, triangles="inner")
    assert truth["triangles"].max() == 56 + 12 - 1
    puppet, report = import_original_puppet(tmp_path, "toon")
    assert report.derived == [] and puppet.mesh.source == "original"
    used = set(np.unique(puppet.mesh.triangles).tolist())
    assert not used & set(range(48, 60)) and set(range(60, 68)) <= used
    assert puppet.mesh.problems() == []
    with puppet.renderer(background=None, ctx=ctx) as renderer:
        rest = renderer.render(puppet.landmarks).astype(int)
    expected = np.round(image[..., :3] * (image[..., 3:4] / 255.0))
    assert np.abs(rest[..., :3] - expected).mean() < 0.1


def test_legacy_eight_frame_points(tmp_path, cartoon):
    image, landmarks = cartoon
    write_original_puppet(tmp_path / "a", "old", image, landmarks, triangles="legacy8")
    puppet, report = import_original_puppet(tmp_path / "a", "old")
    assert report.derived == [] and puppet.mesh.source == "original"
    assert puppet.mesh.num_vertices == NUM_LANDMARKS + 8 and puppet.mesh.problems() == []
    # The order of the 8 points is undocumented: another one does not fit and is recomputed.
    write_original_puppet(tmp_path / "b", "old", image, landmarks, triangles="legacy8_other")
    puppet, report = import_original_puppet(tmp_path / "b", "old")
    assert puppet.mesh.source == "delaunay" and "old_delauney_tri.txt cannot be used" in report.derived[-1]


@pytest.mark.parametrize("variant", ["holes", "missing"])
def test_broken_or_missing_triangulation_is_recomputed(tmp_path, cartoon, variant, ctx):
    image, landmarks = cartoon
    write_original_puppet(tmp_path, "toon", image, landmarks, triangles=variant)
    puppet, report = import_original_puppet(tmp_path, "toon")
    assert puppet.mesh.source == "delaunay" and puppet.mesh.problems() == []
    note = report.derived[-1]
    assert "toon_delauney_tri.txt" in note
    assert ("holes" in note) if variant == "holes" else ("missing" in note)
    with puppet.renderer(background=None, ctx=ctx) as renderer:
        rest = renderer.render(puppet.landmarks).astype(int)
    expected = np.round(image[..., :3] * (image[..., 3:4] / 255.0))
    assert np.abs(rest[..., :3] - expected).mean() < 0.1


def test_rebuilt_mesh_on_request(tmp_path, cartoon):
    image, landmarks = cartoon
    write_original_puppet(tmp_path, "toon", image, landmarks)
    puppet, report = import_original_puppet(tmp_path, "toon", mesh="rebuild")
    assert puppet.mesh.source == "built" and puppet.mesh.num_vertices > NUM_LANDMARKS + 12


@pytest.mark.parametrize(
    "file, content, message",
    [
        ("toon_face_open_mouth.txt", "10 20 1.0\n" * 67 + "10 x 1.0\n", "line 68: 'x' is not a number"),
        ("toon_face_open_mouth.txt", "10 20 1.0\n" * 60, "holds 180 numbers"),
        ("toon_scale_shift.txt", "-0.005\n-100\n", "holds 2 numbers"),
        ("toon_face_close_mouth.txt", "0.1 0.2 nan\n" * 68, "not a finite number"),
    ],
    ids=["not a number", "too few points", "short scale_shift", "nan"],
)
def test_malformed_files_fail_naming_the_file(tmp_path, cartoon, file, content, message):
    image, landmarks = cartoon
    write_original_puppet(tmp_path, "toon", image, landmarks)
    (tmp_path / file).write_text(content)
    with pytest.raises(PuppetError) as info:
        import_original_puppet(tmp_path, "toon")
    assert file in str(info.value) and message in str(info.value)


# --- the command -------------------------------------------------------------------------------


def test_import_command_then_check_and_show(tmp_path, cartoon, capsys):
    image, landmarks = cartoon
    write_original_puppet(tmp_path / "examples_cartoon", "toon", image, landmarks, scale_shift=False,
                          background=_gradient())
    out = tmp_path / "puppets" / "toon"
    code, stdout, stderr = run(capsys, "import", tmp_path / "examples_cartoon", "--name", "toon", "-o", out)
    assert code == 0, stderr
    assert "imported original puppet 'toon'" in stdout and f"{WIDTH}x{HEIGHT}" in stdout
    assert "derived: toon_scale_shift.txt is missing" in stdout
    assert stderr == ""
    code, stdout, _ = run(capsys, "check", out)
    assert code == 0 and "OK" in stdout
    preview = tmp_path / "preview.png"
    code, _, _ = run(capsys, "show", out, "-o", preview, "--poses")
    assert code == 0
    with Image.open(preview) as shown:
        save_artifact("import_preview", np.asarray(shown.convert("RGBA")))
    # Refuses to overwrite without the flag.
    code, _, stderr = run(capsys, "import", tmp_path / "examples_cartoon", "--name", "toon", "-o", out)
    assert code == 2 and "--overwrite" in stderr


def test_name_is_inferred_when_the_folder_holds_one_puppet(tmp_path, cartoon, capsys):
    image, landmarks = cartoon
    write_original_puppet(tmp_path / "src", "solo", image, landmarks)
    code, stdout, _ = run(capsys, "import", tmp_path / "src", "-o", tmp_path / "a")
    assert code == 0 and "'solo'" in stdout
    write_original_puppet(tmp_path / "src", "duo", image, landmarks)
    code, _, stderr = run(capsys, "import", tmp_path / "src", "-o", tmp_path / "b")
    assert code == 2 and "--name" in stderr and "duo, solo" in stderr
    code, _, stderr = run(capsys, "import", tmp_path / "src", "--name", "trio", "-o", tmp_path / "c")
    assert code == 2 and "no original puppet named 'trio'" in stderr


def test_importing_a_folder_that_does_not_exist(tmp_path, capsys):
    code, _, stderr = run(capsys, "import", tmp_path / "nowhere", "--name", "x", "-o", tmp_path / "out")
    assert code == 2 and "no such folder" in stderr


def test_renderer_accepts_an_imported_mesh_directly(tmp_path, cartoon, ctx):
    image, landmarks = cartoon
    write_original_puppet(tmp_path, "toon", image, landmarks)
    puppet = Puppet.import_original(tmp_path, "toon")
    config = RenderConfig(style="cartoon")
    with WarpRenderer(puppet.image, puppet.landmarks, mesh=puppet.mesh, config=config, size=(150, 176),
                      background="white", ctx=ctx) as renderer:
        frame = renderer.render(open_mouth(puppet.landmarks, 0.2))
    assert frame.shape == (176, 150, 4) and (frame[..., 3] == 255).all()
