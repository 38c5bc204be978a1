"""Training targets for the landmark branches, from a prepared clip's landmarks.

The networks work in the static face's normalised space (makeittalk.face.normalize). Per
talking clip:

* the **static face** q is the frame with the most closed mouth (as the original's training,
  spec §4.2), with the inference path's pixel tweaks, normalised like a portrait at inference;
* every frame is similarity-registered onto that frame on the stable points (nose, eye
  corners), which removes head motion: the **content target** is q + Δc* with
  Δc* = registered(t) − q, i.e. lip, jaw and expression motion in a still head;
* the **speaker target** Δs* = raw(t) − registered(t) is what the head motion does to every
  point, so q + Δc* + Δs* is the frame as filmed (both in q's normalised space), less the
  clip's mean of Δs*: the motion is centred on the clip's average pose.

Mouth-only tracks (the Obama keypoints, points 48-67 in their own normalised units) are mapped
onto the standard face's mouth by a similarity fit of their most closed frame's outer lip, and
carry a point mask with only the 20 mouth points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from makeittalk.animation.postprocess import apply_similarity, similarity_fit
from makeittalk.face.normalize import StaticFace, apply_original_tweaks

STABLE_POINTS = np.array([27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45])
OUTER_LIP = np.arange(48, 60)
MOUTH = np.arange(48, 68)


def mouth_opening(points: np.ndarray) -> np.ndarray:
    """|p62 - p66| / |p36 - p45| per frame of (..., 68, 2) points."""
    gap = np.linalg.norm(points[..., 62, :] - points[..., 66, :], axis=-1)
    eyes = np.linalg.norm(points[..., 36, :] - points[..., 45, :], axis=-1)
    return gap / np.maximum(eyes, 1e-9)


@dataclass
class LandmarkTargets:
    """Per mel frame targets of one clip, in the clip's normalised space (float32)."""

    face_id: np.ndarray  # (204,) the static face q
    content: np.ndarray  # (T, 204) q + Δc*
    speaker_delta: np.ndarray  # (T, 204) Δs* (zeros where unknown)
    frame_mask: np.ndarray  # (T,) bool: ground truth exists
    point_mask: np.ndarray  # (68,) bool
    has_pose: bool  # False for mouth-only tracks


def _flat(points_xy: np.ndarray, z: np.ndarray) -> np.ndarray:
    n = points_xy.shape[0]
    out = np.empty((n, 68, 3), dtype=np.float64)
    out[..., :2] = points_xy
    out[..., 2] = z
    return out.reshape(n, 204).astype(np.float32)


def talking_targets(landmarks: np.ndarray, mask: np.ndarray) -> LandmarkTargets:
    """Targets of a clip with full 68-point pixel landmarks (T, 68, 2) and a frame mask (T,)."""
    valid = np.flatnonzero(mask)
    if valid.size == 0:
        raise ValueError("the clip has no frame with landmarks")
    pts = np.asarray(landmarks, dtype=np.float64)
    ref_index = valid[np.argmin(mouth_opening(pts[valid]))]
    reference = pts[ref_index]
    face = StaticFace.from_landmarks(apply_original_tweaks(reference))
    z = face.q[:, 2]
    filled = np.where(mask[:, None, None], pts, reference)  # masked frames never reach the loss
    s, r, t = similarity_fit(filled[:, STABLE_POINTS], reference[STABLE_POINTS])
    registered = apply_similarity(filled, s, r, t)
    raw_norm = face.normalize(apply_original_tweaks(filled))[..., :2]
    reg_norm = face.normalize(apply_original_tweaks(registered))[..., :2]
    pose = raw_norm - reg_norm
    # The reference frame's pose is arbitrary within the clip; centring the head motion on the
    # clip's mean pose leaves only what audio and speaker can explain (the portrait's pose at
    # inference plays the role of that mean).
    pose -= pose[mask].mean(axis=0)
    return LandmarkTargets(
        face_id=face.face_id.reshape(204).astype(np.float32),
        content=_flat(reg_norm, z),
        speaker_delta=_flat(pose, np.zeros(68)),
        frame_mask=np.asarray(mask, dtype=bool).copy(),
        point_mask=np.ones(68, dtype=bool),
        has_pose=True,
    )


def mouth_track_targets(landmarks: np.ndarray, mask: np.ndarray, offset_frames: int = 0) -> LandmarkTargets:
    """Targets of a mouth-only clip: (T, 68, 2) with points 48-67 set (others NaN).

    `offset_frames` > 0 delays the motion against the audio by that many mel frames (the
    Obama keypoints lead their audio by about 0.1 s).
    """
    from makeittalk.resources import standard_face

    pts = np.asarray(landmarks, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool).copy()
    if offset_frames:
        shifted = np.full_like(pts, np.nan)
        smask = np.zeros_like(mask)
        if offset_frames > 0:
            shifted[offset_frames:] = pts[:-offset_frames]
            smask[offset_frames:] = mask[:-offset_frames]
        else:
            shifted[:offset_frames] = pts[-offset_frames:]
            smask[:offset_frames] = mask[-offset_frames:]
        pts, mask = shifted, smask
    valid = np.flatnonzero(mask)
    if valid.size == 0:
        raise ValueError("the clip has no frame with mouth points")
    face = StaticFace.from_landmarks(standard_face()[:, :2])
    q = face.q
    mouth = pts[:, MOUTH]
    ref = mouth[valid[np.argmin(np.linalg.norm(mouth[valid, 14] - mouth[valid, 18], axis=-1))]]
    s, r, t = similarity_fit(ref[OUTER_LIP - 48], q[OUTER_LIP, :2])
    filled = np.where(mask[:, None, None], mouth, ref)
    mapped = apply_similarity(filled, s, r, t)
    xy = np.repeat(q[None, :, :2], pts.shape[0], axis=0)
    xy[:, MOUTH] = mapped
    point_mask = np.zeros(68, dtype=bool)
    point_mask[MOUTH] = True
    return LandmarkTargets(
        face_id=face.face_id.reshape(204).astype(np.float32),
        content=_flat(xy, q[:, 2]),
        speaker_delta=np.zeros((pts.shape[0], 204), np.float32),
        frame_mask=mask,
        point_mask=point_mask,
        has_pose=False,
    )


def clip_targets(arrays: dict[str, np.ndarray], kind: str, lips_offset_frames: int = 0) -> LandmarkTargets:
    """Targets from a prepared clip's arrays (see makeittalk.datasets.prepare)."""
    landmarks = arrays["landmarks"]
    mask = arrays["landmark_mask"].astype(bool)
    if kind == "lips":
        return mouth_track_targets(landmarks, mask, lips_offset_frames)
    return talking_targets(landmarks, mask)
