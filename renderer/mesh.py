"""The warp mesh: 68 face landmarks plus anchor and border points, triangulated once.

Vertex layout (the order is part of the saved puppet format):

* 0..67: the face landmarks, moved to each frame's landmark positions;
* forehead anchors: the 68-point scheme stops at the brows, so points above them carry the
  forehead and the hairline rigidly with the head;
* two rings around the head: the inner one (hair, ears, neck) follows the head's rigid motion
  closely, the outer one only gently, so the background is barely dragged;
* border points on the image frame, fixed: the mesh always covers the whole image.

Anchors move by `follow * (T(p) - p)`, where T is the similarity transform that best maps the
rest landmarks onto the frame's landmarks over points speech does not move (upper jaw, brows,
nose, eye corners).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

NUM_LANDMARKS = 68

JAW = tuple(range(0, 17))
RIGHT_BROW = tuple(range(17, 22))  # the subject's right, image left
LEFT_BROW = tuple(range(22, 27))
NOSE_BRIDGE = tuple(range(27, 31))
NOSE_BASE = tuple(range(31, 36))
RIGHT_EYE = tuple(range(36, 42))
LEFT_EYE = tuple(range(42, 48))
OUTER_LIP = tuple(range(48, 60))
INNER_LIP = tuple(range(60, 68))

# Pairs (upper, lower) of inner-lip points facing each other across the mouth opening.
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
# Points that speech and blinks leave alone (the jaw only near the ears, as the chin drops
# when the mouth opens): the rigid head motion is fitted on them.
RIGID_FIT_POINTS = (
    tuple(range(0, 3)) + tuple(range(14, 17)) + RIGHT_BROW + LEFT_BROW + NOSE_BRIDGE + NOSE_BASE
    + (36, 39, 42, 45)
)

# Landmark chains whose consecutive segments must be mesh edges, so that triangles never
# straddle a lip, an eyelid or the face outline (which would drag skin across the mouth).
CLOSED_CHAINS = (OUTER_LIP, INNER_LIP, RIGHT_EYE, LEFT_EYE)
OPEN_CHAINS = (JAW, RIGHT_BROW, LEFT_BROW, NOSE_BRIDGE, NOSE_BASE)

KIND_FACE, KIND_FOREHEAD, KIND_RING, KIND_BORDER = 0, 1, 2, 3


@dataclass(frozen=True)
class MeshConfig:
    """Where the anchor points go and how much they follow the head."""

    # Height of the forehead anchors above the brows, as a fraction of the brow-to-chin height.
    forehead_height: float = 0.5
    # Radii of the two anchor rings relative to the head outline seen from its centre.
    inner_ring_scale: float = 1.3
    outer_ring_scale: float = 1.9
    # How much of the head's rigid motion each anchor group takes (1 = moves with the head).
    forehead_follow: float = 1.0
    inner_ring_follow: float = 0.75
    outer_ring_follow: float = 0.3
    ring_points: int = 16
    # Border points per image side, corners included.
    border_points_per_side: int = 5
    # Anchors closer than this to the image frame (fraction of the short side) are dropped:
    # a moving point on the frame would uncover the image edge.
    border_margin: float = 0.04
    # Anchors closer than this (pixels) to another point are dropped (no sliver triangles).
    min_point_distance: float = 3.0
    # A closed mouth is opened to at least this gap (fraction of mouth width) for the
    # triangulation only, so that no triangle joins the upper lip to the lower lip.
    triangulation_mouth_gap: float = 0.15


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Twice the signed area of each triangle (positive: counter-clockwise in y-down pixels)."""
    a, b, c = points[triangles[:, 0]], points[triangles[:, 1]], points[triangles[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[complex, complex]:
    """Least-squares similarity z -> a*z + b mapping 2-D points src onto dst (complex form)."""
    zs = src[:, 0] + 1j * src[:, 1]
    zd = dst[:, 0] + 1j * dst[:, 1]
    ms, md = zs.mean(), zd.mean()
    den = float(np.sum(np.abs(zs - ms) ** 2))
    a = complex(np.sum((zd - md) * np.conj(zs - ms)) / den) if den > 0 else 1.0 + 0j
    return a, md - a * ms


def apply_similarity(points: np.ndarray, a: complex, b: complex) -> np.ndarray:
    z = a * (points[:, 0] + 1j * points[:, 1]) + b
    return np.stack([z.real, z.imag], axis=1)


def mouth_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Unit axis from inner corner 60 to 64, the unit normal towards the chin, and the width."""
    origin = landmarks[60, :2]
    axis = landmarks[64, :2] - origin
    width = float(np.hypot(*axis))
    axis = axis / width if width > 1e-9 else np.array([1.0, 0.0])
    down = np.array([-axis[1], axis[0]])
    return axis, down, width


def inner_lip_gap(landmarks: np.ndarray) -> float:
    """Mean opening between the inner lips, in pixels, measured across the mouth axis."""
    _, down, _ = mouth_frame(landmarks)
    gaps = [float(np.dot(landmarks[lo, :2] - landmarks[up, :2], down)) for up, lo in INNER_LIP_PAIRS]
    return float(np.mean(gaps))


def _chain_edges() -> list[tuple[int, int]]:
    edges = []
    for chain in CLOSED_CHAINS:
        edges += [(chain[i], chain[(i + 1) % len(chain)]) for i in range(len(chain))]
    for chain in OPEN_CHAINS:
        edges += [(chain[i], chain[i + 1]) for i in range(len(chain) - 1)]
    return edges


def constraint_edges(used: set[int] | None = None) -> list[tuple[int, int]]:
    """The landmark segments that every puppet mesh must contain as edges (only the chains
    whose points are all mesh vertices in use when `used` is given: an inner-lip-only
    triangulation from the original has no outer-lip vertices)."""
    if used is None:
        return _chain_edges()
    edges = []
    for chain in CLOSED_CHAINS:
        if set(chain) <= used:
            edges += [(chain[i], chain[(i + 1) % len(chain)]) for i in range(len(chain))]
    for chain in OPEN_CHAINS:
        if set(chain) <= used:
            edges += [(chain[i], chain[i + 1]) for i in range(len(chain) - 1)]
    return edges


def _edge_set(triangles: np.ndarray) -> set[tuple[int, int]]:
    edges = set()
    for t in triangles:
        for i in range(3):
            a, b = int(t[i]), int(t[(i + 1) % 3])
            edges.add((min(a, b), max(a, b)))
    return edges


def missing_edges(triangles: np.ndarray, edges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    present = _edge_set(triangles)
    return [e for e in edges if (min(e), max(e)) not in present]


def _segments_cross(p1, p2, p3, p4) -> bool:
    """Proper intersection of segments p1p2 and p3p4 (shared endpoints do not count)."""

    def orient(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    d1, d2 = orient(p3, p4, p1), orient(p3, p4, p2)
    d3, d4 = orient(p1, p2, p3), orient(p1, p2, p4)
    return d1 * d2 < 0 and d3 * d4 < 0


def _insert_edge(points: np.ndarray, tris: list[list[int]], a: int, b: int, max_flips: int = 200) -> bool:
    """Make (a, b) an edge by flipping the edges that cross it (Sloan's method)."""
    pa, pb = points[a], points[b]
    for _ in range(max_flips):
        if (min(a, b), max(a, b)) in _edge_set(np.asarray(tris)):
            return True
        # Rebuilt after every flip: a flip changes which triangles own the edges around it.
        owners: dict[tuple[int, int], list[int]] = {}
        for ti, t in enumerate(tris):
            for i in range(3):
                u, v = t[i], t[(i + 1) % 3]
                owners.setdefault((min(u, v), max(u, v)), []).append(ti)
        flipped = False
        for (u, v), owner in owners.items():
            if len(owner) != 2 or a in (u, v) or b in (u, v):
                continue
            if not _segments_cross(pa, pb, points[u], points[v]):
                continue
            t1, t2 = tris[owner[0]], tris[owner[1]]
            w1 = next(x for x in t1 if x not in (u, v))
            w2 = next(x for x in t2 if x not in (u, v))
            # Flipping is only valid when the quad u-w1-v-w2 is convex.
            if not _segments_cross(points[u], points[v], points[w1], points[w2]):
                continue
            new1, new2 = [u, w1, w2], [v, w2, w1]
            for tri in (new1, new2):
                if signed_areas(points, np.asarray([tri]))[0] < 0:
                    tri[1], tri[2] = tri[2], tri[1]
            tris[owner[0]], tris[owner[1]] = new1, new2
            flipped = True
            break
        if not flipped:
            return False
    return (min(a, b), max(a, b)) in _edge_set(np.asarray(tris))


def triangulation_problems(points: np.ndarray, triangles: np.ndarray, image_size: tuple[int, int],
                           tolerance: float = 1e-6) -> list[str]:
    """Why `triangles` over `points` (pixels) is not a proper triangulation of the image frame
    -0.5 .. size - 0.5 (empty when it is): out-of-range indices, degenerate or folded
    triangles, overlaps, holes. Triangles made only of inner-lip points are exempt from the
    fold test (a closed rest mouth folds them legitimately)."""
    issues: list[str] = []
    tris = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    if len(tris) == 0:
        return ["there are no triangles"]
    if tris.min() < 0 or tris.max() >= len(points):
        return [f"triangle indices must be 0..{len(points) - 1}, found {int(tris.min())}..{int(tris.max())}"]
    if (np.sort(tris, axis=1)[:, 1:] == np.sort(tris, axis=1)[:, :-1]).any():
        issues.append("some triangles repeat a vertex")
    width, height = image_size
    scale = float(max(width, height))
    areas = signed_areas(points, tris) / 2
    inner = set(INNER_LIP)
    exempt = np.array([set(t.tolist()) <= inner for t in tris])
    folded = (areas < -tolerance * scale) & ~exempt
    if folded.any():
        issues.append(f"{int(folded.sum())} triangles are folded or inverted")
    # Every edge inside the frame is shared by exactly two triangles lying on opposite sides of
    # it; an edge used once must lie on the frame. With the total area this rules out overlaps
    # and holes.
    owners: dict[tuple[int, int], list[int]] = {}
    for ti, t in enumerate(tris.tolist()):
        for i in range(3):
            u, v = t[i], t[(i + 1) % 3]
            owners.setdefault((min(u, v), max(u, v)), []).append(ti)
    lo, hi = np.array([-0.5, -0.5]), np.array([width - 0.5, height - 0.5])
    eps = 1e-3

    def on_frame(i: int, j: int) -> bool:
        a, b = points[i], points[j]
        for axis in (0, 1):
            for bound in (lo[axis], hi[axis]):
                if abs(a[axis] - bound) < eps and abs(b[axis] - bound) < eps:
                    return True
        return False

    crowded = sum(1 for o in owners.values() if len(o) > 2)
    loose = sum(1 for (u, v), o in owners.items() if len(o) == 1 and not on_frame(u, v))
    if crowded:
        issues.append(f"{crowded} edges are shared by more than two triangles (overlaps)")
    if loose:
        issues.append(f"{loose} edges inside the image border only one triangle (holes or overlaps)")
    total = float(np.abs(areas[~exempt]).sum() + areas[exempt].clip(min=0).sum())
    if not crowded and not loose and abs(total - width * height) > 1e-6 * width * height + 1.0:
        issues.append(f"the triangles cover {total:.0f} square pixels of the {width}x{height} image")
    return issues


def _triangulation_pose(landmarks: np.ndarray, config: MeshConfig) -> np.ndarray:
    """The rest landmarks with a closed mouth opened a little (for connectivity only)."""
    pose = landmarks[:, :2].copy()
    _, down, width = mouth_frame(pose)
    gap = inner_lip_gap(pose)
    need = config.triangulation_mouth_gap * width - gap
    if need > 0:
        pose[[65, 66, 67]] += need * down
        pose[[55, 56, 57, 58, 59]] += need * down
    return pose


def _face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Unit vectors across the face (right eye to left eye) and up, and brow-to-chin height."""
    across = landmarks[list(LEFT_EYE), :2].mean(0) - landmarks[list(RIGHT_EYE), :2].mean(0)
    norm = float(np.hypot(*across))
    across = across / norm if norm > 1e-9 else np.array([1.0, 0.0])
    up = np.array([across[1], -across[0]])  # y points down in pixels
    brows = landmarks[list(RIGHT_BROW + LEFT_BROW), :2].mean(0)
    height = float(np.dot(brows - landmarks[8, :2], up))
    if height <= 1e-6:
        height = float(np.ptp(landmarks[:, 1])) or 1.0
    return across, up, height


def _anchor_points(landmarks: np.ndarray, size: tuple[int, int], config: MeshConfig):
    """Forehead points, the two rings and the image border: positions, kinds and follow."""
    width, height = size
    pts = landmarks[:, :2]
    across, up, face_h = _face_frame(pts)

    forehead_src = [pts[17], pts[19], 0.5 * (pts[21] + pts[22]), pts[24], pts[26]]
    forehead_lift = (0.55, 0.9, 1.0, 0.9, 0.55)
    forehead = np.array(
        [p + up * config.forehead_height * face_h * k for p, k in zip(forehead_src, forehead_lift)]
    )

    head = np.concatenate([pts, forehead])
    centre = 0.5 * (pts[8] + forehead[2])
    angles = np.linspace(0.0, 2 * np.pi, config.ring_points, endpoint=False)
    directions = np.cos(angles)[:, None] * across + np.sin(angles)[:, None] * up
    # The support function of the head outline: a ring scaled from it stays outside the head.
    reach = np.max((head - centre) @ directions.T, axis=0)
    inner = centre + directions * (reach * config.inner_ring_scale)[:, None]
    outer = centre + directions * (reach * config.outer_ring_scale)[:, None]

    # Border: the image frame in pixel-centre coordinates spans -0.5 .. size-0.5.
    n = max(2, config.border_points_per_side)
    xs = np.linspace(-0.5, width - 0.5, n)
    ys = np.linspace(-0.5, height - 0.5, n)
    border = (
        [(x, -0.5) for x in xs]
        + [(width - 0.5, y) for y in ys[1:]]
        + [(x, height - 0.5) for x in xs[-2::-1]]
        + [(-0.5, y) for y in ys[-2:0:-1]]
    )
    border = np.array(border, dtype=np.float64)

    margin = config.border_margin * min(width, height)
    candidates = [
        (forehead, KIND_FOREHEAD, config.forehead_follow),
        (inner, KIND_RING, config.inner_ring_follow),
        (outer, KIND_RING, config.outer_ring_follow),
    ]
    kept = [p for p in pts]
    positions, kinds, follow = [], [], []
    for group, kind, weight in candidates:
        for p in group:
            inside = margin <= p[0] <= width - 1 - margin and margin <= p[1] <= height - 1 - margin
            if not inside:
                continue
            if min(np.hypot(*(p - q)) for q in kept) < config.min_point_distance:
                continue
            kept.append(p)
            positions.append(p)
            kinds.append(kind)
            follow.append(weight)
    for p in border:
        positions.append(p)
        kinds.append(KIND_BORDER)
        follow.append(0.0)
    return np.array(positions), np.array(kinds, dtype=np.int8), np.array(follow)


@dataclass
class Mesh:
    """A triangulated rest pose: vertex rest positions (pixels), triangles and follow weights."""

    rest: np.ndarray  # (N, 2) float64, source-image pixels (pixel centres at integers)
    triangles: np.ndarray  # (M, 3) int32 indices into rest
    kinds: np.ndarray  # (N,) int8: KIND_FACE, KIND_FOREHEAD, KIND_RING, KIND_BORDER
    follow: np.ndarray  # (N,) float64: share of the rigid head motion each anchor takes
    image_size: tuple[int, int]  # (width, height)
    config: MeshConfig = field(default_factory=MeshConfig)
    # "built": anchors placed and triangulated by Mesh.build; "original": a triangulation
    # imported from an original MakeItTalk puppet; "delaunay": the original's point set
    # (landmarks and frame points) re-triangulated.
    source: str = "built"

    @classmethod
    def build(
        cls, rest_landmarks: np.ndarray, image_size: tuple[int, int], config: MeshConfig | None = None
    ) -> "Mesh":
        """Place anchors around the rest landmarks and triangulate once (scipy's Delaunay)."""
        from scipy.spatial import Delaunay

        config = config or MeshConfig()
        rest_landmarks = np.asarray(rest_landmarks, dtype=np.float64)
        if rest_landmarks.shape[0] != NUM_LANDMARKS or rest_landmarks.shape[1] < 2:
            raise ValueError(f"rest landmarks must be (68, 2) or (68, 3), got {rest_landmarks.shape}")
        face = rest_landmarks[:, :2]
        extra, extra_kinds, extra_follow = _anchor_points(face, image_size, config)
        rest = np.concatenate([face, extra])
        kinds = np.concatenate([np.full(NUM_LANDMARKS, KIND_FACE, np.int8), extra_kinds])
        follow = np.concatenate([np.ones(NUM_LANDMARKS), extra_follow])

        pose = np.concatenate([_triangulation_pose(face, config), extra])
        # Coincident landmarks (a detector can return the same pixel twice) would be left out
        # of the triangulation; nudge them apart by a fraction of a pixel instead.
        for attempt in range(4):
            delaunay = Delaunay(pose)
            if len(delaunay.coplanar) == 0:
                break
            for idx in delaunay.coplanar[:, 0]:
                pose[idx] += 0.05 * (attempt + 1) * np.array([np.cos(idx), np.sin(idx)])
        triangles = delaunay.simplices.astype(np.int64)
        areas = signed_areas(pose, triangles)
        triangles[areas < 0] = triangles[areas < 0][:, [0, 2, 1]]

        tris = triangles.tolist()
        for a, b in missing_edges(triangles, constraint_edges()):
            _insert_edge(pose, tris, a, b)
        triangles = np.asarray(tris, dtype=np.int32)
        return cls(rest=rest, triangles=triangles, kinds=kinds, follow=follow,
                   image_size=(int(image_size[0]), int(image_size[1])), config=config)

    @classmethod
    def from_triangles(
        cls,
        rest_landmarks: np.ndarray,
        extra_points: np.ndarray,
        triangles: np.ndarray,
        image_size: tuple[int, int],
        *,
        extra_kinds: np.ndarray | None = None,
        source: str = "original",
    ) -> "Mesh":
        """A mesh from a given triangulation over the 68 landmarks followed by `extra_points`
        (fixed frame points unless `extra_kinds` says otherwise).

        Triangles are oriented consistently and the landmark chains (lips, eyes, outline)
        are made edges by flipping where needed, which keeps the triangulation valid. Raises
        ValueError naming the defect when it does not cover the image exactly once.
        """
        face = np.asarray(rest_landmarks, dtype=np.float64)[:, :2]
        extra = np.asarray(extra_points, dtype=np.float64).reshape(-1, 2)
        rest = np.concatenate([face, extra])
        tris = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
        if len(tris) and (tris.min() < 0 or tris.max() >= len(rest)):
            raise ValueError(f"triangle indices must be 0..{len(rest) - 1}, found {int(tris.min())}..{int(tris.max())}")
        areas = signed_areas(rest, tris)
        tris = tris[np.abs(areas) > 1e-9]  # zero-area slivers along the frame add nothing
        areas = signed_areas(rest, tris)
        if (areas < 0).sum() > (areas > 0).sum():  # the file's winding is the other way round
            tris = tris[:, [0, 2, 1]]
        issues = triangulation_problems(rest, tris, image_size)
        if issues:
            raise ValueError("; ".join(issues))
        used = set(np.unique(tris).tolist())
        tri_list = tris.tolist()
        for a, b in missing_edges(tris, constraint_edges(used)):
            _insert_edge(rest, tri_list, a, b)
        tris = np.asarray(tri_list, dtype=np.int32)
        kinds = np.concatenate([
            np.full(NUM_LANDMARKS, KIND_FACE, np.int8),
            np.full(len(extra), KIND_BORDER, np.int8) if extra_kinds is None else np.asarray(extra_kinds, np.int8),
        ])
        follow = np.where(kinds == KIND_FACE, 1.0, 0.0).astype(np.float64)
        return cls(rest=rest, triangles=tris, kinds=kinds, follow=follow,
                   image_size=(int(image_size[0]), int(image_size[1])), source=source)

    @classmethod
    def delaunay(
        cls,
        rest_landmarks: np.ndarray,
        extra_points: np.ndarray,
        image_size: tuple[int, int],
        *,
        source: str = "delaunay",
        config: MeshConfig | None = None,
    ) -> "Mesh":
        """Delaunay-triangulate the 68 landmarks plus fixed `extra_points` (the original's
        point set), with a closed mouth opened for the connectivity and the landmark chains
        made edges."""
        from scipy.spatial import Delaunay

        config = config or MeshConfig()
        face = np.asarray(rest_landmarks, dtype=np.float64)[:, :2]
        extra = np.asarray(extra_points, dtype=np.float64).reshape(-1, 2)
        rest = np.concatenate([face, extra])
        pose = np.concatenate([_triangulation_pose(face, config), extra])
        triangles = Delaunay(pose).simplices.astype(np.int64)
        areas = signed_areas(pose, triangles)
        triangles[areas < 0] = triangles[areas < 0][:, [0, 2, 1]]
        tri_list = triangles.tolist()
        for a, b in missing_edges(triangles, constraint_edges()):
            _insert_edge(pose, tri_list, a, b)
        kinds = np.concatenate([np.full(NUM_LANDMARKS, KIND_FACE, np.int8), np.full(len(extra), KIND_BORDER, np.int8)])
        return cls(rest=rest, triangles=np.asarray(tri_list, dtype=np.int32), kinds=kinds,
                   follow=np.where(kinds == KIND_FACE, 1.0, 0.0), image_size=(int(image_size[0]), int(image_size[1])),
                   config=config, source=source)

    @property
    def num_vertices(self) -> int:
        return int(self.rest.shape[0])

    def deform(self, landmarks: np.ndarray) -> np.ndarray:
        """Vertex positions (N, 2) for one frame of 68 landmarks in source pixels."""
        landmarks = np.asarray(landmarks, dtype=np.float64)[:, :2]
        out = self.rest.copy()
        out[:NUM_LANDMARKS] = landmarks
        anchors = slice(NUM_LANDMARKS, None)
        idx = list(RIGID_FIT_POINTS)
        a, b = similarity_fit(self.rest[idx], landmarks[idx])
        moved = apply_similarity(self.rest[anchors], a, b)
        weight = self.follow[anchors][:, None]
        out[anchors] = self.rest[anchors] + weight * (moved - self.rest[anchors])
        return out

    def problems(self) -> list[str]:
        """Human-readable defects: missing lip/eye/outline edges or folded rest triangles."""
        issues = []
        used = set(np.unique(self.triangles).tolist())
        missing = missing_edges(self.triangles, constraint_edges(used))
        if missing:
            issues.append(f"{len(missing)} landmark segments are not mesh edges: {missing[:6]}")
        inner = set(INNER_LIP)
        areas = signed_areas(self.rest, self.triangles)
        scale = max(self.image_size)
        folded = [
            i for i, t in enumerate(self.triangles)
            if not set(int(v) for v in t) <= inner and areas[i] < -1e-6 * scale
        ]
        if folded:
            issues.append(f"{len(folded)} triangles are folded in the rest pose")
        if self.triangles.min() < 0 or self.triangles.max() >= self.num_vertices:
            issues.append("triangle indices out of range")
        return issues

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "makeittalk-warp-mesh",
            "version": 1,
            "image_size": list(self.image_size),
            "num_landmarks": NUM_LANDMARKS,
            "vertices": np.round(self.rest, 4).tolist(),
            "kinds": self.kinds.tolist(),
            "follow": self.follow.tolist(),
            "triangles": self.triangles.tolist(),
            "config": asdict(self.config),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Mesh":
        if data.get("format") != "makeittalk-warp-mesh":
            raise ValueError("not a makeittalk warp mesh")
        config_fields = MeshConfig.__dataclass_fields__
        config = MeshConfig(**{k: v for k, v in data.get("config", {}).items() if k in config_fields})
        rest = np.asarray(data["vertices"], dtype=np.float64).reshape(-1, 2)
        return cls(
            rest=rest,
            triangles=np.asarray(data["triangles"], dtype=np.int32).reshape(-1, 3),
            kinds=np.asarray(data["kinds"], dtype=np.int8),
            follow=np.asarray(data["follow"], dtype=np.float64),
            image_size=(int(data["image_size"][0]), int(data["image_size"][1])),
            config=config,
            source=str(data.get("source", "built")),
        )
