"""Where a render's frames come from (the warp renderer or the translator) and where they go (the encoder)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from makeittalk.errors import MakeItTalkError
from makeittalk.pipelines.portrait import PreparedPortrait, _scale_points

if TYPE_CHECKING:
    from makeittalk.pipelines.talking_head import TalkingHead

# --------------------------------------------------------------------------------------------
# frame sources


class _FrameSource:
    """What every frame source is given: the portrait, the landmark sequence, the output size,
    the background and whether frames keep alpha (WebM)."""

    def __init__(self, prepared: PreparedPortrait, sequence: Any, size: tuple[int, int], background: Any,
                 alpha: bool) -> None:
        self.prepared = prepared
        self.sequence = sequence
        self.size = size
        self.background = background
        self.alpha = alpha
        self._renderer = None


class _WarpSource(_FrameSource):

    def __enter__(self) -> _WarpSource:
        from renderer.warp import RenderConfig, RenderStyle, WarpRenderer

        puppet = self.prepared.puppet
        width, height = self.prepared.size
        even = (width - width % 2, height - height % 2)
        # The even version of the portrait's own size: render it 1:1 and drop the odd pixel.
        self._render_size = (width, height) if self.size == even else self.size
        config = RenderConfig(style=RenderStyle(self.prepared.style), premultiplied=not self.alpha)
        self._renderer = WarpRenderer.from_puppet(puppet, config=config, size=self._render_size,
                                                  background=self.background)
        return self

    def frames(self):
        w, h = self.size
        channels = 4 if self.alpha else 3
        for landmarks in self.sequence.landmarks:
            frame = self._renderer.render(landmarks, channels=channels)
            yield frame if frame.shape[:2] == (h, w) else frame[:h, :w]

    def __exit__(self, *exc) -> None:
        if self._renderer is not None:
            self._renderer.release()
            self._renderer = None


class _TranslatorSource(_FrameSource):
    """The original's full-face translator on the face crop."""

    def __init__(self, head: TalkingHead, prepared: PreparedPortrait, sequence: Any, size: tuple[int, int],
                 background: Any, alpha: bool, batch_size: int | None, precision: str = "auto") -> None:
        super().__init__(prepared, sequence, size, background, alpha)
        self.head = head
        self.batch_size = batch_size
        self.precision = precision

    def __enter__(self) -> _TranslatorSource:
        from makeittalk.pipelines.translator_render import TranslatorRenderer

        crop = self.prepared.face_crop(self.size, self.background)
        self._renderer = TranslatorRenderer(self.head.translator, crop.portrait, None, crop=crop,
                                            batch_size=self.batch_size, precision=self.precision)
        return self

    def frames(self):
        width, height = self.prepared.size
        landmarks = self.sequence.landmarks
        if self.size != (width - width % 2, height - height % 2):
            landmarks = _scale_points(landmarks, (width, height), self.size)
        alpha = np.full(self.size[::-1] + (1,), 255, np.uint8) if self.alpha else None
        for frame in self._renderer.render_sequence(landmarks):
            yield frame if alpha is None else np.concatenate([frame, alpha], axis=2)

    def __exit__(self, *exc) -> None:
        self._renderer = None


class _MouthTranslatorSource(_WarpSource):
    """The warp renderer's frames with the mouth re-synthesised by the mouth translator."""

    def __init__(self, head: TalkingHead, prepared: PreparedPortrait, sequence: Any, size: tuple[int, int],
                 background: Any, alpha: bool, batch_size: int | None) -> None:
        super().__init__(prepared, sequence, size, background, alpha)
        self.head = head
        self.batch_size = batch_size

    def __enter__(self) -> _MouthTranslatorSource:
        from makeittalk.pipelines.mouth_render import MouthTranslatorRenderer

        translator = self.head.translator  # loaded before the GL context: a bad file fails first
        super().__enter__()
        puppet = self.prepared.puppet
        self._mouth = MouthTranslatorRenderer(translator, self._renderer, np.asarray(puppet.image),
                                              puppet.landmarks, batch_size=self.batch_size,
                                              channels=4 if self.alpha else 3)
        return self

    def frames(self):
        w, h = self.size
        for frame in self._mouth.render_sequence(self.sequence.landmarks):
            yield frame if frame.shape[:2] == (h, w) else frame[:h, :w]


def _frame_source(head: TalkingHead, chosen: str, prepared: PreparedPortrait, sequence: Any,
                  size: tuple[int, int], background: Any, fmt: str, batch_size: int | None,
                  precision: str = "auto"):
    alpha = fmt == "webm"
    if chosen == "translator" and head.translator_kind == "mouth_translator":
        return _MouthTranslatorSource(head, prepared, sequence, size, background, alpha, batch_size)
    if chosen == "translator":
        return _TranslatorSource(head, prepared, sequence, size, background, alpha, batch_size, precision)
    return _WarpSource(prepared, sequence, size, background, alpha)


# --------------------------------------------------------------------------------------------
# writers


def _open_writer(fmt: str, output: Path, waveform: Any, fps: float, overwrite: bool, preset: str):
    from makeittalk.pipelines.video import VideoSettings, VideoWriter

    settings = VideoSettings(fps=fps, codec="vp9") if fmt == "webm" else VideoSettings(fps=fps, preset=preset)
    return VideoWriter(output, audio_samples=waveform.samples, sample_rate=waveform.sample_rate,
                       settings=settings, overwrite=overwrite)


_VP9_STATUS: dict[str, bool] = {}


def _require_vp9() -> None:
    """--format webm needs libvpx-vp9 in the bundled ffmpeg: say so clearly when it is missing."""
    from makeittalk.pipelines.video import ffmpeg_executable

    exe = ffmpeg_executable()
    if exe not in _VP9_STATUS:
        try:
            listing = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
        except OSError:
            listing = ""
        _VP9_STATUS[exe] = "libvpx-vp9" in listing
    if not _VP9_STATUS[exe]:
        raise MakeItTalkError(
            f"the ffmpeg in use ({exe}) has no VP9 encoder (libvpx-vp9), which --format webm needs; "
            "write an mp4 instead, or point IMAGEIO_FFMPEG_EXE at an ffmpeg built with libvpx"
        )
