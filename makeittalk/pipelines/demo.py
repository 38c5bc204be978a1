"""The built-in demo: a generated portrait and a bundled speech clip through the whole chain.

Each stage runs as far as the installed weights allow. A stage whose weights are missing is
reported by name with the way to get them, and the stages after it are reported as skipped,
so a fresh install shows exactly what works instead of failing on the first gap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np

from makeittalk.errors import MakeItTalkError, MissingStageError

# Crop of scikit-image's astronaut() (public-domain NASA photo) with head, hair and shoulders,
# so the warp renderer's background handling is visible; even sides for H.264.
DEMO_PORTRAIT_ROWS = slice(0, 400)
DEMO_PORTRAIT_COLS = slice(80, 480)


def demo_portrait() -> np.ndarray:
    """(400, 400, 3) uint8 RGB portrait generated from scikit-image's bundled astronaut photo."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[DEMO_PORTRAIT_ROWS, DEMO_PORTRAIT_COLS])


def demo_speech_path() -> Path:
    """The bundled 10-second speech clip (16 kHz mono wav, synthesised with flite's kal16 voice)."""
    return Path(str(resources.files("makeittalk.data").joinpath("demo_speech.wav")))


@dataclass
class StageReport:
    name: str
    status: str  # "ok", "missing", "skipped"
    seconds: float = 0.0
    detail: str = ""


@dataclass
class DemoResult:
    stages: list[StageReport] = field(default_factory=list)
    video: Path | None = None

    @property
    def complete(self) -> bool:
        return self.video is not None and all(stage.status == "ok" for stage in self.stages)

    def missing(self) -> list[StageReport]:
        return [stage for stage in self.stages if stage.status == "missing"]


def run_demo(
    output: Path,
    *,
    weights: str = "default",
    fps: float = 25.0,
    seed: int = 0,
    still: bool = False,
    pose_scale: float = 1.0,
    lip_scale: float = 1.0,
    overwrite: bool = False,
    device: str | None = None,
    on_stage: Callable[[StageReport], None] = lambda stage: None,
) -> DemoResult:
    """Render the demo video to `output`; see the module docstring for missing stages."""
    from makeittalk.pipelines.preflight import check_weights

    output = Path(output)
    if output.exists() and not overwrite:
        raise MakeItTalkError(f"{output} already exists; choose another name or pass --overwrite")
    try:
        check_weights(weights)  # a set that is not installed fails now, not after the audio work
    except MissingStageError:
        pass  # a broken install: the stages below report exactly what is missing
    from makeittalk.animation.engine import AnimationConfig

    AnimationConfig(fps=fps, seed=seed, still=still, pose_scale=pose_scale, lip_scale=lip_scale)  # bad values fail now
    result = DemoResult()

    def record(stage: StageReport) -> StageReport:
        result.stages.append(stage)
        on_stage(stage)
        return stage

    # Stage 1: audio front end (no weights beyond Resemblyzer's, which ship with it).
    start = time.perf_counter()
    from makeittalk.audio import SpeakerEncoder, extract_features, load_audio

    waveform = load_audio(demo_speech_path())
    speaker_encoder = SpeakerEncoder(device=device)
    features = extract_features(waveform, speaker_encoder)
    record(StageReport("audio front end", "ok", time.perf_counter() - start,
                       f"{waveform.seconds:.1f} s of speech -> {features.mel.shape[0]} mel frames, F0, speaker embedding"))

    # Stage 2: face landmarks on the portrait.
    start = time.perf_counter()
    from makeittalk.face import detect_landmarks

    portrait = demo_portrait()
    detection = detect_landmarks(portrait)
    record(StageReport("face landmarks", "ok", time.perf_counter() - start,
                       f"{detection.detector} found the face in the {portrait.shape[1]}x{portrait.shape[0]} portrait"))

    # Stage 3: audio -> landmark animation (needs AutoVC and both branches).
    start = time.perf_counter()
    from makeittalk.animation import LandmarkAnimator

    try:
        animator = LandmarkAnimator.from_pretrained(weights, device=device, speaker_encoder=speaker_encoder)
    except MissingStageError as exc:
        record(StageReport("landmark animation", "missing", time.perf_counter() - start, str(exc)))
        record(StageReport("render video", "skipped", 0.0, "needs the landmark animation"))
        return result
    face = animator.static_face(detection.landmarks)
    sequence = animator.animate(features, face, fps=fps, seed=seed, still=still, pose_scale=pose_scale,
                                lip_scale=lip_scale, image_size=(portrait.shape[1], portrait.shape[0]))
    record(StageReport("landmark animation", "ok", time.perf_counter() - start,
                       f"{sequence.landmarks.shape[0]} frames at {fps:g} fps with weights '{sequence.weights}'"))

    # Stage 4: warp rendering streamed into the mp4, through the same TalkingHead.render as
    # `makeittalk render` (atomic output, even frame sides, audio in sync).
    start = time.perf_counter()
    from makeittalk.pipelines.talking_head import TalkingHead

    head = TalkingHead(animator, weights=weights, device=animator.device, renderer="warp")
    rendered = head.render(portrait, waveform, output, landmarks=sequence, face_landmarks=detection.landmarks,
                           overwrite=overwrite)
    record(StageReport("render video", "ok", time.perf_counter() - start,
                       f"{rendered.num_frames} frames, warp renderer -> {output}"))
    result.video = output
    return result
