"""Audio → landmark animation and landmark export.

    from makeittalk.animation import LandmarkAnimator
    animator = LandmarkAnimator.from_pretrained("original")
    sequence = animator.animate("speech.wav", face, fps=25)   # face: StaticFace or 68x3 pixels
    sequence.save("speech.json")

`engine` holds the chain, `postprocess` its numbered post-processing steps, `blinks` the
synthetic eyelid motion, `resample` the 62.5 fps → video-rate step and `export` the files.
The engine is imported lazily so that `LandmarkSequence` and the file functions do not pull
in torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from makeittalk.animation.export import LandmarkSequence, load_landmarks, save_landmarks

if TYPE_CHECKING:
    from makeittalk.animation.engine import AnimationConfig, AnimationResult, LandmarkAnimator

__all__ = [
    "AnimationConfig",
    "AnimationResult",
    "LandmarkAnimator",
    "LandmarkSequence",
    "load_landmarks",
    "save_landmarks",
]

_LAZY = {"AnimationConfig", "AnimationResult", "LandmarkAnimator"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from makeittalk.animation import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'makeittalk.animation' has no attribute {name!r}")
