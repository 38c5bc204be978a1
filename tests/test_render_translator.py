"""The translator renderer end to end, with the full-size rule-filled translator (slow).

The original's frame is reproduced exactly for its own 256x256 portrait; a larger photo is
aligned, translated and pasted back; `auto` picks the translator for photos and the warp
renderer for cartoons."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from makeittalk.cli.main import main as cli_main
from makeittalk.pipelines.talking_head import TalkingHead
from makeittalk.pipelines.video import ffmpeg_executable, probe_video
from original_checkpoints import weights_home_with_rule_filled_set

pytestmark = pytest.mark.slow

SET_NAME = "rulefilled-all"
SECONDS = 1.2


@pytest.fixture(scope="module")
def weights_home(reference_dir, tmp_path_factory) -> Path:
    return weights_home_with_rule_filled_set(reference_dir, tmp_path_factory, SET_NAME, with_translator=True)


@pytest.fixture(autouse=True)
def _use_home(weights_home, monkeypatch):
    monkeypatch.setenv("MAKEITTALK_HOME", str(weights_home))


@pytest.fixture(scope="module")
def head(weights_home) -> TalkingHead:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MAKEITTALK_HOME", str(weights_home))
        return TalkingHead.from_pretrained(SET_NAME, device="cpu")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    import soundfile as sf
    from PIL import Image
    from renderer.synthetic import draw_cartoon_face
    from skimage import data

    from makeittalk.audio import load_audio
    from makeittalk.pipelines.demo import demo_speech_path

    folder = tmp_path_factory.mktemp("translator_inputs")
    Image.fromarray(data.astronaut()).save(folder / "astronaut.png")
    samples = load_audio(demo_speech_path()).samples[: int(SECONDS * 16000)]
    sf.write(str(folder / "speech.wav"), samples, 16000, subtype="PCM_16")
    toon = draw_cartoon_face(256, transparent=False)
    Image.fromarray(toon.image).save(folder / "toon.png")
    np.savetxt(folder / "toon.txt", toon.landmarks[:, :2], fmt="%.3f")
    return folder


def test_the_originals_frame_for_its_own_portrait(head, reference_dir):
    """portrait.png (256x256) + the reference landmarks: frame 0 is the original's frame 0."""
    from makeittalk.pipelines.translator_render import TranslatorRenderer

    with np.load(reference_dir / "e2e.npz") as e2e:
        frames = e2e["pix_final_noblink"][:3]
        rest = e2e["shape_in"]
    with np.load(reference_dir / "ckpt_116_i2i_comb.io.npz") as io:
        out_tanh = io["output_tanh"][0]
    prepared = head.prepare_portrait(reference_dir / "portrait.png", face_landmarks=rest)
    crop = prepared.face_crop((256, 256))
    renderer = TranslatorRenderer(head.translator, crop.portrait, None, crop=crop, precision="float32")
    rendered = renderer.render_batch(frames)
    g = out_tanh.copy()
    g[g < 0] = 0
    expected = (g * 255).astype(np.uint8).transpose(1, 2, 0)[:, :, ::-1]
    differs = np.abs(rendered[0].astype(int) - expected.astype(int))
    assert differs.max() <= 1 and (differs > 0).mean() < 1e-3  # float32 summation order only
    assert not np.array_equal(rendered[0], rendered[2])  # the landmarks move, the frames follow


def test_photo_auto_picks_the_translator_and_keeps_the_framing(inputs, tmp_path, capsys):
    out = tmp_path / "astronaut.mp4"
    code = cli_main(["render", str(inputs / "astronaut.png"), str(inputs / "speech.wav"), "-o", str(out),
                     "--weights", SET_NAME, "--fps", "5", "--batch-size", "4"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "translator renderer (auto: a photo, and the weight set 'rulefilled-all' has a full-face translator)" in err
    info = probe_video(out)
    assert (info.video_codec, info.audio_codec, info.width, info.height) == ("h264", "aac", 512, 512)
    assert info.num_frames == math.ceil(SECONDS * 5)
    # Outside the face crop the frame is the portrait (up to H.264); inside, the network's face.
    raw = subprocess.run([ffmpeg_executable(), "-loglevel", "error", "-i", str(out), "-frames:v", "1", "-f",
                          "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    frame = np.frombuffer(raw, np.uint8).reshape(512, 512, 3).astype(int)
    from skimage import data

    photo = data.astronaut().astype(int)
    assert np.abs(frame[300:, :] - photo[300:, :]).mean() < 4  # the suit, below the face
    assert np.abs(frame[60:160, 200:280] - photo[60:160, 200:280]).mean() > 20  # the face was replaced


def test_cartoon_auto_picks_warp_even_with_a_translator(head, inputs, tmp_path):
    result = head.render(inputs / "toon.png", inputs / "speech.wav", tmp_path / "toon.mp4", fps=5,
                         face_landmarks=inputs / "toon.txt")
    assert result.renderer == "warp" and "cartoon" in result.reason
