"""The web app without a browser: input checks, messages, landmarks, puppets, settings, CLI.

The browser tests (test_app_browser.py) drive the same code through Chromium; these pin the
behaviour of each piece quickly.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from makeittalk.app.config import AppConfig
from makeittalk.app.editor import data_url, editor_points, editor_size, editor_value
from makeittalk.app.service import AppService, NoWeightsError, RenderRequest, standard_points_in
from makeittalk.errors import AudioError, ImageError, MakeItTalkError

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def service(tmp_path) -> AppService:
    return AppService(AppConfig(work_dir=tmp_path / "work", puppets_dir=tmp_path / "puppets", max_audio_seconds=5))


@pytest.fixture
def speech_3s(tmp_path) -> Path:
    import soundfile as sf

    from makeittalk.pipelines.demo import demo_speech_path

    samples, rate = sf.read(str(demo_speech_path()), dtype="int16")
    path = tmp_path / "speech 3s.wav"
    sf.write(str(path), samples[: 3 * rate], rate, subtype="PCM_16")
    return path


def _gradient(tmp_path, size=(360, 300)) -> Path:
    w, h = size
    ramp = np.linspace(40, 220, w).astype(np.uint8)
    path = tmp_path / "gradient.png"
    Image.fromarray(np.stack([np.tile(ramp, (h, 1))] * 3, axis=2)).save(path)
    return path


# --------------------------------------------------------------------------- weights


def test_no_weights_message_points_at_import_original(service, no_shipped_weights):
    assert service.usable_weight_sets() == []
    text, ok = service.weights_banner()
    assert not ok and "No weight set is installed" in text
    assert "makeittalk weights import-original DIR --name original" in text
    assert "reinstalling makeittalk" in text
    with pytest.raises(NoWeightsError, match="import-original"):
        service.resolve_weights()


def test_auto_picks_the_shipped_default(service, weights_home, monkeypatch):
    # The shipped default wins over an imported 'original' set; both are offered.
    monkeypatch.setenv("MAKEITTALK_HOME", str(weights_home))
    assert service.resolve_weights() == "default"
    assert service.weights_banner() == ("Using the shipped default weights.", True)
    assert service.usable_weight_sets() == ["default", "original"]
    assert service.resolve_weights("original") == "original"


def test_render_without_weights_says_so_before_any_work(service, speech_3s, no_shipped_weights):
    portrait, _, _ = service.examples()[0]
    with pytest.raises(NoWeightsError, match="import-original"):
        service.render(RenderRequest(portrait=portrait, audio=str(speech_3s)))
    assert list(service.outputs_dir.iterdir()) == []


def test_page_load_shows_the_missing_weights_banner(tmp_path, monkeypatch, no_shipped_weights):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "unused"))  # build_app points it at its own folder
    from makeittalk.app import build_app

    demo = build_app(AppConfig(work_dir=tmp_path / "work", puppets_dir=tmp_path / "puppets"))
    on_load = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "on_load")
    banner, weights_choice, puppets = on_load()
    assert "mit-warn" in banner and "import-original" in banner
    assert weights_choice["choices"] == ["auto"]


# --------------------------------------------------------------------------- inputs


def test_examples_are_generated_by_the_project(service):
    examples = service.examples()
    assert [label for _, _, label in examples] == ["drawn cartoon", "astronaut photo"]
    for portrait, audio, _ in examples:
        assert Path(portrait).is_file() and Path(portrait).is_relative_to(service.work_dir)
        assert Path(audio).is_file() and Path(audio).is_relative_to(service.work_dir)
    cartoon = service.inspect_portrait(examples[0][0])
    assert cartoon.source == "known" and cartoon.found and "known exactly" in cartoon.message
    from renderer.synthetic import cartoon_landmarks

    np.testing.assert_allclose(cartoon.landmarks, cartoon_landmarks(512)[:, :2])
    assert Image.open(examples[0][0]).mode == "RGBA"  # the drawn face keeps its transparency


def test_photo_detection_and_missing_face(service, tmp_path):
    astronaut = service.examples()[1][0]
    info = service.inspect_portrait(astronaut)
    assert info.found and info.source == "detected" and "Face found by" in info.message
    assert info.landmarks.shape == (68, 2)
    none = service.inspect_portrait(_gradient(tmp_path))
    assert not none.found and none.source == "none"
    assert "No face was found in gradient.png" in none.message and "landmark file" in none.message
    assert "--face-landmarks" not in none.message  # no command-line flags in the page
    xy = none.landmarks  # the editor starts from the standard face, inside the image
    assert (xy[:, 0] > 0).all() and (xy[:, 0] < 360).all() and (xy[:, 1] > 0).all() and (xy[:, 1] < 300).all()
    assert xy[8, 1] > xy[27, 1]  # chin below the nose bridge: y down


def test_standard_points_fit_any_aspect():
    for w, h in ((100, 400), (400, 100), (256, 256)):
        pts = standard_points_in(w, h)
        assert pts.shape == (68, 2)
        assert pts[:, 0].min() >= 0 and pts[:, 0].max() <= w and pts[:, 1].min() >= 0 and pts[:, 1].max() <= h


def test_portrait_errors_read_well(service, tmp_path):
    with pytest.raises(ImageError, match="Add a portrait first"):
        service.load_portrait(None)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ImageError) as info:
        service.load_portrait(text)
    assert "notes.png cannot be read as an image" in str(info.value) and str(tmp_path) not in str(info.value)
    small = AppService(AppConfig(work_dir=tmp_path / "w2", max_image_side=64))
    with pytest.raises(ImageError, match="up to 64 pixels a side"):
        small.load_portrait(_gradient(tmp_path))


def test_audio_errors_read_well(service, tmp_path, speech_3s):
    waveform = service.load_audio(speech_3s)
    assert abs(waveform.seconds - 3.0) < 0.01
    with pytest.raises(AudioError, match="Add speech first"):
        service.load_audio(None)
    bad = tmp_path / "voice.wav"
    bad.write_text("text, not sound\n" * 20)
    with pytest.raises(AudioError) as info:
        service.load_audio(bad)
    assert str(info.value).startswith("The audio voice.wav cannot be used") and str(tmp_path) not in str(info.value)
    from makeittalk.pipelines.demo import demo_speech_path

    with pytest.raises(AudioError, match=r"is longer than 5 s, the most this app accepts"):
        service.load_audio(demo_speech_path())
    import soundfile as sf

    silent = tmp_path / "silence.wav"
    sf.write(str(silent), np.zeros(16000, np.int16), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="silent"):
        service.load_audio(silent)


def test_file_size_limit(tmp_path, speech_3s):
    tiny = AppService(AppConfig(work_dir=tmp_path / "w", max_upload_mb=0.01))
    with pytest.raises(MakeItTalkError, match=r"this app accepts files up to 0\.01 MB"):
        tiny.load_audio(speech_3s)


def test_landmark_file_outside_the_image_is_refused(service, tmp_path):
    far = tmp_path / "far.txt"
    far.write_text("".join(f"{1000 + i} {2000 + i}\n" for i in range(68)))
    with pytest.raises(MakeItTalkError, match="outside the 360x300 portrait"):
        service.read_landmarks_file(far, (360, 300))
    short = tmp_path / "short.txt"
    short.write_text("1 2\n3 4\n")
    with pytest.raises(MakeItTalkError, match="The landmark file cannot be used: short.txt: found 2 points"):
        service.read_landmarks_file(short, (360, 300))


def test_landmark_file_as_npy_is_read(service, tmp_path):
    points = np.stack([np.linspace(40, 300, 68), np.linspace(30, 260, 68)], axis=1)
    path = tmp_path / "face.npy"
    np.save(path, points)
    np.testing.assert_array_equal(service.read_landmarks_file(path, (360, 300)), points)


# --------------------------------------------------------------------------- puppets and the editor


def test_save_and_reuse_a_puppet(service, tmp_path):
    from renderer import Puppet

    image = _gradient(tmp_path)
    pts = standard_points_in(360, 300)
    folder, archive = service.save_puppet(image, pts, "my face!")
    assert folder.name == "my_face" and folder.parent == tmp_path / "puppets"
    assert archive.suffix == ".zip" and archive.is_relative_to(service.outputs_dir)
    puppet = Puppet.load(folder)
    np.testing.assert_allclose(puppet.landmarks[:, :2], pts, atol=1e-6)
    assert service.list_puppets() == ["my_face"]
    copy, landmarks = service.load_puppet("my_face")
    info = service.inspect_portrait(copy)  # a picked puppet brings its points, no detection
    assert info.source == "known" and "Saved puppet 'my_face'" in info.message
    np.testing.assert_allclose(info.landmarks, pts, atol=1e-6)
    with pytest.raises(MakeItTalkError, match="Give the puppet a name"):
        service.save_puppet(image, pts, "  ")
    with pytest.raises(MakeItTalkError, match="no saved puppet"):
        service.load_puppet("nobody")


def test_editor_value_round_trip():
    rgba = np.zeros((300, 360, 4), np.uint8)
    rgba[..., 3] = 255
    pts = standard_points_in(360, 300)
    value = editor_value(rgba, pts)
    assert value["width"] == 360 and value["height"] == 300 and value["image"].startswith("data:image/jpeg;base64,")
    np.testing.assert_allclose(editor_points(value), pts, atol=0.01)
    assert editor_size(value) == (360, 300)
    assert editor_points(None) is None and editor_points({"points": [[1, 2]]}) is None
    rgba[0, 0, 3] = 0
    assert data_url(rgba).startswith("data:image/png;base64,")  # transparency kept
    big = np.full((2000, 1000, 4), 255, np.uint8)
    shown = Image.open(__import__("io").BytesIO(__import__("base64").b64decode(data_url(big).split(",", 1)[1])))
    assert max(shown.size) == 640  # a display copy; the points stay in full-size pixels


def test_progress_bar_maps_stages_onto_one_bar():
    from makeittalk.app.ui import ProgressBar
    from makeittalk.pipelines.progress import STAGES, ProgressEvent

    calls = []
    bar = ProgressBar(lambda value, desc: calls.append((value, desc)))
    bar(ProgressEvent("face", 0.0))
    bar(ProgressEvent("face", 1.0, "dlib, photo"))
    bar(ProgressEvent("audio features", 0.0, "3.0 s of audio"))
    bar(ProgressEvent("landmarks", 1.0, "75 frames at 25 fps"))
    bar(ProgressEvent("rendering", 0.5, "", 4.0, 37, 75))
    bar(ProgressEvent("encoding", 1.0))
    bar(ProgressEvent("done", 1.0, "wrote /tmp/secret/path.mp4"))
    values = [v for v, _ in calls]
    assert values == sorted(values) and values[-1] == 1.0
    assert calls[4][1] == "rendering 37/75 frames (about 4 s left)"
    assert "audio features: 3.0 s of audio" == calls[2][1]
    assert "/tmp/secret" not in calls[-1][1]
    assert set(STAGES) <= set(__import__("makeittalk.app.ui", fromlist=["STAGE_SPANS"]).STAGE_SPANS)


# --------------------------------------------------------------------------- serving settings


def test_analytics_off_and_safe_launch_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "unused"))
    import gradio as gr

    from makeittalk.app import build_app

    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    config = AppConfig(work_dir=tmp_path / "work", puppets_dir=tmp_path / "p", max_upload_mb=7, concurrency=2,
                       queue_size=5)
    demo = build_app(config)
    assert isinstance(demo, gr.Blocks) and demo.analytics_enabled is False
    assert os.environ["GRADIO_TEMP_DIR"] == str(tmp_path / "work" / "gradio")
    assert demo._queue.max_size == 5
    render = next(f for f in demo.fns.values() if f.name == "on_render")
    assert render.concurrency_limit == 2
    captured = {}
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: captured.update(kw))
    demo.launch()
    assert captured["server_name"] == "127.0.0.1" and captured["server_port"] == 7860
    assert captured["share"] is False and captured["allowed_paths"] == [str(demo.makeittalk_service.outputs_dir)]
    assert captured["max_file_size"] == 7 * 1024 * 1024 and captured["show_error"] is False
    fonts = [getattr(f, "name", f) for f in captured["theme"]._font]
    assert all(not type(f).__name__ == "GoogleFont" for f in captured["theme"]._font), fonts
    assert captured["theme"]._stylesheets == []  # no font CSS fetched from anywhere
    with pytest.raises(MakeItTalkError, match="share links are disabled"):
        demo.launch(share=True)


def test_file_route_never_fetches_urls():
    from makeittalk.app.ui import _OfflineGuard

    sent = []

    async def inner(scope, receive, send):
        sent.append(("inner", scope["path"]))

    async def send(message):
        sent.append(message)

    guard = _OfflineGuard(inner)
    asyncio.run(guard({"type": "http", "path": "/gradio_api/file=https://example.com/a.png"}, None, send))
    assert sent[0]["status"] == 403
    sent.clear()
    asyncio.run(guard({"type": "http", "path": "/gradio_api/file=/tmp/x.png"}, None, send))
    assert sent == [("inner", "/gradio_api/file=/tmp/x.png")]


def test_config_validation():
    with pytest.raises(MakeItTalkError, match="--concurrency"):
        AppConfig(concurrency=0).validate()
    with pytest.raises(MakeItTalkError, match="--max-upload-mb"):
        AppConfig(max_upload_mb=0).validate()


def test_cli_options_and_defaults(capsys):
    from makeittalk.cli.app_cmd import config_from_args
    from makeittalk.cli.main import build_parser

    args = build_parser().parse_args(["app"])
    config = config_from_args(args)
    assert (config.host, config.port, config.weights, config.concurrency) == ("127.0.0.1", 7860, "auto", 1)
    args = build_parser().parse_args(["app", "--host", "0.0.0.0", "--port", "8080", "--max-upload-mb", "5",
                                      "--max-audio-seconds", "30", "--concurrency", "2", "--no-warm-up"])
    config = config_from_args(args)
    assert (config.host, config.port, config.max_upload_mb, config.max_audio_seconds, config.concurrency,
            config.warm_up) == ("0.0.0.0", 8080, 5.0, 30.0, 2, False)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["app", "--port", "70000"])
    assert "a port is at most 65535" in capsys.readouterr().err


def test_demo_launcher_is_a_thin_layer():
    result = subprocess.run([sys.executable, str(REPO_ROOT / "demo" / "app.py"), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--host" in result.stdout and "--max-audio-seconds" in result.stdout
    source = (REPO_ROOT / "demo" / "app.py").read_text()
    assert "build_app" in source and len(source.splitlines()) < 30


# --------------------------------------------------------------------------- rendering (real pipeline)


@pytest.fixture(scope="module")
def weights_home(reference_dir, tmp_path_factory) -> Path:
    from makeittalk.app.testing import install_rule_filled_weights

    home = tmp_path_factory.mktemp("app_service_home")
    install_rule_filled_weights(home, reference_dir, "original", checkpoints=tmp_path_factory.mktemp("ckpts"))
    return home


def test_render_with_edited_points(weights_home, no_shipped_weights, monkeypatch, tmp_path, speech_3s):
    """The editor's points drive the video: a face-less image renders once the points are placed.

    Without shipped defaults, "auto" falls back to the imported 'original' set.
    """
    monkeypatch.setenv("MAKEITTALK_HOME", str(weights_home))
    service = AppService(AppConfig(work_dir=tmp_path / "work", puppets_dir=tmp_path / "puppets"))
    assert service.resolve_weights() == "original"
    text, ok = service.weights_banner()
    assert ok and "original" in text
    image = _gradient(tmp_path)
    events = []
    outcome = service.render(
        RenderRequest(portrait=str(image), audio=str(speech_3s), points=standard_points_in(360, 300), fps=20,
                      still=True),
        progress=events.append,
    )
    assert outcome.video.is_file() and outcome.video.read_bytes()[4:8] == b"ftyp"
    assert outcome.video.is_relative_to(service.outputs_dir) and outcome.landmarks_json.is_file()
    assert outcome.result.renderer == "warp" and outcome.result.num_frames == 60
    assert "weights 'original' and the warp renderer" in outcome.info and "60 frames at 20 fps" in outcome.info
    stages = [e.stage for e in events]
    assert {"face", "audio features", "landmarks", "rendering", "encoding"} <= set(stages)
    # Without the points, the same image is refused with the page's message.
    with pytest.raises(MakeItTalkError, match="No face was found in gradient.png"):
        service.render(RenderRequest(portrait=str(image), audio=str(speech_3s)))


def test_cartoon_example_on_a_chosen_background(weights_home, monkeypatch, tmp_path):
    """The built-in drawn face uses its known points; its transparent parts show the background colour."""
    import imageio_ffmpeg
    import soundfile as sf

    from makeittalk.pipelines.demo import demo_speech_path

    monkeypatch.setenv("MAKEITTALK_HOME", str(weights_home))
    service = AppService(AppConfig(work_dir=tmp_path / "work"))
    cartoon, _, _ = service.examples()[0]
    samples, rate = sf.read(str(demo_speech_path()), dtype="int16")
    clip = tmp_path / "one second.wav"
    sf.write(str(clip), samples[:rate], rate, subtype="PCM_16")
    outcome = service.render(RenderRequest(portrait=cartoon, audio=str(clip), background="#00c000", fps=10,
                                           renderer="auto"))
    assert outcome.result.renderer == "warp" and outcome.result.num_frames == 10
    reader = imageio_ffmpeg.read_frames(str(outcome.video))
    meta = next(reader)
    frame = np.frombuffer(next(reader), np.uint8).reshape(meta["size"][1], meta["size"][0], 3)
    corner = frame[:20, :20].reshape(-1, 3).mean(0)
    assert abs(corner[0] - 0) < 12 and abs(corner[1] - 192) < 12 and abs(corner[2] - 0) < 12, corner


def test_background_is_a_colour_or_an_uploaded_image_never_another_server_file(service, tmp_path):
    assert service.check_background(None) is None and service.check_background("") is None
    assert service.check_background("#00c000") == "#00c000"
    assert service.check_background("white") == "white"
    uploaded = service.gradio_dir / "upload" / "bg.png"
    uploaded.parent.mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(uploaded)
    assert service.check_background(str(uploaded)) == str(uploaded)
    private = tmp_path / "private.png"  # beside the app's folder, not inside it
    Image.new("RGB", (8, 8), "blue").save(private)
    for value in (str(private), str(service.work_dir / ".." / "private.png"), "/etc/hostname", "not a colour"):
        with pytest.raises(MakeItTalkError, match="colour .* or an image uploaded here"):
            service.check_background(value)


def test_sigterm_stops_the_app_and_removes_its_private_folder(tmp_path):
    """`kill PID` must clean up like Ctrl+C does, quickly, and the console never offers a share link."""
    import signal
    import time

    from makeittalk.app.testing import free_port

    env = {**os.environ, "TMPDIR": str(tmp_path), "MAKEITTALK_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    env.pop("GRADIO_TEMP_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "makeittalk", "app", "--no-warm-up", "--port", str(free_port()),
         "--puppets-dir", str(tmp_path / "puppets")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
    )
    lines = []
    try:
        for line in process.stdout:  # blocks until the app prints its address (or exits)
            lines.append(line)
            if "running on http://127.0.0.1" in line:
                break
        assert process.poll() is None, "".join(lines)
        private = list(tmp_path.glob("makeittalk-app-*"))
        assert len(private) == 1 and (private[0] / "outputs").is_dir(), "".join(lines)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        rest = process.communicate(timeout=60)[0]
        stopped_s = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = "".join(lines) + rest
    assert process.returncode == 0, log
    assert not private[0].exists(), log
    left = sorted(p.name for p in tmp_path.iterdir())
    assert set(left) <= {"home", "puppets"}, left  # nothing in the temporary folder (gradio's cache included)
    assert "share=True" not in log and "public link" not in log, log
    # 2 s on a quiet machine; the bound leaves room for a loaded CI runner.
    assert stopped_s < 10, (stopped_s, log)
