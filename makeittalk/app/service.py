"""What the web app does, without the web: inputs checked, landmarks, puppets, rendering.

The gradio layer (`makeittalk.app.ui`) only maps widgets to these methods and their results
to widgets, so everything here is testable without a browser. Every problem a user can fix
is a `MakeItTalkError` whose message reads well in a web page (no command-line flags).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from makeittalk.app.config import AppConfig
from makeittalk.errors import AudioError, FaceNotFoundError, ImageError, MakeItTalkError, MissingStageError

logger = logging.getLogger("makeittalk.app")

LANDMARK_NETWORKS = ("autovc", "content_branch", "speaker_branch")
RENDERERS = ("auto", "translator", "warp")
IMPORT_HINT = (
    "Import the original MakeItTalk checkpoints with "
    "`makeittalk weights import-original DIR --name original` (DIR holds ckpt_autovc.pth, "
    "ckpt_content_branch.pth, ckpt_speaker_branch.pth and optionally ckpt_116_i2i_comb.pth), "
    "then reload this page."
)


class NoWeightsError(MissingStageError):
    """No weight set with the landmark networks is installed."""


# ----------------------------------------------------------------------------- small helpers


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def display_name(path: str | os.PathLike | None) -> str:
    """The user's file name without gradio's cache folders."""
    return Path(path).name if path else "the file"


def safe_stem(text: str, default: str = "portrait") -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(str(text)).stem).strip("_")[:40]
    return stem or default


def standard_points_in(width: int, height: int) -> np.ndarray:
    """The standard face's 68 points placed in the middle of a width x height image (pixels).

    A starting point for the editor when no face was detected: the user drags them into place.
    """
    from makeittalk.resources import standard_face

    face = np.asarray(standard_face(), dtype=np.float64)[:, :2]
    lo, hi = face.min(0), face.max(0)
    span = hi - lo
    side = 0.55 * min(width, height)
    scale = side / max(span[0], span[1])
    pts = (face - (lo + hi) / 2) * scale
    if pts[8, 1] < pts[27, 1]:  # the standard face may be stored y-up
        pts[:, 1] = -pts[:, 1]
    return pts + np.array([width / 2.0, height / 2.0])


# ----------------------------------------------------------------------------- results


@dataclass
class PortraitInfo:
    """What the app knows about a portrait right after upload."""

    path: Path
    width: int
    height: int
    landmarks: np.ndarray  # (68, 2) pixels: detected, known or the standard face as a start
    found: bool  # True when the points are a real detection (or known for a built-in example)
    message: str
    source: str = "detected"  # "detected", "known" (built-in example, saved puppet) or "none"
    image: np.ndarray | None = None  # (H, W, 4) uint8 RGBA as loaded


@dataclass
class RenderOutcome:
    video: Path
    landmarks_json: Path
    info: str
    result: Any  # the pipeline's RenderResult


@dataclass
class RenderRequest:
    portrait: str | None
    audio: str | None
    renderer: str = "auto"
    still: bool = False
    pose_scale: float = 1.0
    lip_scale: float = 1.0
    blink: bool = True
    fps: float = 25.0
    seed: int = 0
    background: str | None = None  # a colour or an image path; used where the portrait is transparent
    weights: str | None = None  # None: the app's choice
    points: np.ndarray | None = None  # (68, 2|3): use these landmarks (editor / file) instead of detecting
    puppet_name: str | None = None
    text: str | None = None  # spoken offline instead of `audio` (one of the two)
    voice: str | None = None  # [ENGINE:]NAME for `text`; None: espeak-ng English


# ----------------------------------------------------------------------------- the service


class AppService:
    """State shared by all users of one app process: folders, loaded networks, examples."""

    def __init__(self, config: AppConfig | None = None) -> None:
        self.config = config or AppConfig()
        self.config.validate()
        self._private_folder: Path | None = None
        if self.config.work_dir is None:
            self.work_dir = Path(tempfile.mkdtemp(prefix="makeittalk-app-"))
            self._private_folder = self.work_dir
            atexit.register(self.remove_private_folder)
        else:
            self.work_dir = Path(self.config.work_dir).resolve()
            self.work_dir.mkdir(parents=True, exist_ok=True)
        self.outputs_dir = self.work_dir / "outputs"
        self.examples_dir = self.work_dir / "examples"
        self.gradio_dir = self.work_dir / "gradio"
        for folder in (self.outputs_dir, self.examples_dir, self.gradio_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._known_points: dict[str, np.ndarray] = {}  # sha256 of an image file -> its (68, 2) points
        self._known_notes: dict[str, str] = {}
        self._examples: list[tuple[str, str, str]] | None = None
        self._cond = threading.Condition()
        self._free: dict[tuple, list[Any]] = {}
        self._created: dict[tuple, int] = {}

    def remove_private_folder(self) -> None:
        """Remove the temporary work folder this service made (never a --work-dir the user named)."""
        if self._private_folder is not None:
            shutil.rmtree(self._private_folder, ignore_errors=True)
            self._private_folder = None

    # ---- weights ------------------------------------------------------------------------

    def usable_weight_sets(self) -> list[str]:
        from makeittalk.weights import list_weight_sets

        try:
            sets = list_weight_sets()
        except MakeItTalkError:
            return []
        return [ws.name for ws in sets if all(n in ws.networks for n in LANDMARK_NETWORKS)]

    def resolve_weights(self, requested: str | None = None) -> str:
        """The weight set to use, or NoWeightsError with the way to get one."""
        choice = requested or self.config.weights
        if choice and choice != "auto":
            return choice
        from makeittalk.weights import default_weight_set_name

        try:
            default = default_weight_set_name()
        except MakeItTalkError:
            default = None
        if default:
            return "default"
        usable = self.usable_weight_sets()
        if not usable:
            raise NoWeightsError(
                "No weight set is installed, so no video can be made yet: this installation's default weights are "
                "missing (a broken install, or MAKEITTALK_PRETRAINED pointing elsewhere; reinstalling makeittalk "
                f"restores them). {IMPORT_HINT}"
            )
        return "original" if "original" in usable else usable[0]

    def weights_banner(self) -> tuple[str, bool]:
        """(text, ok) for the top of the page."""
        try:
            name = self.resolve_weights()
        except MakeItTalkError as exc:
            return str(exc), False
        if name == "default":
            return "Using the shipped default weights.", True
        note = ""
        if self.config.weights == "auto" and name == "original":
            note = " (the original MakeItTalk checkpoints, imported)"
        return f"Using the weight set '{name}'{note}.", True

    # ---- examples -----------------------------------------------------------------------

    def examples(self) -> list[tuple[str, str, str]]:
        """[(portrait path, audio path, label)], generated by the project itself on first use."""
        if self._examples is not None:
            return self._examples
        from PIL import Image

        from makeittalk.pipelines.demo import demo_portrait, demo_speech_path
        from renderer.synthetic import draw_cartoon_face

        folder = self.examples_dir
        speech = folder / "speech_demo.wav"
        shutil.copyfile(demo_speech_path(), speech)
        cartoon = draw_cartoon_face(512, transparent=True)
        cartoon_path = folder / "cartoon.png"
        Image.fromarray(cartoon.image, "RGBA").save(cartoon_path)
        self._remember(cartoon_path, cartoon.landmarks, "Built-in example: its 68 landmarks are known exactly.")
        astronaut_path = folder / "astronaut.png"
        Image.fromarray(demo_portrait(), "RGB").save(astronaut_path)
        self._examples = [
            (str(cartoon_path), str(speech), "drawn cartoon"),
            (str(astronaut_path), str(speech), "astronaut photo"),
        ]
        return self._examples

    def known_points(self, image: str | os.PathLike | None) -> np.ndarray | None:
        """The exact landmarks of a built-in example or saved puppet image, else None (detect)."""
        if not image:
            return None
        try:
            return self._known_points.get(file_sha256(image))
        except OSError:
            return None

    def _remember(self, image: Path, points: np.ndarray, note: str) -> None:
        digest = file_sha256(image)
        self._known_points[digest] = np.asarray(points, dtype=np.float64)[:, :2].copy()
        self._known_notes[digest] = note

    # ---- inputs -------------------------------------------------------------------------

    def check_file_size(self, path: str | os.PathLike, what: str) -> None:
        size = Path(path).stat().st_size
        if size > self.config.max_upload_bytes:
            raise MakeItTalkError(
                f"The {what} {display_name(path)} is {size / 1e6:.1f} MB; this app accepts files up to "
                f"{self.config.max_upload_mb:g} MB."
            )

    def load_portrait(self, path: str | os.PathLike | None) -> np.ndarray:
        """The portrait as RGBA uint8, or ImageError with a message for the page."""
        if not path:
            raise ImageError("Add a portrait first: upload an image or pick one of the examples.")
        self.check_file_size(path, "portrait")
        from makeittalk.face import load_image

        try:
            rgba = load_image(path, "RGBA")
        except MakeItTalkError as exc:
            raise ImageError(f"The portrait {display_name(path)} cannot be read as an image: "
                             f"{_strip_path(str(exc), path)}") from None
        h, w = rgba.shape[:2]
        limit = self.config.max_image_side
        if max(h, w) > limit:
            raise ImageError(f"The portrait {display_name(path)} is {w}x{h} pixels; this app accepts up to "
                             f"{limit} pixels a side. Scale it down and upload it again.")
        return rgba

    def inspect_portrait(self, path: str | os.PathLike) -> PortraitInfo:
        """Detect (or look up) the landmarks of an uploaded portrait.

        A failed detection is not an error here: the editor starts from the standard face and
        the message says how to continue.
        """
        rgba = self.load_portrait(path)
        h, w = rgba.shape[:2]
        digest = file_sha256(path)
        known = self._known_points.get(digest)
        if known is not None:
            return PortraitInfo(Path(path), w, h, known.copy(), True, self._known_notes[digest], "known", rgba)
        from makeittalk.face import detect_landmarks, load_image

        try:
            detection = detect_landmarks(load_image(rgba, "RGB"), name=display_name(path))
        except FaceNotFoundError:
            return PortraitInfo(Path(path), w, h, standard_points_in(w, h), False, no_face_message(path), "none", rgba)
        faces = f" ({detection.num_faces} faces: using the largest)" if detection.num_faces > 1 else ""
        return PortraitInfo(Path(path), w, h, np.asarray(detection.landmarks)[:, :2], True,
                            f"Face found by {detection.detector}{faces}. If a point is off, drag it into place.",
                            "detected", rgba)

    def read_landmarks_file(self, path: str | os.PathLike, size: tuple[int, int] | None) -> np.ndarray:
        from makeittalk.face import load_landmarks_file

        self.check_file_size(path, "landmark file")
        try:
            points = load_landmarks_file(path)
        except MakeItTalkError as exc:
            raise MakeItTalkError(f"The landmark file cannot be used: {_strip_path(str(exc), path)}") from None
        if size is not None:
            w, h = size
            xy = points[:, :2]
            inside = (xy[:, 0] >= -0.5) & (xy[:, 0] <= w - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] <= h - 0.5)
            if inside.mean() < 0.75:
                raise MakeItTalkError(
                    f"The landmark file {display_name(path)}: {int((~inside).sum())} of 68 points lie outside the "
                    f"{w}x{h} portrait; the points must be in pixels of this image (x right, y down)."
                )
        return points

    def load_audio(self, path: str | os.PathLike | None):
        """The speech as a Waveform, or AudioError with a message for the page."""
        if not path:
            raise AudioError("Add speech first: upload an audio file, record one with the microphone, "
                             "type a text to speak, or pick one of the examples.")
        self.check_file_size(path, "audio file")
        from makeittalk.audio import AudioTooLongError, load_audio

        limit = self.config.max_audio_seconds
        try:
            waveform = load_audio(path, max_seconds=limit)
        except AudioTooLongError:
            raise AudioError(f"The audio {display_name(path)} is longer than {limit:g} s, the most this app "
                             "accepts. Trim it and upload it again.") from None
        except MakeItTalkError as exc:
            raise AudioError(f"The audio {display_name(path)} cannot be used: {_strip_path(str(exc), path)}") from None
        seconds = waveform.seconds
        if seconds < 0.5 or not np.any(waveform.samples):
            raise AudioError(f"The audio {display_name(path)} is {'silent' if seconds >= 0.5 else f'only {seconds:.2f} s long'}; "
                             "it needs at least half a second of speech.")
        return waveform

    def speech(self, audio: str | os.PathLike | None, text: str | None, voice: str | None = None):
        """The Waveform to animate: the uploaded audio, or `text` spoken by the offline engine."""
        text = (text or "").strip()
        if not text:
            return self.load_audio(audio)
        if audio:
            raise AudioError("Use either the speech recording or the text, not both: clear one of them.")
        limit = self.config.max_text_chars
        if len(text) > limit:
            raise AudioError(f"The text has {len(text)} characters; this app speaks at most {limit}. Shorten it.")
        from makeittalk.audio.tts import synthesize

        speech = synthesize(text, voice=voice or None)
        if speech.waveform.seconds > self.config.max_audio_seconds:
            raise AudioError(f"The text takes {speech.waveform.seconds:.0f} s to say, longer than the "
                             f"{self.config.max_audio_seconds:g} s this app accepts. Shorten it.")
        return speech.waveform

    def check_background(self, value: str | os.PathLike | None) -> str | None:
        """A colour (#rrggbb or a name), or an image uploaded to this app; never any other file
        on this computer: to a scripted client the page's colour field is free text, and a
        server file used as a background would be sent back inside the video."""
        if not value:
            return None
        from renderer.warp import parse_color

        text = os.fspath(value)
        try:
            parse_color(text)
            return text
        except ValueError:
            pass
        try:
            uploaded = Path(text).is_file() and Path(text).resolve().is_relative_to(self.work_dir.resolve())
        except (OSError, ValueError):
            uploaded = False
        if not uploaded:
            raise MakeItTalkError("The background must be a colour (#rrggbb) or an image uploaded here.")
        self.check_file_size(text, "background image")
        return text

    @staticmethod
    def _check_points(points: np.ndarray, rgba: np.ndarray) -> None:
        from makeittalk.face.topology import check_landmarks

        pts = check_landmarks(points, what="the landmarks in the editor")
        h, w = rgba.shape[:2]
        xy = pts[:, :2]
        inside = (xy[:, 0] >= -0.5) & (xy[:, 0] <= w - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] <= h - 0.5)
        if inside.mean() < 0.75:
            raise MakeItTalkError(f"{int((~inside).sum())} of the 68 landmarks lie outside the {w}x{h} portrait; "
                                  "move them onto the face in the editor.")

    # ---- puppets ------------------------------------------------------------------------

    def make_puppet(self, image_path: str | os.PathLike, points: np.ndarray, name: str | None = None):
        from renderer import Puppet

        self.load_portrait(image_path)  # size checks with readable messages
        try:
            return Puppet.create(str(image_path), np.asarray(points, dtype=np.float64),
                                 name=safe_stem(name or display_name(image_path), "puppet"))
        except MakeItTalkError as exc:
            raise MakeItTalkError(_strip_path(str(exc), image_path)) from None

    def save_puppet(self, image_path: str | os.PathLike, points: np.ndarray, name: str) -> tuple[Path, Path]:
        """Save a puppet in the puppet store; returns (folder, zip for download)."""
        clean = safe_stem(name or "", "")
        if not clean:
            raise MakeItTalkError("Give the puppet a name (letters, digits, - and _).")
        puppet = self.make_puppet(image_path, points, clean)
        store = self.config.resolved_puppets_dir()
        store.mkdir(parents=True, exist_ok=True)
        folder = store / clean
        if folder.exists() and not (folder / "puppet.json").is_file():
            raise MakeItTalkError(f"{folder} exists and is not a puppet folder; choose another name.")
        puppet.save(folder, overwrite=True)
        bundle_dir = self.outputs_dir / f"puppet-{uuid.uuid4().hex[:8]}"
        bundle_dir.mkdir()
        archive = shutil.make_archive(str(bundle_dir / clean), "zip", root_dir=folder.parent, base_dir=clean)
        return folder, Path(archive)

    def list_puppets(self) -> list[str]:
        store = self.config.resolved_puppets_dir()
        if not store.is_dir():
            return []
        return sorted(p.name for p in store.iterdir() if (p / "puppet.json").is_file())

    def load_puppet(self, name: str) -> tuple[Path, np.ndarray]:
        """(a copy of the puppet's image in the work folder, its landmarks (68, 3))."""
        from renderer import Puppet

        if name not in self.list_puppets():
            raise MakeItTalkError(f"There is no saved puppet called {name!r}.")
        puppet = Puppet.load(self.config.resolved_puppets_dir() / name)
        folder = self.outputs_dir / f"puppet-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        from PIL import Image

        image = folder / f"{safe_stem(name)}.png"
        Image.fromarray(puppet.image, "RGBA").save(image)
        self._remember(image, puppet.landmarks, f"Saved puppet '{name}': its landmarks are loaded.")
        return image, np.asarray(puppet.landmarks)

    # ---- networks -----------------------------------------------------------------------

    @contextlib.contextmanager
    def engine(self, weights: str) -> Iterator[Any]:
        """A loaded TalkingHead for `weights`, one per concurrent render (created on demand)."""
        key = (weights, self.config.device)
        with self._cond:
            while True:
                free = self._free.setdefault(key, [])
                if free:
                    engine = free.pop()
                    break
                if self._created.get(key, 0) < self.config.concurrency:
                    self._created[key] = self._created.get(key, 0) + 1
                    engine = None
                    break
                self._cond.wait()
        if engine is None:
            try:
                from makeittalk.pipelines.talking_head import TalkingHead

                engine = TalkingHead.from_pretrained(weights, device=self.config.device)
            except BaseException:
                with self._cond:
                    self._created[key] -= 1
                    self._cond.notify_all()
                raise
        try:
            yield engine
        finally:
            with self._cond:
                self._free.setdefault(key, []).append(engine)
                self._cond.notify_all()

    def warm_up(self) -> threading.Thread | None:
        """Load the networks in a background thread (the first click then does not wait)."""
        try:
            weights = self.resolve_weights()
        except MakeItTalkError:
            return None

        def work() -> None:
            started = time.perf_counter()
            try:
                with self.engine(weights):
                    pass
                note = f"makeittalk app: networks of the weight set '{weights}' loaded in {time.perf_counter() - started:.1f} s"
            except Exception as exc:  # noqa: BLE001 - reported again, readably, on the first render
                note = f"makeittalk app: could not load the weight set '{weights}' ({exc}); the page will say why"
            if not self.config.quiet:
                print(note, file=sys.stderr, flush=True)

        thread = threading.Thread(target=work, name="makeittalk-warm-up", daemon=True)
        thread.start()
        return thread

    def prune_outputs(self) -> None:
        """Remove generated files older than `keep_outputs_s` (a long-running app stays small)."""
        limit = time.time() - self.config.keep_outputs_s
        for folder in self.outputs_dir.iterdir():
            try:
                if folder.stat().st_mtime < limit:
                    shutil.rmtree(folder) if folder.is_dir() else folder.unlink()
            except OSError:
                pass

    # ---- rendering ----------------------------------------------------------------------

    def render(self, request: RenderRequest, progress: Callable[[Any], None] | None = None) -> RenderOutcome:
        started = time.perf_counter()
        if request.renderer not in RENDERERS:
            raise MakeItTalkError(f"Unknown renderer {request.renderer!r}; choose {', '.join(RENDERERS)}.")
        self.prune_outputs()
        weights = self.resolve_weights(request.weights)  # the likeliest problem, and free to find
        rgba = self.load_portrait(request.portrait)
        waveform = self.speech(request.audio, request.text, request.voice)
        background = self.check_background(request.background)
        stem = safe_stem(request.puppet_name or display_name(request.portrait))
        folder = self.outputs_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        points = request.points
        if points is None:
            # A built-in example or a saved puppet: its landmarks are known, no detection needed.
            points = self.known_points(request.portrait)
        if points is not None:
            self._check_points(points, rgba)
        del rgba  # the pipeline reads the file itself (EXIF, transparency)
        video = folder / f"{stem}_talking.mp4"
        landmarks_json = folder / f"{stem}_landmarks.json"
        with self.engine(weights) as engine:
            try:
                result = engine.render(
                    str(request.portrait), waveform, video, face_landmarks=points,
                    renderer=request.renderer, fps=float(request.fps), seed=int(request.seed),
                    still=bool(request.still), pose_scale=float(request.pose_scale),
                    lip_scale=float(request.lip_scale), blink=bool(request.blink),
                    background=background, save_landmarks=landmarks_json, progress=progress,
                )
            except FaceNotFoundError:
                raise FaceNotFoundError(no_face_message(request.portrait)) from None
        if not landmarks_json.exists() and getattr(result, "landmarks", None) is not None:
            result.landmarks.save(landmarks_json)
        seconds = time.perf_counter() - started
        info = (
            f"Made with the weights '{result.weights}' and the {result.renderer} renderer: "
            f"{result.audio_seconds:.1f} s of speech, {result.num_frames} frames at {float(request.fps):g} fps, "
            f"in {seconds:.1f} s."
        )
        return RenderOutcome(Path(result.video), landmarks_json, info, result)


def no_face_message(path: str | os.PathLike | None) -> str:
    return (
        f"No face was found in {display_name(path)}. Use an upright, frontal, well-lit portrait whose face is "
        "at least about 80 pixels wide, or place the 68 landmarks yourself: drag the points in the landmark "
        "editor onto the face, or upload a landmark file (JSON, 68 lines of 'x y' or .npy, in pixels)."
    )


def _strip_path(message: str, path: str | os.PathLike | None) -> str:
    """Replace gradio's cache path of an upload with the file's name in a message."""
    if not path:
        return message
    text = message.replace(str(path), display_name(path))
    return text.replace(str(Path(path).resolve()), display_name(path))
