"""The web app's Live tab: the microphone streams in and the portrait talks back in the page.

Import it only through `makeittalk.app.ui` (gradio's analytics are turned off before).

It uses Gradio's own audio streaming (`gr.Audio(streaming=True).stream`), which sends the
microphone in short chunks over the app's connection; no extra server, port or outside
request. Each browser session gets a `LiveSession` (the streaming landmark engine and a warp
renderer for the chosen portrait); every chunk advances it and the newest frame is shown.
(fastrtc, the WebRTC component the issue names, requires gradio < 6 and this app is built on
gradio 6, so it is not used.)
"""

from __future__ import annotations

import threading
import time
from typing import Any

import gradio as gr
import numpy as np

from makeittalk.errors import MakeItTalkError

CHUNK_SECONDS = 0.1  # how often the page sends the microphone
MAX_SESSIONS = 8  # live streams (each holds a GL renderer) kept at once


class LiveSession:
    """One browser's live stream: engine, renderer and the figures shown under the picture."""

    def __init__(self, head: Any, portrait: str, points: Any = None) -> None:
        from makeittalk.animation.streaming import StreamConfig, StreamingAnimator
        from makeittalk.pipelines.live import LiveRenderer
        from makeittalk.pipelines.talking_head import output_size

        prepared = head.prepare_portrait(portrait, face_landmarks=points)
        self.portrait = portrait
        self.size = output_size(prepared.size, 384)
        self.renderer = LiveRenderer(prepared, self.size)
        self.animator = StreamingAnimator(head.animator, prepared.face, StreamConfig(fps=25.0))
        self.rest = prepared.face.denormalize(prepared.face.q)
        self.frames = 0
        self.started = time.perf_counter()
        self.openings: list[float] = []
        self.lock = threading.Lock()
        self.last_image = self.renderer.render(self.rest)

    def push(self, rate: int, samples: np.ndarray) -> np.ndarray:
        """Advance by one microphone chunk; the newest frame (older new ones are not drawn)."""
        from makeittalk.exports.measures import measure_face
        from makeittalk.pipelines.live import as_int16_chunks

        with self.lock:
            newest = None
            for chunk in as_int16_chunks([(samples, int(rate))]):
                frames = self.animator.push(chunk)
                if frames:
                    newest = frames[-1]
                    self.frames += len(frames)
            if newest is not None:
                gap = float(measure_face(newest[2][None], self.rest).lip_gap[0])
                self.openings.append(gap)
                self.last_image = self.renderer.render(newest[2])
            return self.last_image

    def status(self) -> str:
        recent = self.openings[-25:]
        opening = f"{recent[-1]:.3f}" if recent else "-"
        spread = f"{np.ptp(recent):.3f}" if len(recent) > 1 else "-"
        return (f"live: {self.frames} frames, {self.animator.audio_seconds:.1f} s heard; mouth opening {opening} "
                f"(range over the last second {spread}) eye distances")

    def close(self) -> None:
        with self.lock:
            self.renderer.close()


def build_live_tab(service: Any, config: Any) -> None:
    """The Live tab's widgets and events (called inside the page's Blocks, in a gr.Tab)."""
    examples = service.examples()
    default_portrait = examples[-1][0]  # the astronaut photo
    gr.Markdown("Pick a portrait, press **Record**, and talk: the portrait answers in the picture while you "
                "speak, computed on this computer's CPU. Needs the shipped default weights.",
                elem_id="mit-live-intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            portrait = gr.Image(label="Portrait", type="filepath", value=default_portrait, height=300,
                                sources=["upload", "clipboard"], elem_id="mit-live-portrait")
            mic = gr.Audio(label="Microphone", sources=["microphone"], streaming=True, type="numpy",
                           elem_id="mit-live-mic")
        with gr.Column(scale=2, min_width=400):
            picture = gr.Image(label="Live", interactive=False, height=400, elem_id="mit-live-picture")
            status = gr.HTML("", elem_id="mit-live-status")
    sessions: dict[str, LiveSession] = {}

    def session_for(request: Any, portrait_path: str) -> LiveSession:
        key = getattr(request, "session_hash", None) or "local"
        current = sessions.get(key)
        if current is not None and current.portrait == portrait_path:
            return current
        if current is not None:
            current.close()
        # A page closed without pressing Stop leaves its session; keep only the newest few.
        while len(sessions) >= MAX_SESSIONS:
            sessions.pop(next(iter(sessions))).close()
        weights = service.resolve_weights(None)
        with service.engine(weights) as head:
            points = service.known_points(portrait_path)
            try:
                created = LiveSession(head, portrait_path, points)
            except NotImplementedError as exc:
                raise MakeItTalkError(f"Live mode needs the shipped default weights: {exc}") from None
        sessions[key] = created
        return created

    def on_chunk(chunk, portrait_path, request: gr.Request):
        if chunk is None:
            return gr.update(), gr.update()
        if not portrait_path:
            return gr.update(), "<div class='mit-error'>Pick a portrait first.</div>"
        rate, samples = chunk
        try:
            live = session_for(request, portrait_path)
            image = live.push(rate, np.asarray(samples))
        except MakeItTalkError as exc:
            return gr.update(), f"<div class='mit-error'>{exc}</div>"
        return image, f"<div class='mit-ok' id='mit-live-figures'>{live.status()}</div>"

    def on_stop(request: gr.Request):
        live = sessions.pop(getattr(request, "session_hash", None) or "local", None)
        if live is not None:
            live.close()

    mic.stream(on_chunk, [mic, portrait], [picture, status], stream_every=CHUNK_SECONDS,
               time_limit=config.max_audio_seconds, concurrency_limit=config.concurrency,
               concurrency_id="live", show_progress="hidden")
    mic.stop_recording(on_stop, None, None, queue=False)

