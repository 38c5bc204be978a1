"""The Gradio page: widgets wired to `AppService`.

Import this module only through `makeittalk.app` (which turns gradio's analytics off before
gradio is imported).
"""

from __future__ import annotations

import html
import logging
import os
import sys
from typing import Any
from urllib.parse import unquote

from makeittalk.app.config import AppConfig
from makeittalk.app.editor import (
    CSS_TEMPLATE,
    HTML_TEMPLATE,
    JS_ON_LOAD,
    editor_points,
    editor_size,
    editor_value,
)
from makeittalk.app.service import RENDERERS, AppService, RenderRequest, display_name
from makeittalk.errors import MakeItTalkError

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported
import gradio as gr  # noqa: E402

from makeittalk.app.live_tab import build_live_tab  # noqa: E402

logger = logging.getLogger("makeittalk.app")

# espeak-ng voices offered next to the text box (all ship with Debian's espeak-ng-data).
VOICES = [("English", "en"), ("English (US)", "en-us"), ("German", "de"), ("French", "fr"), ("Spanish", "es"),
          ("Italian", "it"), ("Portuguese", "pt"), ("Romanian", "ro"), ("Russian", "ru"), ("Arabic", "ar"),
          ("Hindi", "hi"), ("Mandarin", "cmn")]
TITLE = "MakeItTalk"
INTRO = """
# MakeItTalk: make a portrait talk
Give one portrait and some speech; get a lip-synced talking-head video. Everything runs on
this computer: nothing is uploaded anywhere else.

1. **Portrait**: upload a photo or a drawing, or pick an example below.
2. **Landmarks**: check the 68 face points; drag any that are off (or upload a landmark file).
3. **Speech**: upload a recording, record one with the microphone, or type what the portrait should say.
4. Press **Make it talk**.
"""

CSS = """
#mit-weights.mit-ok { padding: 8px 12px; border-radius: 8px; background: #ecf8ef; color: #14532d; }
.mit-msg { padding: 8px 12px; border-radius: 8px; margin: 4px 0; }
.mit-msg.mit-info { background: #eef4ff; color: #1e3a8a; }
.mit-msg.mit-ok { background: #ecf8ef; color: #14532d; }
.mit-msg.mit-error { background: #fdecec; color: #7f1d1d; border: 1px solid #f5b5b5; }
.mit-msg.mit-warn { background: #fff7e6; color: #7c4a03; border: 1px solid #f3d08a; }
.mit-msg code { white-space: pre-wrap; }
#mit-go { font-size: 1.15em; }
#mit-bg-color button.dialog-button { border: 1px solid #888; min-height: 28px; min-width: 64px; }
"""


def _theme() -> gr.themes.Base:
    # System fonts only: a theme that names a Google font makes every visitor's browser
    # fetch it from fonts.googleapis.com, and this app must not contact the network.
    return gr.themes.Soft(
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )


def message(text: str, kind: str = "info") -> str:
    """An in-page message box (kind: info, ok, warn, error)."""
    role = ' role="alert"' if kind == "error" else ""
    body = html.escape(text)
    # `code` spans for commands in backticks read better than raw backticks.
    parts = body.split("`")
    body = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    return f'<div class="mit-msg mit-{kind}"{role}>{body}</div>'


def _internal_error(exc: BaseException) -> str:
    logger.exception("unexpected error in the web app")
    return message(
        f"Something went wrong inside the app ({type(exc).__name__}). This is a bug: the details are in "
        "the terminal that runs the app; please report them.",
        "error",
    )


# Share of the bar per render stage (makeittalk.pipelines.progress.STAGES); frames dominate.
STAGE_SPANS = {
    "face": (0.00, 0.05),
    "audio features": (0.05, 0.15),
    "landmarks": (0.15, 0.30),
    "rendering": (0.30, 0.95),
    "encoding": (0.95, 1.00),
    "done": (1.00, 1.00),
}


class ProgressBar:
    """Maps the pipeline's ProgressEvents (per stage) onto one gradio bar with the stage name."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.last = 0.0

    def __call__(self, event: Any) -> None:
        stage = str(getattr(event, "stage", "") or "working")
        lo, hi = STAGE_SPANS.get(stage, (self.last, self.last))
        try:
            within = min(1.0, max(0.0, float(getattr(event, "fraction", 0.0) or 0.0)))
        except (TypeError, ValueError):
            within = 0.0
        self.last = max(self.last, lo + (hi - lo) * within)
        desc = stage
        done, total = getattr(event, "done", None), getattr(event, "total", None)
        if done is not None and total:
            desc += f" {done}/{total} frames"
        note = getattr(event, "message", "") or ""
        if note and stage != "done":  # the final note names server paths
            desc += f": {note}"
        eta = getattr(event, "eta_seconds", None)
        if eta is not None and eta >= 1:
            desc += f" (about {eta:.0f} s left)"
        self.progress(self.last, desc=desc)


class _OfflineGuard:
    """ASGI middleware: refuse gradio's `/file=<http URL>` proxy so the server never fetches URLs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            path = unquote(scope.get("path", "")).lower()
            if "/file=http:" in path or "/file=https:" in path or "/file=//" in path:
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                await send({"type": "http.response.body",
                            "body": b"This app is offline: it does not fetch URLs."})
                return
        await self.app(scope, receive, send)


class MakeItTalkBlocks(gr.Blocks):
    """gr.Blocks whose launch() defaults are the app's safe ones (local, offline, limited)."""

    makeittalk_config: AppConfig
    makeittalk_service: AppService

    def launch(self, **kwargs: Any):  # type: ignore[override]
        config = self.makeittalk_config
        if kwargs.get("share"):
            raise MakeItTalkError("share links are disabled: this app never leaves this computer")
        from starlette.middleware import Middleware

        options: dict[str, Any] = dict(
            server_name=config.host,
            server_port=config.port,
            share=False,
            theme=_theme(),
            css=CSS,
            max_file_size=config.max_upload_bytes,
            # Nothing but the app's own files: gradio's cache (uploads, results) and the outputs.
            allowed_paths=[str(self.makeittalk_service.outputs_dir)],
            show_error=False,
            quiet=config.quiet,
            ssr_mode=False,
            pwa=False,
            mcp_server=False,
            enable_monitoring=False,
            footer_links=["settings"],
            app_kwargs={"middleware": [Middleware(_OfflineGuard)]},
        )
        options.update(kwargs)
        block = not options.pop("prevent_thread_lock", False)
        # gradio's own start-up lines include "set `share=True`", which this app refuses: print ours.
        quiet, options["quiet"] = options["quiet"], True
        if not block:
            return super().launch(prevent_thread_lock=True, **options)
        import signal
        import threading

        # SIGTERM (`kill PID`, systemd, docker stop) would end the process without running atexit,
        # leaving uploads and outputs in /tmp: handle it like Ctrl+C. Installed before the address
        # is printed, so a signal sent as soon as the app says it is up is never missed.
        stopped = threading.Event()
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
        try:
            result = super().launch(prevent_thread_lock=True, **options)
            if not quiet:
                print(f"makeittalk app: running on {self.local_url} (this computer only unless --host says "
                      "otherwise; Ctrl+C or SIGTERM stops it)", file=sys.stderr, flush=True)
            while not stopped.wait(0.2) and self.is_running:
                pass
        except KeyboardInterrupt:
            result = None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            self.close(verbose=False)
            self.makeittalk_service.remove_private_folder()
        return result


def build_app(config: AppConfig | None = None, service: AppService | None = None) -> MakeItTalkBlocks:
    """The MakeItTalk page as a gr.Blocks (call .launch() on it, or use makeittalk.app.launch)."""
    config = config or (service.config if service is not None else AppConfig())
    service = service or AppService(config)
    # Uploads and outputs go to the app's own folder; only that folder is served back.
    os.environ["GRADIO_TEMP_DIR"] = str(service.gradio_dir)
    examples = service.examples()

    with MakeItTalkBlocks(
        analytics_enabled=False,
        title=TITLE,
        delete_cache=(3600, max(60, int(config.keep_outputs_s))),
    ) as demo:
        demo.makeittalk_config = config
        demo.makeittalk_service = service
        gr.Markdown(INTRO, elem_id="mit-intro")
        weights_note = gr.HTML(elem_id="mit-weights")
        # Made here, placed in column 3: the examples (column 1) fill it in.
        audio = gr.Audio(
            label="Speech", type="filepath", sources=["upload", "microphone"], format=None,
            elem_id="mit-audio", render=False,
        )

        with gr.Tabs(elem_id="mit-tabs"):
            with gr.Tab("Make a video", id="video", elem_id="mit-tab-video"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1, min_width=300):
                        gr.Markdown("### 1. Portrait")
                        portrait = gr.Image(
                            label="Portrait (photo or drawing)", type="filepath", image_mode=None,
                            sources=["upload", "clipboard"], height=300, elem_id="mit-portrait",
                        )
                        with gr.Row():
                            puppet_pick = gr.Dropdown(
                                label="...or a saved puppet", choices=service.list_puppets(), value=None,
                                interactive=True, elem_id="mit-puppet-pick", scale=3,
                            )
                            refresh_puppets = gr.Button("Refresh", size="sm", scale=1, min_width=60)
                        gr.Examples(
                            examples=[[p, a] for p, a, _ in examples],
                            example_labels=[label for _, _, label in examples],
                            inputs=[portrait, audio],
                            label="Built-in examples: a drawn face and the astronaut photo (scikit-image), "
                                  "with a synthetic speech clip",
                            elem_id="mit-examples",
                        )

                    with gr.Column(scale=1, min_width=300):
                        gr.Markdown("### 2. Face landmarks")
                        editor = gr.HTML(
                            value=None, html_template=HTML_TEMPLATE, css_template=CSS_TEMPLATE,
                            js_on_load=JS_ON_LOAD, elem_id="mit-editor",
                        )
                        landmark_note = gr.HTML(elem_id="mit-landmark-note")
                        mode = gr.Radio(
                            label="Landmarks for the video",
                            choices=[("Detect the face automatically", "detect"),
                                     ("Use the points in the editor", "editor")],
                            value="detect", elem_id="mit-mode",
                        )
                        landmark_file = gr.UploadButton(
                            "Upload a landmark file (JSON, 68 lines of 'x y' or .npy, in pixels)",
                            file_types=[".json", ".txt", ".csv", ".pts", ".npy"], type="filepath", size="sm",
                            variant="secondary", elem_id="mit-landmark-file",
                        )
                        with gr.Accordion("Save as a puppet for reuse", open=False, elem_id="mit-save-puppet"):
                            with gr.Row():
                                puppet_name = gr.Textbox(label="Puppet name", placeholder="my_cartoon", scale=3,
                                                         elem_id="mit-puppet-name")
                                save_puppet = gr.Button("Save puppet", scale=1, elem_id="mit-save-puppet-btn")
                            puppet_file = gr.File(label="Puppet folder (zip)", interactive=False,
                                                  elem_id="mit-puppet-file")

                    with gr.Column(scale=1, min_width=300):
                        gr.Markdown("### 3. Speech")
                        audio.render()
                        with gr.Row():
                            speech_text = gr.Textbox(
                                label="...or type what the portrait says", placeholder="Hello! Nice to meet you.",
                                lines=2, max_lines=8, max_length=config.max_text_chars, scale=3, elem_id="mit-text",
                            )
                            voice = gr.Dropdown(label="Voice", choices=VOICES, value="en", scale=1, min_width=110,
                                                elem_id="mit-voice",
                                                info="offline speech (espeak-ng)")
                        with gr.Accordion("Options", open=False, elem_id="mit-options"):
                            renderer = gr.Radio(label="Renderer", choices=list(RENDERERS), value="auto",
                                                info="auto: the image network for photos when the weights have it, "
                                                     "else the warp renderer (any portrait, cartoons too)")
                            with gr.Row():
                                still = gr.Checkbox(label="Still (no head motion)", value=False)
                                blink = gr.Checkbox(label="Blinks", value=True)
                            pose_scale = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Head motion (pose scale)")
                            lip_scale = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Lip motion (lip scale)")
                            with gr.Row():
                                fps = gr.Dropdown(label="Frames per second", choices=[20, 24, 25, 30, 60], value=25)
                                seed = gr.Number(label="Seed (blinks)", value=0, precision=0)
                            bg_color = gr.ColorPicker(label="Background colour behind transparent drawings",
                                                      value="#ffffff", elem_id="mit-bg-color")
                            bg_image = gr.Image(label="...or a background image", type="filepath",
                                                sources=["upload"], height=140, elem_id="mit-bg-image")
                            weights = gr.Dropdown(label="Weights", choices=["auto"], value="auto",
                                                  elem_id="mit-weights-pick")
                        go = gr.Button("Make it talk", variant="primary", elem_id="mit-go")

                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=400):
                        gr.Markdown("### 4. Video")
                        video = gr.Video(label="Talking head", interactive=False, autoplay=False,
                                         elem_id="mit-video", height=420)
                    with gr.Column(scale=2, min_width=300):
                        gr.Markdown("### Result")
                        result_note = gr.HTML(message("The video, its download links and how it was made appear "
                                                      "here.", "info"), elem_id="mit-result")
                        downloads = gr.File(label="Downloads: the video (mp4) and its landmarks (JSON)",
                                            file_count="multiple", interactive=False, elem_id="mit-downloads",
                                            height=140)
            with gr.Tab("Live", id="live", elem_id="mit-tab-live"):
                build_live_tab(service, config)

        # ---- handlers ----------------------------------------------------------------------

        def on_load():
            text, ok = service.weights_banner()
            choices = ["auto"] + service.usable_weight_sets()
            value = config.weights if config.weights in choices else "auto"
            banner = message(text, "ok" if ok else "warn")
            return banner, gr.update(choices=choices, value=value), gr.update(choices=service.list_puppets())

        demo.load(on_load, None, [weights_note, weights, puppet_pick], queue=False)

        def on_portrait(path):
            if not path:
                return None, "", "detect"
            try:
                info = service.inspect_portrait(path)
                rgba = info.image
            except MakeItTalkError as exc:
                return None, message(str(exc), "error"), "detect"
            except Exception as exc:  # noqa: BLE001 - never a stack trace in the page
                return None, _internal_error(exc), "detect"
            kind = "ok" if info.found else "warn"
            # Known points (built-in example, saved puppet) are used as they are: no detection.
            return (editor_value(rgba, info.landmarks), message(info.message, kind),
                    "editor" if info.source == "known" else "detect")

        portrait.change(on_portrait, portrait, [editor, landmark_note, mode],
                        concurrency_limit=4, concurrency_id="inspect", show_progress="minimal")

        def on_edited(value):
            pts = editor_points(value)
            if pts is None:
                return gr.update(), message("The editor holds no landmarks.", "warn")
            return "editor", message("Using your edited points for the video. Save them as a puppet to reuse them.",
                                     "ok")

        editor.edited(on_edited, editor, [mode, landmark_note], queue=False)

        def on_landmark_file(file, value, image_path):
            if not file:
                return gr.update(), gr.update(), gr.update()
            if not image_path:
                return gr.update(), message("Add the portrait first, then its landmark file.", "warn"), gr.update()
            try:
                rgba = service.load_portrait(image_path)
                pts = service.read_landmarks_file(file, (rgba.shape[1], rgba.shape[0]))
            except MakeItTalkError as exc:
                return gr.update(), message(str(exc), "error"), gr.update()
            except Exception as exc:  # noqa: BLE001
                return gr.update(), _internal_error(exc), gr.update()
            return (editor_value(rgba, pts, edited=True),
                    message(f"Loaded 68 points from {display_name(file)}; they will be used for the video.", "ok"),
                    "editor")

        landmark_file.upload(on_landmark_file, [landmark_file, editor, portrait], [editor, landmark_note, mode],
                             concurrency_limit=4, concurrency_id="inspect")

        def on_save_puppet(image_path, value, name):
            pts = editor_points(value)
            if not image_path or pts is None:
                return None, message("Add a portrait first; its landmarks appear in the editor.", "warn"), gr.update()
            try:
                folder, archive = service.save_puppet(image_path, pts, name)
            except MakeItTalkError as exc:
                return None, message(str(exc), "error"), gr.update()
            except Exception as exc:  # noqa: BLE001
                return None, _internal_error(exc), gr.update()
            note = message(f"Saved the puppet '{folder.name}' in {folder.parent}. Pick it under 'saved puppet' "
                           "next time, or use the zip with `makeittalk render`.", "ok")
            return str(archive), note, gr.update(choices=service.list_puppets())

        save_puppet.click(on_save_puppet, [portrait, editor, puppet_name], [puppet_file, landmark_note, puppet_pick],
                          concurrency_limit=2, concurrency_id="inspect")

        def on_pick_puppet(name):
            if not name:
                return gr.update()
            try:
                image, _ = service.load_puppet(name)
            except MakeItTalkError as exc:
                gr.Warning(str(exc))
                return gr.update()
            return str(image)

        puppet_pick.input(on_pick_puppet, puppet_pick, portrait, queue=False)
        refresh_puppets.click(lambda: gr.update(choices=service.list_puppets()), None, puppet_pick, queue=False)

        def on_render(portrait_path, audio_path, text_, voice_, renderer_, still_, pose_, lip_, blink_, fps_,
                      seed_, bg_color_, bg_image_, weights_, mode_, value, puppet_name_,
                      progress=gr.Progress()):
            report = ProgressBar(progress)

            try:
                points = editor_points(value) if mode_ == "editor" else None
                if mode_ == "editor" and points is None:
                    raise MakeItTalkError("'Use the points in the editor' is selected but the editor holds no "
                                          "landmarks; add a portrait first.")
                if points is not None and editor_size(value) is not None and portrait_path:
                    rgba = service.load_portrait(portrait_path)
                    if editor_size(value) != (rgba.shape[1], rgba.shape[0]):
                        raise MakeItTalkError("The landmarks in the editor belong to another image; upload the "
                                              "portrait again.")
                progress(0.0, desc="starting")
                request = RenderRequest(
                    portrait=portrait_path, audio=audio_path, renderer=renderer_, still=bool(still_),
                    pose_scale=float(pose_), lip_scale=float(lip_), blink=bool(blink_),
                    fps=float(fps_ or 25), seed=int(seed_ or 0),
                    background=bg_image_ or bg_color_ or None,
                    weights=None if weights_ in (None, "", "auto") else weights_,
                    points=points, puppet_name=(puppet_name_ or None),
                    text=text_ or None, voice=voice_ or None,
                )
                outcome = service.render(request, progress=report)
            except MakeItTalkError as exc:
                return None, message(str(exc), "error"), None
            except Exception as exc:  # noqa: BLE001 - never a stack trace in the page
                return None, _internal_error(exc), None
            return (str(outcome.video), message(outcome.info, "ok"),
                    [str(outcome.video), str(outcome.landmarks_json)])

        go.click(
            on_render,
            [portrait, audio, speech_text, voice, renderer, still, pose_scale, lip_scale, blink, fps, seed,
             bg_color, bg_image, weights, mode, editor, puppet_name],
            [video, result_note, downloads],
            concurrency_limit=config.concurrency, concurrency_id="render",
            # One progress bar, on the video: the other outputs would each draw their own copy.
            show_progress="full", show_progress_on=[video], api_name="render",
        )

    demo.queue(max_size=config.queue_size, default_concurrency_limit=config.concurrency)
    return demo


def launch(config: AppConfig | None = None, service: AppService | None = None, **launch_kwargs: Any):
    """Build the page and serve it (blocks until interrupted unless prevent_thread_lock=True)."""
    config = config or AppConfig()
    service = service or AppService(config)
    demo = build_app(config, service)
    if config.warm_up:
        service.warm_up()
    if not config.quiet:
        print(f"makeittalk app: outputs in {service.work_dir}", file=sys.stderr, flush=True)
    return demo.launch(**launch_kwargs)
