"""The web app in a real browser: Debian's Chromium, headless, driven by Playwright.

One `makeittalk app` server (a subprocess on a free 127.0.0.1 port, rule-filled original
weights in a private MAKEITTALK_HOME, no shipped weights, so "auto" picks them) serves every
test here. Screenshots go to
test-artifacts/. Without /usr/bin/chromium the tests are skipped, except under CI (CI=true),
where that is a failure.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from makeittalk.app.testing import app_server, chromium, chromium_available, install_rule_filled_weights, is_local_url

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "test-artifacts"
SET_NAME = "original"
MAX_UPLOAD_MB = 3


def _require_chromium() -> None:
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the playwright package is not installed (pip install -e '.[test]')"
    if not chromium_available():
        problem = "/usr/bin/chromium is not installed (apt-get install chromium)"
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{problem}: CI must run the browser tests")
    pytest.skip(f"{problem}; the browser tests need it")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Files a user would upload: a photo, a face-less image, speech, broken audio, a big file."""
    import soundfile as sf
    from PIL import Image

    from makeittalk.pipelines.demo import demo_portrait, demo_speech_path
    from renderer.synthetic import cartoon_landmarks

    folder = tmp_path_factory.mktemp("uploads")
    files = {"photo": folder / "astronaut.png", "noface": folder / "gradient.png", "speech": folder / "speech.wav",
             "bad_audio": folder / "not_audio.wav", "big": folder / "huge.png", "points": folder / "points.txt"}
    Image.fromarray(demo_portrait()).save(files["photo"])
    ramp = np.linspace(40, 220, 360).astype(np.uint8)
    Image.fromarray(np.stack([np.tile(ramp, (300, 1))] * 3, axis=2)).save(files["noface"])
    speech, rate = sf.read(str(demo_speech_path()), dtype="int16")
    sf.write(str(files["speech"]), speech[: int(3.0 * rate)], rate, subtype="PCM_16")  # 3 s: quick renders
    files["bad_audio"].write_text("this is a text file, not a recording\n" * 50)
    noise = np.random.default_rng(0).integers(0, 256, (1200, 1200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(files["big"])  # ~4.3 MB of incompressible pixels
    assert files["big"].stat().st_size > MAX_UPLOAD_MB * 1024 * 1024
    # The cartoon's known landmarks scaled into the 360x300 gradient image: a hand-made file.
    pts = cartoon_landmarks(512)[:, :2] * (280 / 512) + np.array([40.0, 10.0])
    files["points"].write_text("".join(f"{x:.2f} {y:.2f}\n" for x, y in pts))
    return files


@pytest.fixture(scope="module")
def server(reference_dir, tmp_path_factory):
    _require_chromium()
    home = tmp_path_factory.mktemp("app_home")
    install_rule_filled_weights(home, reference_dir, SET_NAME, checkpoints=tmp_path_factory.mktemp("ckpts"))
    env = dict(os.environ, MAKEITTALK_PRETRAINED=str(tmp_path_factory.mktemp("no_shipped_pretrained")))
    with app_server(home=home, root=tmp_path_factory.mktemp("app_server"), env=env,
                    args=["--max-upload-mb", str(MAX_UPLOAD_MB), "--max-audio-seconds", "20"]) as running:
        yield running
    assert running.outside_connections() == [], "the app server contacted hosts other than this computer"


@pytest.fixture(scope="module")
def playwright(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def browser(playwright):
    with chromium(playwright) as context:
        yield context
        outside = [url for url in context.requests if not is_local_url(url)]
    assert outside == [], f"the page requested non-local URLs: {outside[:10]}"


@pytest.fixture
def page(browser, server):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url)
    page.wait_for_selector("#mit-go", timeout=60_000)
    page.wait_for_function("document.querySelector('#mit-weights').innerText.length > 0", timeout=30_000)
    yield page
    page.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def _upload_portrait(page, path: Path) -> None:
    page.set_input_files("#mit-portrait input[type=file]", str(path))
    page.wait_for_function("document.querySelectorAll('#mit-editor circle.mit-point').length == 68", timeout=60_000)


def _upload_audio(page, path: Path) -> None:
    page.set_input_files("#mit-audio input[type=file]", str(path))
    page.wait_for_selector("#mit-audio audio, #mit-audio [data-testid=waveform-Speech], #mit-audio .waveform-container",
                           state="attached", timeout=30_000)


def _result_text(page) -> str:
    return page.inner_text("#mit-result")


def _wait_for_video(page, timeout_ms: int = 240_000) -> float:
    """Wait for a playable video; a render error in the page ("Add speech first: ...") fails at once with its text."""
    page.wait_for_function(
        "(() => { const v = document.querySelector('#mit-video video');"
        " if (v && v.src && v.readyState >= 1 && v.duration > 0) return true;"
        " const r = document.querySelector('#mit-result');"
        " return !!(r && /error|cannot|could not|failed|first:/i.test(r.innerText)); })()",
        timeout=timeout_ms,
    )
    duration = page.evaluate("(() => { const v = document.querySelector('#mit-video video');"
                             " return v && v.duration > 0 ? v.duration : 0; })()")
    assert duration > 0, f"no video; the page says: {_result_text(page)!r}"
    return float(duration)


def _stage_seen(page, stages: set[str]) -> None:
    text = page.evaluate("Array.from(document.querySelectorAll('#mit-video .progress-level, #mit-video .progress-text'))"
                         ".map(e => e.innerText).join(' ')")
    for stage in ("face", "audio features", "landmarks", "rendering", "encoding"):
        if stage in text:
            stages.add(stage)


def test_upload_render_play_and_download(page, server, inputs):
    _upload_portrait(page, inputs["photo"])
    assert "Face found by" in page.inner_text("#mit-landmark-note")
    _upload_audio(page, inputs["speech"])
    started = time.perf_counter()
    page.click("#mit-go")
    stages: set[str] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        _stage_seen(page, stages)
        if page.evaluate("!!(document.querySelector('#mit-video video') || "
                         "document.querySelector('#mit-result .mit-error'))"):
            break
        time.sleep(0.05)
    assert "mit-error" not in page.inner_html("#mit-result"), _result_text(page)
    duration = _wait_for_video(page)
    elapsed = time.perf_counter() - started
    assert 2.8 < duration < 3.4, duration  # the 3 s clip, within a frame or two
    assert stages & {"rendering", "landmarks", "audio features"}, f"no stage names seen in the progress bar: {stages}"
    result = _result_text(page)
    assert f"weights '{SET_NAME}'" in result and "warp renderer" in result, result
    assert "frames at 25 fps" in result and " in " in result

    links = page.eval_on_selector_all("#mit-downloads a", "els => els.map(e => [e.textContent.trim(), e.href])")
    names = {Path(href.split("file=")[-1]).name for _, href in links}
    assert names == {"astronaut_talking.mp4", "astronaut_landmarks.json"}, links
    downloaded = {}
    for _, href in links:
        with page.expect_download() as info:
            page.click(f"#mit-downloads a[href='{href}']")
        downloaded[Path(href).suffix] = Path(info.value.path()).read_bytes()
    mp4 = downloaded[".mp4"]
    assert mp4[4:8] == b"ftyp" and len(mp4) > 10_000
    data = json.loads(downloaded[".json"])
    assert data["num_frames"] == len(data["landmarks"]) and data["fps"] == 25.0
    assert np.asarray(data["landmarks"]).shape[1:] == (68, 3)
    assert data["image_size"] == [400, 400] and data["weights"] == SET_NAME
    # The same files through the browser's fetch: what the video element and the links serve.
    fetched = page.evaluate("""async (url) => { const r = await fetch(url);
        const b = new Uint8Array(await r.arrayBuffer()); return [r.status, b.length]; }""",
                            [h for _, h in links if h.endswith(".mp4")][0])
    assert fetched[0] in (200, 206) and fetched[1] == len(mp4)
    shot = _screenshot(page, "app_render.png")
    print(f"\nclick to video: {elapsed:.1f} s for a 3 s clip; screenshot {shot}")


def test_typed_text_makes_a_talking_video(page, inputs):
    """The text box beside the audio upload: typed words are spoken offline and animated."""
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (.ci/run installs it)")
    _upload_portrait(page, inputs["photo"])
    page.fill("#mit-text textarea", "Good morning, my name is Bob.")
    page.click("#mit-go")
    duration = _wait_for_video(page)
    assert 1.0 < duration < 4.0, duration
    assert "mit-error" not in page.inner_html("#mit-result"), _result_text(page)
    _screenshot(page, "app_text.png")


def test_no_face_gives_a_readable_message(page, inputs):
    _upload_portrait(page, inputs["noface"])
    note = page.inner_text("#mit-landmark-note")
    assert "No face was found in gradient.png" in note and "drag the points" in note
    _upload_audio(page, inputs["speech"])
    page.click("#mit-go")
    page.wait_for_selector("#mit-result .mit-error", timeout=60_000)
    text = _result_text(page)
    assert "No face was found in gradient.png" in text
    assert "Traceback" not in page.inner_text("body") and "File \"" not in text
    assert page.query_selector("#mit-video video") is None
    _screenshot(page, "app_no_face.png")


def test_bad_audio_and_too_large_files_give_readable_messages(page, inputs):
    _upload_portrait(page, inputs["photo"])
    page.set_input_files("#mit-audio input[type=file]", str(inputs["bad_audio"]))
    time.sleep(0.5)
    page.click("#mit-go")
    page.wait_for_selector("#mit-result .mit-error", timeout=60_000)
    text = _result_text(page)
    assert "The audio not_audio.wav cannot be used" in text and "Traceback" not in text
    # Bigger than --max-upload-mb: refused before upload, with the limit in the message.
    page.set_input_files("#mit-portrait input[type=file]", str(inputs["big"]))
    toast = page.wait_for_selector("text=exceed the maximum allowed size", timeout=15_000)
    assert f"{MAX_UPLOAD_MB:.1f}" in toast.inner_text() or str(MAX_UPLOAD_MB) in toast.inner_text()
    time.sleep(0.6)  # let the message finish fading in for the screenshot
    _screenshot(page, "app_errors.png")


def test_landmark_file_drag_and_save_puppet(page, server, inputs):
    _upload_portrait(page, inputs["noface"])
    # A landmark file replaces the starting points and switches the video to them.
    with page.expect_file_chooser() as chooser:
        page.click("#mit-landmark-file")
    chooser.value.set_files(str(inputs["points"]))
    page.wait_for_function("document.querySelector('#mit-landmark-note').innerText.includes('Loaded 68 points')",
                           timeout=30_000)
    expected = np.loadtxt(inputs["points"])
    shown = np.array(page.eval_on_selector_all(
        "#mit-editor circle.mit-point", "cs => cs.map(c => [Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))])"))
    np.testing.assert_allclose(shown, expected, atol=0.01)
    assert page.is_checked("#mit-mode input[value=editor]")

    # Drag the chin (point 8) 20 image pixels down with the mouse.
    page.click("#mit-mode input[value=detect]")
    chin = page.query_selector("#mit-editor circle.mit-point[data-index='8']")
    box = chin.bounding_box()
    svg_box = page.query_selector("#mit-editor svg").bounding_box()
    scale = svg_box["width"] / 360.0  # the image is 360 px wide
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 6):
        page.mouse.move(x, y + 20 * scale * step / 5)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#mit-landmark-note').innerText.includes('edited points')",
                           timeout=15_000)
    assert page.is_checked("#mit-mode input[value=editor]")  # dragging switches to the edited points

    page.click("#mit-save-puppet")
    page.fill("#mit-puppet-name textarea, #mit-puppet-name input", "gradient_face")
    page.click("#mit-save-puppet-btn")
    page.wait_for_function("document.querySelector('#mit-landmark-note').innerText.includes('Saved the puppet')",
                           timeout=30_000)
    folder = server.puppets_dir / "gradient_face"
    description = json.loads((folder / "puppet.json").read_text())
    assert description["image_size"] == [360, 300]
    saved = np.loadtxt(folder / "landmarks.txt")
    moved = expected.copy()
    moved[8, 1] += 20
    np.testing.assert_allclose(saved[:, :2], moved, atol=1.0)
    assert page.query_selector("#mit-puppet-file a") is not None  # the zip to download
    _screenshot(page, "app_landmark_editor.png")

    # The saved puppet is offered for reuse, and picking it brings its points back.
    page.reload()
    page.wait_for_selector("#mit-go", timeout=60_000)
    page.click("#mit-puppet-pick input")
    page.click("[role=option]:has-text('gradient_face')")
    page.wait_for_function("document.querySelector('#mit-landmark-note').innerText.includes(\"Saved puppet 'gradient_face'\")",
                           timeout=30_000)
    shown = np.array(page.eval_on_selector_all(
        "#mit-editor circle.mit-point", "cs => cs.map(c => [Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))])"))
    np.testing.assert_allclose(shown, moved, atol=1.0)


def test_microphone_recording_makes_a_video(playwright, server, inputs):
    """Chromium's fake microphone (a beep) recorded through the audio component, then rendered."""
    fake_mic = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    with chromium(playwright, extra_args=fake_mic, permissions=["microphone"]) as context:
        page = context.new_page()
        page.goto(server.url)
        page.wait_for_selector("#mit-go", timeout=60_000)
        _upload_portrait(page, inputs["photo"])
        page.click("#mit-audio button[aria-label='Record audio']")
        page.click("#mit-audio button.record-button")
        time.sleep(2.0)  # the length of the recording, not a wait for an event
        # Go must not be pressed before the recording has reached the server: wait for its upload.
        with page.expect_response(lambda r: "/upload" in r.url and r.request.method == "POST", timeout=60_000):
            page.click("#mit-audio button.stop-button")
        page.wait_for_selector("#mit-audio audio, #mit-audio [data-testid=waveform-Speech] .waveform-container",
                               state="attached", timeout=30_000)
        page.click("#mit-go")
        duration = _wait_for_video(page)
        assert 1.0 < duration < 4.0, duration
        assert "mit-ok" in page.inner_html("#mit-result"), _result_text(page)
        outside = [url for url in context.requests if not is_local_url(url)]
    assert outside == []


def test_two_users_at_once_both_get_videos(browser, server, inputs):
    outputs = server.work_dir / "outputs"
    before = set(outputs.glob("*/*_talking.mp4"))
    pages = [browser.new_page() for _ in range(2)]
    try:
        for page in pages:
            page.goto(server.url)
            page.wait_for_selector("#mit-go", timeout=60_000)
            _upload_portrait(page, inputs["photo"])
            _upload_audio(page, inputs["speech"])
        for page in pages:  # both click before either video is ready: the second one queues
            page.click("#mit-go")
        durations = [_wait_for_video(page, 180_000) for page in pages]
        assert all(2.8 < d < 3.4 for d in durations), durations
        made = set(outputs.glob("*/*_talking.mp4")) - before
        assert len(made) == 2, made  # two renders (the same inputs give byte-identical videos)
        for page in pages:
            assert "mit-ok" in page.inner_html("#mit-result")
    finally:
        for page in pages:
            page.close()


def test_offline_local_only_and_analytics_off(page, server):
    _screenshot(page, "app_start.png")  # what a new user sees first
    page.get_by_text("drawn cartoon", exact=True).click()
    page.wait_for_function("document.querySelectorAll('#mit-editor circle.mit-point').length == 68", timeout=60_000)
    assert "known exactly" in page.inner_text("#mit-landmark-note")
    config = json.loads(urllib.request.urlopen(server.url + "config", timeout=10).read())
    assert config.get("analytics_enabled") is False
    html = urllib.request.urlopen(server.url, timeout=10).read().decode()
    assert "fonts.googleapis" not in html and "cdn.jsdelivr" not in html
    # Only generated files are served: not the repository, not system files, not URLs.
    for path in ("/etc/passwd", str(REPO_ROOT / "pyproject.toml"), "https://example.com/x.png"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{server.url}gradio_api/file={path}", timeout=10)
        assert refused.value.code in (403, 404)
    log = server.log()
    assert "127.0.0.1" in log and "gradio.live" not in log and "Traceback" not in log
    assert server.outside_connections() == []
    outside = [url for url in page.context.requests if not is_local_url(url)]
    assert outside == []


def test_without_weights_the_page_says_how_to_get_them(playwright, no_shipped_weights, tmp_path):
    # An install without its shipped weights and an empty MAKEITTALK_HOME: no weight set at all.
    empty_home = tmp_path / "home"
    empty_home.mkdir()
    with app_server(home=empty_home, root=tmp_path / "server", args=["--no-warm-up"]) as bare, \
            chromium(playwright) as context:
        page = context.new_page()
        page.goto(bare.url)
        page.wait_for_selector("#mit-weights .mit-warn", timeout=60_000)
        banner = page.inner_text("#mit-weights")
        assert "No weight set is installed" in banner
        assert "makeittalk weights import-original DIR --name original" in banner
        page.get_by_text("drawn cartoon", exact=True).click()
        page.wait_for_function("document.querySelectorAll('#mit-editor circle.mit-point').length == 68",
                               timeout=60_000)
        page.click("#mit-go")
        page.wait_for_selector("#mit-result .mit-error", timeout=60_000)
        assert "import-original" in _result_text(page)
        _screenshot(page, "app_no_weights.png")
        outside = [url for url in context.requests if not is_local_url(url)]
    assert outside == [] and bare.outside_connections() == []
