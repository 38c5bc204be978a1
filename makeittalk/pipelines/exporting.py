"""Speech (+ portrait) -> animators' files: the pipeline behind `makeittalk export`,
`TalkingHead.export` and `render --export`.

Landmarks are predicted at the rate each format is best made from (exports.NATIVE_FPS: Rhubarb's
centisecond grid, 60 fps for ARKit) unless the caller gives one. The rest face the measures are
taken against is the face the networks animate (after the weight set's pixel tweaks), so that
silence reads as rest. Without a portrait the standard face is animated.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from makeittalk.exports import ExportSpec, check_export_output, check_format, standard_portrait_points, write_export

STANDARD_PORTRAIT_SIZE = 256


def rest_points(face: Any) -> np.ndarray:
    """The (68, 3) pixel points of a StaticFace: what a silent frame of its animation shows."""
    return face.denormalize(face.q)


def sound_file_name(audio: Any) -> str:
    """What Rhubarb's json/xml call the sound file: the absolute path, as Rhubarb writes it."""
    source = audio if isinstance(audio, (str, os.PathLike)) else getattr(audio, "source", "")
    # A decoded file's Waveform names its file: that path too, made absolute.
    if source and Path(source).is_file():
        return str(Path(source).resolve())
    return str(source or "")


def write_exports(specs: Iterable[ExportSpec], sequence: Any, face: Any, waveform: Any, *, sound_file: str,
                  overwrite: bool, options: dict | None = None) -> list[Path]:
    """Write each export of a rendered `sequence` (the video's frames, at its fps)."""
    rest = rest_points(face)
    written = []
    for spec in specs:
        written.append(write_export(spec.format, sequence, spec.path, rest=rest, waveform=waveform,
                                    sound_file=sound_file, overwrite=overwrite, **(options or {})))
    return written


def export_speech(head: Any, audio: Any, fmt: str, output: str | os.PathLike, *, portrait: Any = None,
                  fps: float | None = None, seed: int = 0, still: bool = False, pose_scale: float = 1.0,
                  lip_scale: float = 1.0, blink: bool = True, blink_rate: float = 30.0, face_landmarks: Any = None,
                  detector: str = "auto", overwrite: bool = False, extended_shapes: str | None = None,
                  dat_frame_rate: float = 24.0, dat_preston_blair: bool = False, progress: Any = None) -> Path:
    """Predict the motion of `audio` (on `portrait`, or the standard face) and write it as `fmt`."""
    from makeittalk.animation.engine import AnimationConfig
    from makeittalk.exports import NATIVE_FPS
    from makeittalk.pipelines.progress import ProgressTracker
    from makeittalk.pipelines.talking_head import _load_waveform

    check_format(fmt)
    target = Path(output)
    check_export_output(fmt, target, overwrite=overwrite)
    rate = float(fps) if fps is not None else NATIVE_FPS.get(fmt, 25.0)
    AnimationConfig(fps=rate, seed=seed, still=still, pose_scale=pose_scale, lip_scale=lip_scale, blink=blink,
                    blink_rate=blink_rate)  # bad options fail before the slow work
    tracker = progress if isinstance(progress, ProgressTracker) else ProgressTracker(progress)
    waveform = _load_waveform(audio)
    tracker.start("face")
    if portrait is None and face_landmarks is None:
        face = head.animator.static_face(standard_portrait_points(STANDARD_PORTRAIT_SIZE))
        size = (STANDARD_PORTRAIT_SIZE, STANDARD_PORTRAIT_SIZE)
        tracker.finish("the standard face (no portrait given)")
    else:
        if portrait is None:
            raise ValueError("face_landmarks needs the portrait they belong to")
        prepared = head.prepare_portrait(portrait, face_landmarks=face_landmarks, detector=detector)
        face, size = prepared.face, prepared.size
        tracker.finish(f"{prepared.landmark_source}, {prepared.style}")
    tracker.start("audio features", f"{waveform.seconds:.1f} s of audio")
    features = head.animator.features(waveform, progress=tracker.fraction)
    tracker.finish()
    tracker.start("landmarks")
    sequence = head.animator.animate(features, face, fps=rate, seed=seed, still=still, pose_scale=pose_scale,
                                     lip_scale=lip_scale, blink=blink, blink_rate=blink_rate, image_size=size,
                                     progress=tracker.fraction)
    tracker.finish(f"{sequence.num_frames} frames at {sequence.fps:g} fps")
    tracker.start("writing", str(target))
    written = write_export(fmt, sequence, target, rest=rest_points(face), waveform=waveform,
                           sound_file=sound_file_name(audio), overwrite=overwrite, extended_shapes=extended_shapes,
                           dat_frame_rate=dat_frame_rate, dat_preston_blair=dat_preston_blair)
    tracker.finish()
    tracker.done(f"wrote {written} ({fmt}, {sequence.num_frames} frames at {sequence.fps:g} fps, "
                 f"{sequence.audio_seconds:.2f} s of audio)")
    return written
