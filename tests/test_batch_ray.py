"""`render --batch --engine ray` on a real local Ray cluster with 2 workers (slow: Ray starts in seconds).

The default weights render 1.5-second clips of the demo speech onto the drawn cartoon (its
landmarks are known, so no detector runs). Ray workers use one torch thread each; the local
engine it is compared with runs with OMP_NUM_THREADS=1 too, so both compute bit for bit the
same and the videos must be byte-identical.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

if os.environ.get("CI") != "true":
    pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    from makeittalk.pipelines.ray_batch import import_ray

    ray = import_ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    import soundfile as sf
    from PIL import Image

    from makeittalk.audio import load_audio
    from makeittalk.pipelines.demo import demo_speech_path
    from renderer.synthetic import draw_cartoon_face

    folder = tmp_path_factory.mktemp("ray_inputs")
    toon = draw_cartoon_face(256, transparent=False)
    Image.fromarray(toon.image[..., :3]).save(folder / "toon.png")
    (folder / "toon.txt").write_text("".join(f"{x} {y}\n" for x, y in toon.landmarks[:, :2]))
    samples = load_audio(demo_speech_path()).samples
    for k in range(6):
        sf.write(str(folder / f"speech{k}.wav"), samples[k * 24000 : k * 24000 + 24000], 16000, subtype="PCM_16")
    return folder


def manifest(folder: Path, inputs: Path, rows: int = 6, bad: bool = False) -> Path:
    lines = ["portrait,audio,output,face_landmarks,save_landmarks"]
    for k in range(rows):
        audio = inputs / ("missing.wav" if bad and k == 2 else f"speech{k}.wav")
        lines.append(f"{inputs / 'toon.png'},{audio},out/{k}.mp4,{inputs / 'toon.txt'},out/{k}.json")
    (folder / "out").mkdir(parents=True, exist_ok=True)
    path = folder / "jobs.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_ray(path: Path, **kwargs):
    from makeittalk.pipelines.batch import read_manifest
    from makeittalk.pipelines.ray_batch import run_batch_ray

    return run_batch_ray(read_manifest(path), workers=2, **kwargs)


def test_six_rows_complete_identical_to_the_local_engine_and_a_rerun_skips(cluster, inputs, tmp_path):
    events = []

    def progress_for(job):
        return lambda event: events.append((job.index, event.stage, event.fraction))

    results = run_ray(manifest(tmp_path / "ray", inputs), progress_for=progress_for)
    assert sorted(r.status for r in results) == ["ok"] * 6, [r.message for r in results]
    # Progress from the workers reached the driver, each job through to "done".
    assert {index for index, stage, _ in events if stage == "done"} == set(range(6))
    assert {stage for _, stage, _ in events} >= {"face", "audio features", "landmarks", "rendering", "done"}

    local = manifest(tmp_path / "local", inputs)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "makeittalk", "render", "--batch", str(local), "--quiet"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    for k in range(6):
        ray_out, local_out = tmp_path / "ray" / "out", tmp_path / "local" / "out"
        a = json.loads((ray_out / f"{k}.json").read_text())["landmarks"]
        b = json.loads((local_out / f"{k}.json").read_text())["landmarks"]
        np.testing.assert_array_equal(np.array(a), np.array(b))
        assert (ray_out / f"{k}.mp4").read_bytes() == (local_out / f"{k}.mp4").read_bytes()

    again = run_ray(manifest(tmp_path / "ray", inputs))
    assert [r.status for r in again] == ["skipped"] * 6


def test_a_killed_worker_gives_its_row_to_another_worker(cluster, inputs, tmp_path):
    killed = []

    def on_start(job, pid):
        if not killed:
            killed.append(pid)
            os.kill(pid, signal.SIGKILL)  # the worker dies as its row is handed to it

    results = run_ray(manifest(tmp_path, inputs), on_start=on_start)
    assert len(killed) == 1
    assert sorted(r.status for r in results) == ["ok"] * 6, [r.message for r in results]
    assert all((tmp_path / "out" / f"{k}.mp4").stat().st_size > 0 for k in range(6))


def test_a_bad_row_is_reported_and_the_others_render(cluster, inputs, tmp_path):
    results = run_ray(manifest(tmp_path, inputs, bad=True))
    by_line = {r.job.index: r for r in results}
    assert by_line[2].status == "failed" and "missing.wav" in by_line[2].message
    assert sorted(r.status for i, r in by_line.items() if i != 2) == ["ok"] * 5
    assert not (tmp_path / "out" / "2.mp4").exists()


def test_the_cli_runs_the_ray_engine_and_names_the_extra_when_ray_is_missing(inputs, tmp_path):
    path = manifest(tmp_path, inputs, rows=2)
    done = subprocess.run([sys.executable, "-m", "makeittalk", "render", "--batch", str(path), "--engine", "ray",
                           "--workers", "2", "--json-progress"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert sum(1 for line in lines if line.get("status") == "ok") == 2
    assert {line["job"] for line in lines if line.get("stage") == "rendering"} == {1, 2}
    # Without Ray importable, one line names the extra.
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "ray.py").write_text("raise ImportError('No module named ray')\n")
    env = {**os.environ, "PYTHONPATH": f"{hide}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    missing = subprocess.run([sys.executable, "-m", "makeittalk", "render", "--batch", str(path), "--engine", "ray",
                              "--overwrite"], capture_output=True, text=True, timeout=120, env=env)
    assert missing.returncode == 2
    assert "pip install 'makeittalk[ray]'" in missing.stderr and missing.stderr.count("\n") == 1
