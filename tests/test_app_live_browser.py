"""The Live tab in headless Chromium: the fake microphone plays speech, frames arrive in the page
and the mouth moves while it speaks. The server uses the shipped default weights."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from makeittalk.app.testing import app_server, chromium, chromium_available, is_local_url

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    if not chromium_available():
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium)")
    home = tmp_path_factory.mktemp("live_home")
    with app_server(home=home, root=tmp_path_factory.mktemp("live_server")) as running:
        yield running
    assert running.outside_connections() == [], "the app server contacted hosts other than this computer"


@pytest.fixture(scope="module")
def speech_file(tmp_path_factory):
    import soundfile as sf

    from makeittalk.audio import load_audio
    from makeittalk.pipelines.demo import demo_speech_path

    # Chromium's fake capture device plays (and loops) this file instead of a beep.
    path = tmp_path_factory.mktemp("fake_mic") / "speech.wav"
    sf.write(str(path), load_audio(demo_speech_path()).samples, 16000, subtype="PCM_16")
    return path


def test_live_tab_talks_back_while_the_microphone_speaks(server, speech_file):
    from playwright.sync_api import sync_playwright

    fake_mic = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-audio-capture={speech_file}"]
    with sync_playwright() as playwright, chromium(playwright, extra_args=fake_mic,
                                                   permissions=["microphone"]) as context:
        page = context.new_page()
        page.goto(server.url)
        page.wait_for_selector("#mit-go", timeout=60_000)
        page.get_by_role("tab", name="Live").click()
        page.wait_for_selector("#mit-live-mic", state="visible", timeout=60_000)
        page.click("#mit-live-mic button.record-button, #mit-live-mic button[aria-label='Record audio']")
        # Frames arrive: the figures line counts them (an event in the page, waited for).
        page.wait_for_function("(() => { const e = document.querySelector('#mit-live-figures');"
                               " return e && /live: ([0-9]+) frames/.exec(e.innerText) &&"
                               " +/live: ([0-9]+) frames/.exec(e.innerText)[1] >= 100; })()", timeout=120_000)
        openings = set()
        for _ in range(20):  # sample the opening as the stream goes on
            text = page.inner_text("#mit-live-figures")
            openings.add(re.search(r"mouth opening ([0-9.]+)", text).group(1))
            page.wait_for_function("(prev) => document.querySelector('#mit-live-figures').innerText != prev",
                                   arg=text, timeout=30_000)
        src = page.get_attribute("#mit-live-picture img", "src")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "app_live.png"), full_page=True)
        outside = [url for url in context.requests if not is_local_url(url)]
    assert src, "no picture in the Live tab"
    values = sorted(float(v) for v in openings)
    # The mouth moves while the fake device speaks: the opening takes many values over a wide range.
    assert len(values) >= 5 and values[-1] - values[0] > 0.02, values
    assert outside == [], outside
