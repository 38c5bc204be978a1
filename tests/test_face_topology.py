"""68-point topology: part ranges, every row of the spec §4.2 Laplacian table, drawing segments."""

from __future__ import annotations

import numpy as np
import pytest

from makeittalk.face import topology
from makeittalk.face.topology import (
    LANDMARK_DRAWING_SEGMENTS,
    LAPLACIAN_NEIGHBOURS,
    MOUTH,
    PARTS,
    LandmarksError,
    laplacian,
)

# Spec §4.2, typed out row by row: point -> (n1, n2).
SPEC_TABLE = {
    # jaw 0-16, open chain
    0: (1, 1), 1: (0, 2), 2: (1, 3), 3: (2, 4), 4: (3, 5), 5: (4, 6), 6: (5, 7), 7: (6, 8), 8: (7, 9),
    9: (8, 10), 10: (9, 11), 11: (10, 12), 12: (11, 13), 13: (12, 14), 14: (13, 15), 15: (14, 16), 16: (15, 15),
    # right eyebrow 17-21, open chain
    17: (18, 18), 18: (17, 19), 19: (18, 20), 20: (19, 21), 21: (20, 20),
    # left eyebrow 22-26, open chain
    22: (23, 23), 23: (22, 24), 24: (23, 25), 25: (24, 26), 26: (25, 25),
    # nose 27-35, one open chain (bridge continues into the nostrils)
    27: (28, 28), 28: (27, 29), 29: (28, 30), 30: (29, 31), 31: (30, 32), 32: (31, 33), 33: (32, 34),
    34: (33, 35), 35: (34, 34),
    # right eye 36-41, closed loop
    36: (41, 37), 37: (36, 38), 38: (37, 39), 39: (38, 40), 40: (39, 41), 41: (40, 36),
    # left eye 42-47, closed loop
    42: (47, 43), 43: (42, 44), 44: (43, 45), 45: (44, 46), 46: (45, 47), 47: (46, 42),
    # outer lips 48-59, closed loop
    48: (59, 49), 49: (48, 50), 50: (49, 51), 51: (50, 52), 52: (51, 53), 53: (52, 54), 54: (53, 55),
    55: (54, 56), 56: (55, 57), 57: (56, 58), 58: (57, 59), 59: (58, 48),
    # inner lips 60-67, closed loop
    60: (67, 61), 61: (60, 62), 62: (61, 63), 63: (62, 64), 64: (63, 65), 65: (64, 66), 66: (65, 67), 67: (66, 60),
}


def test_spec_table_is_complete():
    assert sorted(SPEC_TABLE) == list(range(68))


@pytest.mark.parametrize("point", range(68))
def test_laplacian_neighbour_row(point):
    assert tuple(int(v) for v in LAPLACIAN_NEIGHBOURS[point]) == SPEC_TABLE[point]


def test_neighbour_table_is_a_read_only_int_array():
    assert LAPLACIAN_NEIGHBOURS.shape == (68, 2) and np.issubdtype(LAPLACIAN_NEIGHBOURS.dtype, np.integer)
    with pytest.raises(ValueError):
        LAPLACIAN_NEIGHBOURS[0, 0] = 5


def test_parts_partition_the_68_points():
    assert list(PARTS) == [
        "jaw", "right_eyebrow", "left_eyebrow", "nose", "right_eye", "left_eye", "outer_lips", "inner_lips",
    ]
    everything = [i for points in PARTS.values() for i in points]
    assert everything == list(range(68))
    assert PARTS["jaw"] == tuple(range(17)) and PARTS["inner_lips"] == tuple(range(60, 68))
    assert list(MOUTH) == list(range(48, 68))
    assert topology.EYELID_PAIRS == ((37, 41), (38, 40), (43, 47), (44, 46))
    assert topology.UPPER_INNER_LIP == (61, 62, 63) and topology.LOWER_INNER_LIP == (67, 66, 65)


def test_laplacian_values():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(4, 3, 68, 3))
    out = laplacian(points)
    assert out.shape == points.shape
    for i, (a, b) in SPEC_TABLE.items():
        assert np.allclose(out[..., i, :], points[..., i, :] - 0.5 * (points[..., a, :] + points[..., b, :]), atol=0)


def test_laplacian_of_a_straight_evenly_spaced_chain_is_zero_inside():
    points = np.zeros((68, 3))
    points[:17, 0] = np.arange(17) * 2.5
    out = laplacian(points)
    assert np.allclose(out[1:16], 0.0)
    assert out[0, 0] == -2.5 and out[16, 0] == 2.5  # endpoints use their single neighbour twice


def test_laplacian_rejects_wrong_shapes():
    with pytest.raises(LandmarksError):
        laplacian(np.zeros((67, 3)))


def test_drawing_segments():
    segments = LANDMARK_DRAWING_SEGMENTS
    assert list(segments) == list(PARTS)
    assert segments["jaw"] == tuple((i, i + 1) for i in range(16))
    assert (30, 31) in segments["nose"] and len(segments["nose"]) == 8
    assert segments["right_eye"][-1] == (41, 36) and segments["left_eye"][-1] == (47, 42)
    assert segments["outer_lips"][-1] == (59, 48) and segments["inner_lips"][-1] == (67, 60)
    assert (21, 22) not in segments["right_eyebrow"] + segments["left_eyebrow"]
    assert sum(len(s) for s in segments.values()) == 16 + 4 + 4 + 8 + 6 + 6 + 12 + 8
    assert set(topology.LANDMARK_DRAWING_COLORS_BGR) == set(PARTS)
