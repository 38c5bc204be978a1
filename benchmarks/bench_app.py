"""Click-to-video time of the web app for a 10-second clip, through the real browser.

    python benchmarks/bench_app.py                      # rule-filled weights, warp renderer, 3 clicks
    python benchmarks/bench_app.py --translator         # also the image translator on the photo
    python benchmarks/bench_app.py --weights original   # an installed weight set instead

A `makeittalk app` server is started on a free 127.0.0.1 port and the benchmark waits until
it has loaded the networks (which `makeittalk app` does in the background at start), Debian's Chromium opens the page headless, the portrait
and the 10 s speech are uploaded, and the time runs from the click on "Make it talk" until
the page's <video> has loaded its metadata (a playable source of non-zero duration). Each
portrait is clicked --repeat times: the first click also pays for one-off work (the face
detection, renderer set-up); later ones are what a user who re-renders sees.

`server_s` is the time the app reports for the render itself (the result line); the rest of
`click_to_video_s` is the queue, the upload of the result into gradio's cache, the transfer
to the browser and the video element loading it.

Without --weights, rule-filled original-layout checkpoints (tests/original_checkpoints.py,
same sizes as the real ones) are imported into a temporary MAKEITTALK_HOME: timing does not
depend on the weight values. The speech is LibriSpeech from ../shared/data when present,
else the bundled espeak clip repeated to 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MAKEITTALK_SHARED", REPO_ROOT.parent / "shared"))
SPEECH_DIR = SHARED / "data" / "speech" / "librispeech" / "wav"
REFERENCE_DIR = SHARED / "reference" / "makeittalk"


def build_clip(seconds: float, out_path: Path) -> tuple[Path, str]:
    import soundfile as sf

    from makeittalk.pipelines.demo import demo_speech_path

    needed = int(seconds * 16000)
    parts, total, source = [], 0, "LibriSpeech"
    for path in sorted(SPEECH_DIR.glob("*.wav")) if SPEECH_DIR.is_dir() else []:
        data, rate = sf.read(str(path), dtype="int16")
        if rate == 16000 and data.ndim == 1:
            parts.append(data)
            total += len(data)
        if total >= needed:
            break
    if total < needed:
        data, _ = sf.read(str(demo_speech_path()), dtype="int16")
        parts, source = [data] * (needed // len(data) + 1), "the bundled espeak clip, repeated"
    sf.write(str(out_path), np.concatenate(parts)[:needed], 16000, subtype="PCM_16")
    return out_path, source


def install_weights(home: Path, translator: bool) -> str:
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from original_checkpoints import write_original_checkpoint

    from makeittalk.app.testing import install_rule_filled_weights

    ckpts = home / "ckpts"
    if translator:  # without the pickled optimizer object: imports without --trust-pickle
        write_original_checkpoint(REFERENCE_DIR / "ckpt_116_i2i_comb.manifest.json", ckpts / "ckpt_116_i2i_comb.pth",
                                  variants=("no_opt",))
    return install_rule_filled_weights(home, REFERENCE_DIR, "bench-rulefilled", checkpoints=ckpts)


def click_to_video(page, url: str, portrait: Path, audio: Path, renderer: str) -> dict:
    page.goto(url)
    page.wait_for_selector("#mit-go", timeout=60_000)
    page.set_input_files("#mit-portrait input[type=file]", str(portrait))
    page.wait_for_function("document.querySelectorAll('#mit-editor circle.mit-point').length == 68", timeout=60_000)
    page.set_input_files("#mit-audio input[type=file]", str(audio))
    page.wait_for_selector("#mit-audio audio, #mit-audio .waveform-container", state="attached", timeout=30_000)
    if renderer != "auto":
        page.click("#mit-options")
        page.get_by_label(renderer, exact=True).check()
    time.sleep(0.5)  # let the upload settle: the timer measures the render, not the upload
    started = time.perf_counter()
    page.click("#mit-go")
    page.wait_for_function(
        "(() => { const v = document.querySelector('#mit-video video');"
        " const e = document.querySelector('#mit-result .mit-error');"
        " return !!e || !!(v && v.src && v.readyState >= 1 && v.duration > 0); })()",
        timeout=600_000,
    )
    elapsed = time.perf_counter() - started
    result = page.inner_text("#mit-result")
    if "mit-error" in page.inner_html("#mit-result"):
        raise SystemExit(f"the app reported an error: {result}")
    duration = page.evaluate("document.querySelector('#mit-video video').duration")
    server = re.search(r"in ([0-9.]+) s\.", result)
    used = re.search(r"the (\w+) renderer", result)
    return {"click_to_video_s": round(elapsed, 2), "server_s": float(server.group(1)) if server else None,
            "video_s": round(float(duration), 2), "renderer": used.group(1) if used else "?"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="speech length (default 10)")
    parser.add_argument("--repeat", type=int, default=3, help="clicks per portrait (default 3)")
    parser.add_argument("--weights", default=None, help="an installed weight set (default: rule-filled, temporary)")
    parser.add_argument("--translator", action="store_true",
                        help="also time the image translator (auto renderer on the photo)")
    parser.add_argument("--screenshot", default=None, help="save a screenshot of the last page here")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright
    from PIL import Image

    from makeittalk.app.testing import app_server, chromium, chromium_available
    from makeittalk.pipelines.demo import demo_portrait
    from renderer.synthetic import draw_cartoon_face

    if not chromium_available():
        raise SystemExit("/usr/bin/chromium is missing (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        tmp_path = Path(tmp)
        home = tmp_path / "home"
        if args.weights is None:
            install_weights(home, args.translator)
            server_args = []
        else:
            home = Path(os.environ.get("MAKEITTALK_HOME", Path.home() / ".cache" / "makeittalk"))
            server_args = ["--weights", args.weights]
        clip, source = build_clip(args.seconds, tmp_path / "speech_10s.wav")
        photo = tmp_path / "astronaut.png"
        Image.fromarray(demo_portrait()).save(photo)
        cartoon = tmp_path / "cartoon.png"
        Image.fromarray(draw_cartoon_face(512, transparent=True).image, "RGBA").save(cartoon)
        runs = [("cartoon 512x512", cartoon, "auto"), ("photo 400x400", photo, "warp")]
        if args.translator:
            runs.append(("photo 400x400", photo, "auto"))
        print(f"speech: {args.seconds:g} s from {source}", flush=True)
        with app_server(home=home, root=tmp_path / "server", args=server_args) as server, \
                sync_playwright() as playwright, chromium(playwright) as context:
            deadline = time.monotonic() + 300
            while "loaded in" not in server.log() and time.monotonic() < deadline:
                time.sleep(0.2)  # the networks load in the background at start; wait for them
            loaded = re.search(r"loaded in ([0-9.]+) s", server.log())
            print(json.dumps({"server_start_s": round(server.started_s, 2),
                              "networks_loaded_s": float(loaded.group(1)) if loaded else None}), flush=True)
            page = context.new_page()
            for label, portrait, renderer in runs:
                for attempt in range(args.repeat):
                    row = {"portrait": label, "renderer_option": renderer, "click": attempt + 1}
                    row.update(click_to_video(page, server.url, portrait, clip, renderer))
                    print(json.dumps(row), flush=True)
            if args.screenshot:
                page.screenshot(path=args.screenshot, full_page=True)
            outside = server.outside_connections()
            if outside:
                print(f"WARNING: the server contacted other hosts: {outside}", flush=True)


if __name__ == "__main__":
    main()
