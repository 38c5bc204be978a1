"""The Python API: one portrait and speech in, a lip-synced talking-head video out.

    from makeittalk import TalkingHead

    head = TalkingHead.from_pretrained("original")          # networks load once
    result = head.render("face.jpg", "speech.wav", "talking.mp4")
    print(result.renderer, result.num_frames, result.seconds)

`render` runs: face (detection or given landmarks; cached per portrait) → audio features →
landmark animation → frames (the warp renderer or the image translator) streamed into the
encoder → atomic publish of the video. `landmarks` stops after the animation. The CLI
(`makeittalk render`, `--batch`) and the web app are thin layers over this module.

Portraits: an image path, a puppet folder (`makeittalk puppet create`), a `Puppet`, a PIL
image or an (H, W, 3|4) uint8 array. Audio: a path (anything ffmpeg reads), a `Waveform` or
`(samples, sample_rate)`.

Synchronisation: frame i shows the landmarks for time i/fps, the encoder gets exactly
`sequence.num_frames` frames at `fps` (⌈seconds·fps⌉ by default) and the original audio
samples, so the video lasts as long as the audio, within one frame.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from makeittalk.errors import (
    MakeItTalkError,
    MissingStageError,
    OutputFileError,
)
from makeittalk.pipelines.frame_sources import _frame_source, _open_writer, _require_vp9
from makeittalk.pipelines.front_end import face_and_features
from makeittalk.pipelines.portrait import PreparedPortrait, _portrait_key, _prepare, _real
from makeittalk.pipelines.preflight import check_inputs, looks_like_image_path
from makeittalk.pipelines.progress import ProgressCallback, ProgressEvent, ProgressTracker

__all__ = [
    "RENDERERS",
    "VIDEO_FORMATS",
    "PreparedPortrait",
    "ProgressEvent",
    "RenderResult",
    "TalkingHead",
    "output_size",
    "parse_size",
]

RENDERERS = ("auto", "translator", "warp")
VIDEO_FORMATS = ("mp4", "webm")
_SUFFIXES = {"mp4": (".mp4", ".m4v"), "webm": (".webm",)}
# x264 preset of the output: "veryfast" encodes 512x512 at ~3x the speed of "medium" on a small
# CPU (the encoder shares the cores with the renderer); at CRF 18 the frames look the same.
DEFAULT_PRESET = "veryfast"


# --------------------------------------------------------------------------------------------
# results


@dataclass
class RenderResult:
    """What `TalkingHead.render` made.

    video: the output path; landmarks: the LandmarkSequence rendered; renderer: "warp" or
    "translator"; weights: the weight set's name; seconds: wall time of the call;
    audio_seconds: length of the audio; num_frames: frames in the video; size: (width,
    height) of the video; reason: why `renderer` was used; timings: seconds per stage.
    """

    video: Path
    landmarks: Any
    renderer: str
    weights: str
    seconds: float
    audio_seconds: float
    num_frames: int
    fps: float = 25.0
    size: tuple[int, int] = (0, 0)
    reason: str = ""
    landmarks_file: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def realtime_factor(self) -> float:
        """Wall time divided by audio length (lower is faster; 1 = real time)."""
        return self.seconds / self.audio_seconds if self.audio_seconds > 0 else float("inf")


# --------------------------------------------------------------------------------------------
# sizes


def parse_size(size: Any) -> tuple[int, int] | int | None:
    """None; an int N (the longer side becomes N); "N"; "WxH"; or a (w, h) pair."""
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        value = int(size)
        if value < 2:
            raise MakeItTalkError(f"size must be at least 2 pixels, got {value}")
        return value
    if isinstance(size, str):
        text = size.strip().lower().replace("×", "x")
        try:
            if "x" in text:
                w, h = text.split("x", 1)
                return parse_size((int(w), int(h)))
            return parse_size(int(text))
        except ValueError:
            raise MakeItTalkError(f"cannot read size {size!r}: use WIDTHxHEIGHT (e.g. 640x480) or one number "
                                  "for the longer side") from None
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise MakeItTalkError(f"cannot read size {size!r}: use (width, height), 'WxH' or one number") from None
    if w < 2 or h < 2:
        raise MakeItTalkError(f"size must be at least 2x2 pixels, got {w}x{h}")
    return (w, h)


def output_size(source: tuple[int, int], size: Any = None) -> tuple[int, int]:
    """The video's (width, height): `size` (see parse_size) or the portrait's, made even (H.264
    yuv420p needs even sides): odd sides lose one pixel (no resampling) or round to even."""
    parsed = parse_size(size)
    width, height = source
    if parsed is None:
        out = (width - width % 2, height - height % 2)
    elif isinstance(parsed, int):
        k = parsed / max(width, height)
        out = (2 * max(1, round(width * k / 2)), 2 * max(1, round(height * k / 2)))
    else:
        out = (2 * max(1, round(parsed[0] / 2)), 2 * max(1, round(parsed[1] / 2)))
    if min(out) < 2:
        raise MakeItTalkError(f"the portrait is {width}x{height}; the video needs at least 2x2 pixels")
    return out


# --------------------------------------------------------------------------------------------
# output checks


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return _real(a) == _real(b)


def check_writable_folder(folder: Path, what: str) -> None:
    """Fail with the fix when `folder` cannot take a new file (tries creating one)."""
    try:
        handle, probe = tempfile.mkstemp(prefix=".makeittalk-probe.", dir=folder)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputFileError(
            f"cannot write {what} into {folder} ({reason}); choose an output folder you can write to"
        ) from None
    os.close(handle)
    os.unlink(probe)


def check_render_outputs(
    output: Path,
    *,
    video_format: str,
    overwrite: bool,
    inputs: dict[str, Path],
    save_landmarks: Path | None = None,
) -> None:
    """Everything about the outputs that can be checked before the slow work starts."""
    from makeittalk.fileio import check_output_path

    check_output_path(output, overwrite=overwrite, suffixes=_SUFFIXES[video_format])
    outputs = {"the video": output}
    if save_landmarks is not None:
        check_output_path(save_landmarks, overwrite=overwrite, suffixes=(".json", ".npy"))
        if _same_file(save_landmarks, output):
            raise OutputFileError(f"{output}: --save-landmarks and the video are the same file; choose two names")
        outputs["the landmarks"] = save_landmarks
    for what, out in outputs.items():
        for name, path in inputs.items():
            if path is not None and (_same_file(out, path) or _inside(path, out)):
                raise OutputFileError(
                    f"{out} is the {name} (an input); inputs are never overwritten: choose another output name"
                )
    for what, out in outputs.items():
        check_writable_folder(out.parent, what)


def _inside(folder: Path, path: Path) -> bool:
    """Whether `path` lies inside the input folder `folder` (a puppet folder)."""
    try:
        return folder.is_dir() and Path(_real(path)).is_relative_to(_real(folder))
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# the API


class TalkingHead:
    """Loads the networks once and renders talking-head videos (see the module docstring).

    Build with `from_pretrained(weights, device, renderer)`. The instance caches prepared
    portraits (detection, crop, puppet mesh), so one portrait with many audios pays for its
    preparation once. Safe to share between threads (a lock serialises renders).
    """

    def __init__(
        self,
        animator: Any,
        *,
        translator: Any = None,
        weights: str | os.PathLike = "default",
        device: Any = None,
        renderer: str = "auto",
        cache_size: int = 16,
    ) -> None:
        if renderer not in RENDERERS:
            raise MakeItTalkError(f"unknown renderer {renderer!r}; choose {', '.join(RENDERERS)}")
        self.animator = animator
        self.weights = weights
        self.device = device if device is not None else getattr(animator, "device", None)
        self.renderer = renderer
        self._translator = translator
        self._translator_problem: str | None = None
        self._translator_network = "translator"
        self._cache: OrderedDict[Any, PreparedPortrait] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.RLock()
        self._render_lock = threading.RLock()

    @classmethod
    def from_pretrained(
        cls,
        weights: str | os.PathLike = "default",
        device: Any = None,
        renderer: str = "auto",
    ) -> TalkingHead:
        """Load the landmark networks and the speaker encoder from the weight set `weights` (a
        name or folder) onto `device` (None: picked at run time).

        The translator is loaded when the first translator frames are rendered (after the
        landmark networks' memory peak), once; `renderer="translator"` checks now that the set
        has it. Raises MissingStageError naming what is missing and how to get it.
        """
        if renderer not in RENDERERS:
            raise MakeItTalkError(f"unknown renderer {renderer!r}; choose {', '.join(RENDERERS)}")
        from makeittalk.animation.engine import LandmarkAnimator

        animator = LandmarkAnimator.from_pretrained(weights, device=device)
        animator.speaker_encoder  # noqa: B018 - load Resemblyzer now: networks load once, up front
        head = cls(animator, weights=weights, device=animator.device, renderer=renderer)
        if renderer == "translator":
            ok, why = head.translator_available()  # fail now, not after the audio work
            if not ok:
                raise MissingStageError(why)
        return head

    # ---- networks ------------------------------------------------------------------------

    @property
    def weights_name(self) -> str:
        return str(getattr(self.animator, "weights_name", self.weights))

    @property
    def translator(self):
        """The translator (loaded on first use): the set's full-face `translator` (the original's)
        when it has one, else its `mouth_translator`; MissingStageError if it has neither."""
        with self._lock:
            if self._translator is None:
                from makeittalk.weights import load_network

                ok, why = self.translator_available()
                if not ok:
                    raise MissingStageError(why)
                self._translator = load_network(self._translator_network, self.weights, device=self.device)
            return self._translator

    @property
    def translator_kind(self) -> str:
        """"translator" (full face, 256x256) or "mouth_translator" (lower face over the warp)."""
        if self._translator is not None:
            return getattr(self._translator, "network_name", "translator")
        ok, why = self.translator_available()
        if not ok:
            raise MissingStageError(why)
        return self._translator_network

    def translator_available(self) -> tuple[bool, str]:
        """(True, "") when a translator is loaded or its files are in the weight set (checked,
        not loaded: it is loaded when frames are rendered), else (False, why not).

        A missing translator is a reason to fall back; a damaged one (sha256 mismatch) raises.
        """
        if self._translator is not None:
            return True, ""
        if self._translator_problem is not None:
            return False, self._translator_problem
        from makeittalk.weights.store import resolve_network_dir

        problems = []
        for network in ("translator", "mouth_translator"):
            try:
                resolve_network_dir(network, self.weights)
            except MissingStageError as exc:
                problems.append(str(exc))
                continue
            self._translator_network = network
            return True, ""
        self._translator_problem = problems[0]
        return False, self._translator_problem

    def choose_renderer(self, prepared: PreparedPortrait, renderer: str | None = None) -> tuple[str, str]:
        """("warp" | "translator", the reason) for this portrait and request."""
        choice = renderer or self.renderer
        if choice not in RENDERERS:
            raise MakeItTalkError(f"unknown renderer {choice!r}; choose {', '.join(RENDERERS)}")
        if choice == "translator":
            ok, why = self.translator_available()
            if not ok:
                raise MissingStageError(why)
            return "translator", "asked for"
        if choice == "warp":
            return "warp", "asked for"
        if prepared.style != "photo":
            return "warp", f"auto: the portrait is a {prepared.style}"
        ok, why = self.translator_available()
        if ok:
            kind = "mouth translator" if self.translator_kind == "mouth_translator" else "full-face translator"
            return "translator", f"auto: a photo, and the weight set '{self.weights_name}' has a {kind}"
        return "warp", f"auto: the weight set '{self.weights_name}' has no translator"

    # ---- portraits -----------------------------------------------------------------------

    def prepare_portrait(
        self,
        portrait: Any,
        *,
        face_landmarks: Any = None,
        detector: str = "auto",
        style: str = "auto",
    ) -> PreparedPortrait:
        """Load the portrait, find its face (or read `face_landmarks`: a file or (68, 2|3)
        pixels) and build the static face; cached, so repeated calls are free.

        `style` "auto" guesses photo or cartoon from the pixels (a puppet keeps its own).
        """
        if isinstance(portrait, PreparedPortrait):
            return portrait
        if style not in ("auto", "photo", "cartoon"):
            raise MakeItTalkError(f"unknown style {style!r}; choose auto, photo or cartoon")
        key = _portrait_key(portrait, face_landmarks, detector, style)
        if key is not None:
            with self._lock:
                cached = self._cache.get(key)
                if cached is not None:
                    self._cache.move_to_end(key)
                    return cached
        prepared = _prepare(portrait, face_landmarks, detector, style, device=self.device,
                            face_tweaks=getattr(self.animator, "face_tweaks", True))
        if key is not None:
            with self._lock:
                self._cache[key] = prepared
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return prepared

    # ---- landmarks -----------------------------------------------------------------------

    def landmarks(
        self,
        portrait: Any,
        audio: Any,
        *,
        fps: float = 25.0,
        seed: int = 0,
        still: bool = False,
        pose_scale: float = 1.0,
        lip_scale: float = 1.0,
        blink: bool = True,
        blink_rate: float = 30.0,
        face_landmarks: Any = None,
        detector: str = "auto",
        progress: ProgressCallback | None = None,
    ):
        """The LandmarkSequence (num_frames, 68, 3) in the portrait's pixels for `audio`."""
        tracker = progress if isinstance(progress, ProgressTracker) else ProgressTracker(progress)
        waveform = _load_waveform(audio)
        prepared, features = face_and_features(self, portrait, waveform, tracker, with_features=True,
                                               face_landmarks=face_landmarks, detector=detector)
        return self._predict_landmarks(prepared, features, tracker, fps=fps, seed=seed, still=still,
                                       pose_scale=pose_scale, lip_scale=lip_scale, blink=blink, blink_rate=blink_rate)

    def export(self, audio: Any, format: str, output: str | os.PathLike, *, portrait: Any = None,
               **options: Any) -> Path:
        """Write the motion `audio` gives `portrait` (or the standard face) as an animators' file.

        format: one of makeittalk.exports.FORMATS (rhubarb-tsv, rhubarb-json, rhubarb-xml,
        moho-dat, arkit-csv, landmarks-json, landmarks-npy). Options: fps (default: the
        format's own rate), the motion options of `landmarks`, face_landmarks, detector,
        overwrite, extended_shapes ("GHX" default), dat_frame_rate (24), dat_preston_blair.
        """
        from makeittalk.pipelines.exporting import export_speech

        return export_speech(self, audio, format, output, portrait=portrait, **options)

    def stream(self, portrait: Any, audio_chunks: Any, **options: Any):
        """Yield LiveFrames (index, time, image, landmarks) while `audio_chunks` arrive.

        audio_chunks: an iterable of 16 kHz int16 arrays, float arrays in [-1, 1], or
        (array, sample_rate) tuples at any rate, of any length. Frames come at `fps` (25),
        each as soon as its audio (176 ms past its time) and the smoothing allow. Options: fps,
        size, seed, still, pose_scale, lip_scale, blink, blink_rate, face_landmarks, detector.
        See makeittalk.pipelines.live.
        """
        from makeittalk.pipelines.live import stream_frames

        return stream_frames(self, portrait, audio_chunks, **options)

    def _predict_landmarks(self, prepared: PreparedPortrait, features: Any, tracker: ProgressTracker, **options: Any):
        tracker.start("landmarks")
        sequence = self.animator.animate(features, prepared.face, image_size=prepared.size, progress=tracker.fraction,
                                         **options)
        tracker.finish(f"{sequence.num_frames} frames at {sequence.fps:g} fps")
        return sequence

    # ---- rendering -----------------------------------------------------------------------

    def render(
        self,
        portrait: Any,
        audio: Any,
        output: str | os.PathLike,
        *,
        renderer: str | None = None,
        fps: float = 25.0,
        seed: int = 0,
        still: bool = False,
        pose_scale: float = 1.0,
        lip_scale: float = 1.0,
        blink: bool = True,
        blink_rate: float = 30.0,
        background: Any = None,
        size: Any = None,
        save_landmarks: str | os.PathLike | None = None,
        overwrite: bool = False,
        progress: ProgressCallback | None = None,
        face_landmarks: Any = None,
        detector: str = "auto",
        video_format: str | None = None,
        landmarks: Any = None,
        batch_size: int | None = None,
        precision: str = "auto",
        preset: str = DEFAULT_PRESET,
        exports: Sequence[Any] = (),
        export_options: dict | None = None,
    ) -> RenderResult:
        """Render `portrait` speaking `audio` into `output` (see the module docstring).

        renderer: "auto" (translator for photos when the weights have one, else warp),
        "translator" or "warp"; None uses the instance's default. fps, seed, still,
        pose_scale, lip_scale, blink, blink_rate: the motion (see LandmarkAnimator.animate).
        background: a colour or an image behind transparent portraits (cartoon puppets).
        size: None (the portrait's size, made even), one number (longer side) or (w, h).
        save_landmarks: also write the landmarks (.json or .npy). video_format: "mp4"
        (H.264 + AAC) or "webm" (VP9 with alpha + Opus); None picks by the suffix.
        landmarks: a LandmarkSequence (in the portrait's pixels) to render instead of
        predicting one; its frames and fps are used. batch_size: translator frames per network
        call (None: 8 on CPUs, 16 on GPUs). precision: the translator's arithmetic, "auto"
        (bfloat16 where the CPU/GPU computes it natively, else float32), "float32", "bfloat16"
        or "float16". preset: the x264 preset. exports: "FORMAT:OUT" strings (or ExportSpecs)
        written from the same frames (see `export`); export_options: extended_shapes,
        dat_frame_rate, dat_preston_blair.
        The output appears only when complete; an existing file is replaced only with
        `overwrite`.
        """
        started = time.perf_counter()
        output = Path(output)
        fmt = _video_format(output, video_format)
        save_path = Path(save_landmarks) if save_landmarks is not None else None
        check_inputs(portrait=portrait, audio=audio, face_landmarks=face_landmarks, background=background)
        inputs = _input_paths(portrait=portrait, audio=audio, face_landmarks=face_landmarks, background=background)
        check_render_outputs(output, video_format=fmt, overwrite=overwrite, inputs=inputs, save_landmarks=save_path)
        export_specs = _export_specs(exports, overwrite=overwrite, taken=[output, save_path], inputs=inputs)
        if fmt == "webm":
            _require_vp9()
        parse_size(size)
        background = _check_background(background)
        from makeittalk.pipelines.translator_render import PRECISIONS

        if precision not in PRECISIONS:
            raise MakeItTalkError(f"unknown precision {precision!r}; choose {', '.join(PRECISIONS)}")
        if landmarks is None:  # bad motion options fail now, not after the face and audio work
            from makeittalk.animation.engine import AnimationConfig

            AnimationConfig(fps=fps, seed=seed, still=still, pose_scale=pose_scale, lip_scale=lip_scale,
                            blink=blink, blink_rate=blink_rate)

        tracker = ProgressTracker(progress)
        with self._render_lock:  # GL contexts and the networks' threads: one render at a time
            waveform = _load_waveform(audio)
            choice: list[tuple[str, str]] = []
            # Called once the face is known, before the audio work is waited for: a translator
            # the set lacks fails now, not minutes later.
            prepared, features = face_and_features(
                self, portrait, waveform, tracker, with_features=landmarks is None, face_landmarks=face_landmarks,
                detector=detector, after_face=lambda found: choice.append(self.choose_renderer(found, renderer)))
            chosen, reason = choice[0]
            if landmarks is None:
                sequence = self._predict_landmarks(prepared, features, tracker, fps=fps, seed=seed, still=still,
                                                   pose_scale=pose_scale, lip_scale=lip_scale, blink=blink,
                                                   blink_rate=blink_rate)
            else:
                sequence = _as_sequence(landmarks, prepared, waveform.seconds)
            out_size = output_size(prepared.size, size)
            if fmt == "mp4" and background is None and prepared.has_alpha:
                background = "white"  # mp4 has no alpha: transparent puppets stand on white

            source = _frame_source(self, chosen, prepared, sequence, out_size, background, fmt, batch_size,
                                   precision)
            tracker.start("rendering", f"{chosen} renderer ({reason}); {sequence.num_frames} frames, "
                                       f"{out_size[0]}x{out_size[1]} at {sequence.fps:g} fps",
                          total=sequence.num_frames)
            writer = _open_writer(fmt, output, waveform, sequence.fps, overwrite, preset)
            try:
                total = sequence.num_frames
                with source:
                    for done, frame in enumerate(source.frames(), 1):
                        writer.write(frame)
                        tracker.frames(done, total)
                if writer.frames_written != total:  # pragma: no cover - a frame source bug
                    raise MakeItTalkError(f"rendered {writer.frames_written} frames, expected {total}")
                tracker.start("encoding")
                writer.close()
            except BaseException:
                writer.abort()
                raise
            tracker.finish()
            landmarks_file = None
            if save_path is not None:
                landmarks_file = sequence.save(save_path, overwrite=overwrite)
            if export_specs:
                from makeittalk.pipelines.exporting import sound_file_name, write_exports

                write_exports(export_specs, sequence, prepared.face, waveform, sound_file=sound_file_name(audio),
                              overwrite=overwrite, options=export_options)
        seconds = time.perf_counter() - started
        result = RenderResult(
            video=output, landmarks=sequence, renderer=chosen, weights=sequence.weights or self.weights_name,
            seconds=seconds, audio_seconds=waveform.seconds, num_frames=sequence.num_frames, fps=sequence.fps,
            size=out_size, reason=reason, landmarks_file=landmarks_file, timings=dict(tracker.timings),
        )
        tracker.done(f"wrote {output} ({result.num_frames} frames, {out_size[0]}x{out_size[1]}, "
                     f"{result.audio_seconds:.2f} s of audio, {chosen} renderer) in {seconds:.1f} s")
        return result


# --------------------------------------------------------------------------------------------
# inputs


def _load_waveform(audio: Any):
    from makeittalk.audio import load_audio
    from makeittalk.errors import AudioError

    if hasattr(audio, "samples") and hasattr(audio, "sample_rate") and hasattr(audio, "as_float64"):
        waveform = audio
    else:
        waveform = load_audio(audio)
    if waveform.num_samples == 0:
        raise AudioError(f"{getattr(waveform, 'source', 'the audio')} has no samples; use a recording with sound in it")
    return waveform


def _export_specs(exports: Sequence[Any], *, overwrite: bool, taken: list, inputs: dict[str, Path]) -> list:
    """The render's exports as ExportSpecs, each output checked (and distinct) before the work."""
    from makeittalk.exports import ExportSpec, check_export_output, parse_export_spec

    specs = [item if isinstance(item, ExportSpec) else parse_export_spec(str(item)) for item in exports]
    seen = [p for p in taken if p is not None]
    for spec in specs:
        check_export_output(spec.format, spec.path, overwrite=overwrite)
        if any(_same_file(spec.path, other) for other in seen):
            raise OutputFileError(f"{spec.path}: two outputs of this render have the same name; choose distinct names")
        for name, path in inputs.items():
            if path is not None and _same_file(spec.path, path):
                raise OutputFileError(f"{spec.path} is the {name} (an input); inputs are never overwritten")
        seen.append(spec.path)
    return specs


def _input_paths(**values: Any) -> dict[str, Path]:
    names = {"portrait": "portrait", "audio": "audio", "face_landmarks": "face-landmarks file",
             "background": "background image"}
    out = {}
    for key, value in values.items():
        if isinstance(value, (str, os.PathLike)):
            if key == "background" and isinstance(value, str) and not looks_like_image_path(value):
                continue
            out[names[key]] = Path(value)
    return out


def _check_background(background: Any) -> Any:
    """None, a colour string/tuple (validated) or an RGB(A) array (images are loaded here)."""
    if background is None:
        return None
    from renderer.warp import parse_color

    from makeittalk.face import load_image

    if isinstance(background, Path) or (isinstance(background, str) and looks_like_image_path(background)):
        return load_image(background, "RGBA")
    if isinstance(background, (str, tuple, list)):
        try:
            parse_color(background if isinstance(background, str) else tuple(background))
        except ValueError as exc:
            raise MakeItTalkError(
                f"background {background!r}: {exc}; pass a colour (#rrggbb, white, black, ...) or an image file"
            ) from None
        return background if isinstance(background, str) else tuple(background)
    return load_image(background, "RGBA")


# Given landmarks may end a little before the audio (compat="original" ends ~0.3 s early, a
# .npy file knows its length only to a frame); more than this means they belong to other audio.
_SYNC_TOLERANCE_S = 0.5


def _as_sequence(landmarks: Any, prepared: PreparedPortrait, audio_seconds: float):
    from makeittalk.animation import LandmarkSequence

    if not isinstance(landmarks, LandmarkSequence):
        raise MakeItTalkError("landmarks= must be a LandmarkSequence (see TalkingHead.landmarks)")
    if landmarks.image_size is not None and tuple(landmarks.image_size) != prepared.size:
        w, h = landmarks.image_size
        raise MakeItTalkError(
            f"the landmarks are for a {w}x{h} image but the portrait is {prepared.size[0]}x{prepared.size[1]}; "
            "predict them for this portrait (TalkingHead.landmarks) or pass the portrait they belong to"
        )
    if abs(landmarks.audio_seconds - audio_seconds) > _SYNC_TOLERANCE_S:
        raise MakeItTalkError(
            f"the landmarks were made for {landmarks.audio_seconds:.2f} s of audio but the audio is "
            f"{audio_seconds:.2f} s long, so the video would drift out of sync; predict them for this audio "
            "(TalkingHead.landmarks) or pass the audio they belong to"
        )
    return landmarks


def _video_format(output: Path, video_format: str | None) -> str:
    if video_format is None:
        return "webm" if output.suffix.lower() == ".webm" else "mp4"
    if video_format not in VIDEO_FORMATS:
        raise MakeItTalkError(f"unknown video format {video_format!r}; choose {' or '.join(VIDEO_FORMATS)}")
    return video_format
