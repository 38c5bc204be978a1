"""The warp mesh: anchors, triangulation constraints and per-frame deformation (no OpenGL)."""

from __future__ import annotations

import numpy as np
import pytest

from renderer.mesh import (
    INNER_LIP,
    KIND_BORDER,
    KIND_FOREHEAD,
    KIND_RING,
    NUM_LANDMARKS,
    Mesh,
    constraint_edges,
    missing_edges,
    signed_areas,
)
from renderer.synthetic import cartoon_landmarks, move_head, open_mouth

# dlib's 68 landmarks of skimage.data.astronaut() (512 x 512), rounded to pixels.
ASTRONAUT_LANDMARKS = np.array([
    [179, 104], [180, 116], [181, 127], [182, 139], [185, 150], [191, 160], [200, 168], [209, 176],
    [220, 178], [232, 177], [243, 171], [253, 163], [260, 154], [265, 143], [268, 131], [270, 120],
    [272, 108], [186, 94], [192, 88], [200, 87], [208, 89], [216, 92], [236, 93], [244, 91],
    [252, 91], [260, 92], [265, 99], [226, 102], [225, 111], [225, 119], [225, 127], [214, 131],
    [219, 133], [224, 134], [229, 133], [234, 132], [195, 101], [200, 98], [207, 98], [212, 104],
    [206, 104], [199, 104], [237, 106], [243, 100], [250, 100], [255, 105], [250, 107], [244, 107],
    [201, 139], [209, 139], [218, 139], [224, 141], [230, 140], [238, 140], [246, 141], [238, 151],
    [229, 155], [222, 156], [216, 155], [208, 150], [204, 141], [218, 143], [223, 144], [230, 143],
    [243, 142], [229, 150], [223, 151], [217, 150],
], dtype=np.float64)


def _faces():
    return {
        "cartoon": (cartoon_landmarks(512), (512, 512)),
        "astronaut": (ASTRONAUT_LANDMARKS, (512, 512)),
        "tight crop": (ASTRONAUT_LANDMARKS - [170, 70], (110, 120)),
    }


@pytest.mark.parametrize("name", sorted(_faces()))
def test_mesh_keeps_landmark_chains_as_edges_and_nothing_folds(name):
    landmarks, size = _faces()[name]
    mesh = Mesh.build(landmarks, size)
    assert mesh.problems() == []
    assert missing_edges(mesh.triangles, constraint_edges()) == []
    # Every vertex is used, and the rest pose has no folded triangle.
    assert set(np.unique(mesh.triangles)) == set(range(mesh.num_vertices))
    inner = set(INNER_LIP)
    areas = signed_areas(mesh.rest, mesh.triangles)
    outside_mouth = [i for i, t in enumerate(mesh.triangles) if not set(t.tolist()) <= inner]
    assert (areas[outside_mouth] > 0).all()


@pytest.mark.parametrize("name", sorted(_faces()))
def test_mesh_covers_the_whole_image_exactly(name):
    landmarks, size = _faces()[name]
    mesh = Mesh.build(landmarks, size)
    total = signed_areas(mesh.rest, mesh.triangles).sum() / 2
    assert total == pytest.approx(size[0] * size[1], rel=1e-9)
    border = mesh.rest[mesh.kinds == KIND_BORDER]
    assert border[:, 0].min() == -0.5 and border[:, 0].max() == size[0] - 0.5
    assert border[:, 1].min() == -0.5 and border[:, 1].max() == size[1] - 0.5
    anchors = mesh.rest[(mesh.kinds == KIND_FOREHEAD) | (mesh.kinds == KIND_RING)]
    assert ((anchors > 0) & (anchors < np.array(size) - 1)).all()


def test_no_triangle_joins_the_upper_lip_to_the_lower_lip():
    # A closed mouth (inner lips 1 px apart) must still keep lips apart in the connectivity.
    mesh = Mesh.build(cartoon_landmarks(512), (512, 512))
    upper = {49, 50, 51, 52, 53, 61, 62, 63}
    lower = {55, 56, 57, 58, 59, 65, 66, 67}
    for tri in mesh.triangles.tolist():
        assert not (set(tri) & {49, 50, 51, 52, 53} and set(tri) & lower), tri
        assert not (set(tri) & upper and set(tri) & {55, 56, 57, 58, 59}), tri


def test_deform_moves_face_anchors_and_keeps_the_border():
    landmarks = cartoon_landmarks(512)
    mesh = Mesh.build(landmarks, (512, 512))
    assert np.allclose(mesh.deform(landmarks), mesh.rest)

    moved = move_head(landmarks, dx=12.0, dy=-5.0)
    vertices = mesh.deform(moved)
    shift = vertices - mesh.rest
    assert np.allclose(shift[:NUM_LANDMARKS], [12.0, -5.0])
    assert np.allclose(shift[mesh.kinds == KIND_FOREHEAD], [12.0, -5.0])
    assert np.allclose(shift[mesh.kinds == KIND_BORDER], 0.0)
    ring = shift[mesh.kinds == KIND_RING]
    assert ((np.abs(ring[:, 0]) > 0) & (np.abs(ring[:, 0]) < 12.0 + 1e-9)).all()


def test_speech_does_not_drag_the_anchors():
    landmarks = cartoon_landmarks(512)
    mesh = Mesh.build(landmarks, (512, 512))
    vertices = mesh.deform(open_mouth(landmarks, 0.4))
    assert np.abs(vertices[NUM_LANDMARKS:] - mesh.rest[NUM_LANDMARKS:]).max() < 1.0


def test_coincident_landmarks_are_still_mesh_vertices():
    landmarks = cartoon_landmarks(512)
    landmarks[33, :2] = landmarks[32, :2]  # a detector returning the same pixel twice
    mesh = Mesh.build(landmarks, (512, 512))
    assert set(np.unique(mesh.triangles)) == set(range(mesh.num_vertices))


def test_mesh_round_trips_through_a_dict():
    mesh = Mesh.build(ASTRONAUT_LANDMARKS, (512, 512))
    again = Mesh.from_dict(mesh.to_dict())
    assert np.array_equal(again.triangles, mesh.triangles)
    assert np.allclose(again.rest, mesh.rest, atol=1e-4)
    assert np.array_equal(again.kinds, mesh.kinds)
    assert again.image_size == mesh.image_size and again.config == mesh.config


def test_mesh_rejects_wrong_landmark_shapes():
    with pytest.raises(ValueError, match="68"):
        Mesh.build(np.zeros((67, 2)), (100, 100))


def test_triangulation_problems_finds_holes_overlaps_and_folds():
    from renderer.mesh import triangulation_problems

    landmarks = cartoon_landmarks(512)
    mesh = Mesh.build(landmarks, (512, 512))
    assert triangulation_problems(mesh.rest, mesh.triangles, (512, 512)) == []
    holes = triangulation_problems(mesh.rest, mesh.triangles[1:], (512, 512))
    assert any("only one triangle" in issue for issue in holes)
    overlaps = triangulation_problems(mesh.rest, np.concatenate([mesh.triangles, mesh.triangles[:1]]), (512, 512))
    assert any("more than two" in issue for issue in overlaps)
    folded = mesh.rest.copy()
    folded[30] = folded[8]  # the nose tip dragged onto the chin
    assert any("folded" in issue for issue in triangulation_problems(folded, mesh.triangles, (512, 512)))
    assert "indices" in triangulation_problems(mesh.rest, mesh.triangles + 1000, (512, 512))[0]


def test_mesh_from_given_triangles_fixes_the_winding_and_keeps_its_source():
    landmarks = cartoon_landmarks(512)
    built = Mesh.build(landmarks, (512, 512))
    extra = built.rest[NUM_LANDMARKS:]
    clockwise = built.triangles[:, [0, 2, 1]]
    mesh = Mesh.from_triangles(landmarks, extra, clockwise, (512, 512), extra_kinds=built.kinds[NUM_LANDMARKS:])
    outside_mouth = [i for i, t in enumerate(mesh.triangles.tolist()) if not set(t) <= set(INNER_LIP)]
    assert (signed_areas(mesh.rest, mesh.triangles)[outside_mouth] > 0).all() and mesh.problems() == []
    assert {tuple(sorted(t)) for t in mesh.triangles.tolist()} == {tuple(sorted(t)) for t in built.triangles.tolist()}
    assert mesh.source == "original" and Mesh.from_dict(mesh.to_dict()).source == "original"
    assert Mesh.from_dict({k: v for k, v in built.to_dict().items() if k != "source"}).source == "built"
    with pytest.raises(ValueError, match="only one triangle"):
        Mesh.from_triangles(landmarks, extra, built.triangles[3:], (512, 512))


def test_delaunay_of_the_original_point_set():
    landmarks = cartoon_landmarks(512)
    frame = np.array([[-0.5, -0.5], [-0.5, 511.5], [511.5, 511.5], [511.5, -0.5]])
    mesh = Mesh.delaunay(landmarks, frame, (512, 512))
    assert mesh.source == "delaunay" and mesh.problems() == []
    assert (mesh.kinds[NUM_LANDMARKS:] == KIND_BORDER).all() and (mesh.follow[NUM_LANDMARKS:] == 0).all()
    total = signed_areas(mesh.rest, mesh.triangles).sum() / 2
    assert total == pytest.approx(512 * 512)
