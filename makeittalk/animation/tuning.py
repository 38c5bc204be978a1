"""The post-processing a weight set tunes for its own networks (weightset.json "animation").

Kept apart from the engine: the fitting scripts and the live mode read it too.
"""

from __future__ import annotations

from typing import Any

from makeittalk.errors import MakeItTalkError

#: Post-processing a weight set may tune for its own networks (weightset.json "animation"):
#: amp_lip / amp_pos replace the original's 2.0 / 0.5 gains (the user's lip_scale and
#: pose_scale still multiply them); amp_pos 0 with content_features "source" runs neither AutoVC
#: nor the speaker branch (nor their front-end features); calibrate_content false skips the
#: rest-pose calibration.
#: face_tweaks false skips the original's fixed pixel tweaks of the portrait's landmarks (thinner
#: lips, wider eyes), which only suit networks trained on tweaked faces.
#: rigid_pose true keeps only the similarity motion of each speaker-branch frame (see
#: postprocess.rigid_speaker_delta), for speaker branches trained on head motion alone.
#: procedural_pose GAIN adds the procedural head motion of animation.head_motion (scaled by
#: pose_scale, removed by still), for speaker branches that predict almost none; procedural_style
#: {field: number} overrides its HeadMotionStyle (sizes, bands; fitted by scripts/fit_head_motion.py);
#: head_size_model scales that motion, and lip_gain_model amp_lip, per recording from its speech
#: spectrum (animation.spectrum_gains).
#: content_delay_frames D: the content branch was trained with D frames of past audio in each
#: window (see delay_content_windows). content_features "source": it reads the normalised mel of
#: the input voice itself instead of AutoVC's conversion ("converted", the original's design).
TUNING_KEYS = {"amp_lip": float, "amp_pos": float, "calibrate_content": bool, "face_tweaks": bool, "rigid_pose": bool,
               "procedural_pose": float, "content_delay_frames": int, "content_features": str,
               "procedural_style": dict, "head_size_model": dict, "lip_gain_model": dict}
_TUNING_CHOICES = {"content_features": ("converted", "source")}


def check_tuning(tuning: dict[str, Any]) -> dict[str, Any]:
    """A copy of a weight set's "animation" settings; MakeItTalkError in one line if any is not valid."""
    from makeittalk.animation.engine import WINDOW_FRAMES

    for key, value in tuning.items():
        kind = TUNING_KEYS.get(key)
        accepted = {float: (int, float), bool: bool, int: int, str: str, dict: dict}.get(kind)
        if accepted is None or not isinstance(value, accepted) or (kind is int and (isinstance(value, bool)
                                                                                     or not 0 <= value < WINDOW_FRAMES)) \
                or (kind is str and value not in _TUNING_CHOICES[key]):
            raise MakeItTalkError(
                f"weight-set animation setting {key}={value!r} is not valid; known: "
                + ", ".join(f"{k} ({t.__name__})" for k, t in TUNING_KEYS.items())
            )
    if "procedural_style" in tuning:
        from makeittalk.animation.head_motion import HeadMotionStyle

        HeadMotionStyle.from_settings(tuning["procedural_style"])
    from makeittalk.animation.spectrum_gains import HEAD_SIZE, LIP_GAIN, from_tuning

    for which in (HEAD_SIZE, LIP_GAIN):
        from_tuning(tuning, which)  # raises on a malformed model
    return dict(tuning)


def weight_set_tuning(weights: Any) -> dict[str, Any]:
    """The "animation" settings of a weight set (name or folder); {} when it has none."""
    try:
        from makeittalk.weights.store import resolve_network_dir

        _, weight_set = resolve_network_dir("content_branch", weights)
    except (ImportError, MakeItTalkError):
        return {}
    if weight_set is None:
        return {}
    return dict(weight_set.info.get("animation") or {})
