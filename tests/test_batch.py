"""`makeittalk render --batch`: manifests, shards, resuming, robustness, one model load."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from makeittalk.cli.main import main as cli_main
from makeittalk.errors import MakeItTalkError
from makeittalk.pipelines.batch import (
    BatchJob,
    ManifestError,
    parse_shard,
    read_manifest,
    render_options,
    run_batch,
    select_shard,
    summary_table,
)
from original_checkpoints import weights_home_with_rule_filled_set

SET_NAME = "rulefilled-batch"


# ------------------------------------------------------------------------------ manifests


def test_csv_manifest_paths_and_options(tmp_path):
    (tmp_path / "jobs").mkdir()
    manifest = tmp_path / "jobs" / "list.csv"
    manifest.write_text(
        "portrait,audio,output,fps,still,seed,background,size,no_blink\n"
        "face.png,a.wav,out/a.mp4,,,,,,\n"
        "# a comment line\n"
        "/abs/toon,b.wav,b.webm,30,yes,4,#ffffff,320x240,true\n"
        "face.png,c.wav,c.mp4,fast,,,,,\n"
    )
    jobs = read_manifest(manifest)
    assert [j.index for j in jobs] == [0, 1, 2] and [j.line for j in jobs] == [2, 4, 5]
    base = manifest.resolve().parent
    assert jobs[0].portrait == base / "face.png" and jobs[0].output == base / "out" / "a.mp4"
    assert jobs[0].options == {} and jobs[0].problem is None
    assert jobs[1].portrait == Path("/abs/toon")
    assert jobs[1].options == {"fps": 30.0, "still": True, "seed": 4, "background": "#ffffff", "size": "320x240",
                               "no_blink": True}
    assert "fps 'fast' is not a number" in jobs[2].problem and "line 5" in jobs[2].problem
    weights, kwargs = render_options({"fps": 12.0, "weights": "w1", "renderer": "warp"}, jobs[1])
    assert weights == "w1"
    assert kwargs == {"renderer": "warp", "fps": 30.0, "still": True, "seed": 4, "background": "#ffffff",
                      "size": "320x240", "blink": False}


def test_jsonl_manifest(tmp_path):
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(
        json.dumps({"portrait": "p.png", "audio": "a.wav", "output": "a.mp4", "pose_scale": 0.5,
                    "background": "bg.jpg", "format": "mp4"}) + "\n\n"
        + "not json\n"
        + json.dumps({"portrait": "p.png", "audio": "b.wav", "output": "a.mp4"}) + "\n"
        + json.dumps({"portrait": "p.png", "audio": "c.wav", "output": "c.mp4", "colour": "red"}) + "\n"
        + json.dumps({"portrait": "p.png", "output": "d.mp4"}) + "\n"
    )
    jobs = read_manifest(manifest)
    assert len(jobs) == 5
    assert jobs[0].options == {"pose_scale": 0.5, "background": tmp_path.resolve() / "bg.jpg", "format": "mp4"}
    assert "not valid JSON" in jobs[1].problem
    assert "also the output of line 1" in jobs[2].problem  # two rows may not write one file
    assert "unknown key(s) colour" in jobs[3].problem
    assert "audio is empty" in jobs[4].problem


@pytest.mark.parametrize("text, message", [
    ("portrait,output\nx,y\n", "lacks audio"),
    ("portrait,audio,output,colour\n", r"unknown column\(s\) colour"),
    ("", "is empty"),
])
def test_manifest_errors_stop_before_any_job(tmp_path, text, message):
    manifest = tmp_path / "jobs.csv"
    manifest.write_text(text)
    with pytest.raises(ManifestError, match=message):
        read_manifest(manifest)


def test_manifest_file_problems(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "missing.csv")
    (tmp_path / "jobs.txt").write_text("x")
    with pytest.raises(ManifestError, match=r"\.csv, \.tsv or \.jsonl"):
        read_manifest(tmp_path / "jobs.txt")


def test_shards_partition_the_jobs():
    jobs = [BatchJob(i, i + 2, Path("p"), Path("a"), Path(f"{i}.mp4")) for i in range(10)]
    shards = [select_shard(jobs, (i, 3)) for i in (1, 2, 3)]
    assert [j.index for j in shards[0]] == [0, 3, 6, 9]
    assert sorted(j.index for s in shards for j in s) == list(range(10))
    assert parse_shard("2/3") == (2, 3) and parse_shard(None) is None
    for bad in ("0/3", "4/3", "1/0", "x", "1-2"):
        with pytest.raises(MakeItTalkError, match="--shard"):
            parse_shard(bad)


class FakeResult:
    num_frames = 10
    renderer = "warp"
    realtime_factor = 0.2


class FakeHead:
    def __init__(self):
        self.calls = []

    def render(self, portrait, audio, output, **kwargs):
        self.calls.append((portrait, audio, output, kwargs))
        if "bad" in str(audio):
            raise MakeItTalkError(f"{audio}: cannot be read")
        if "bug" in str(audio):
            raise RuntimeError("boom")
        Path(output).write_bytes(b"video")
        return FakeResult()


def test_run_batch_skips_existing_and_survives_failures(tmp_path):
    jobs = [BatchJob(i, i + 2, tmp_path / "p.png", tmp_path / name, tmp_path / f"{i}.mp4")
            for i, name in enumerate(["a.wav", "bad.wav", "bug.wav", "d.wav"])]
    jobs.append(BatchJob(4, 6, None, None, None, problem="line 6: audio is empty"))
    (tmp_path / "3.mp4").write_bytes(b"done earlier")
    head = FakeHead()
    heads = []
    results = run_batch(jobs, head_for=lambda w: heads.append(w) or head, defaults={"fps": 10.0, "weights": "x"})
    assert [r.status for r in results] == ["ok", "failed", "failed", "skipped", "failed"]
    assert "cannot be read" in results[1].message and "internal error: RuntimeError: boom" in results[2].message
    assert (tmp_path / "3.mp4").read_bytes() == b"done earlier"
    assert set(heads) == {"x"} and head.calls[0][3]["fps"] == 10.0 and head.calls[0][3]["overwrite"] is False
    table = summary_table(results)
    assert "5 job(s): 1 rendered, 1 skipped, 3 failed" in table and "line 6: audio is empty" in table
    # resume: only the failed ones run again
    head.calls.clear()
    again = run_batch(jobs[:4], head_for=lambda w: head)
    assert [r.status for r in again] == ["skipped", "failed", "failed", "skipped"]
    assert len(head.calls) == 2


def test_interrupt_stops_the_batch_after_reporting(tmp_path):
    class Interrupting(FakeHead):
        def render(self, *args, **kwargs):
            raise KeyboardInterrupt

    jobs = [BatchJob(i, i + 2, tmp_path / "p.png", tmp_path / "a.wav", tmp_path / f"{i}.mp4") for i in range(3)]
    seen = []
    with pytest.raises(KeyboardInterrupt):
        run_batch(jobs, head_for=lambda w: Interrupting(), on_result=seen.append)
    assert [r.message for r in seen] == ["interrupted"]


# ------------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def weights_home(reference_dir, tmp_path_factory) -> Path:
    return weights_home_with_rule_filled_set(reference_dir, tmp_path_factory, SET_NAME)


def test_batch_cli_end_to_end(weights_home, tmp_path, monkeypatch, capsys):
    import soundfile as sf
    from PIL import Image
    from skimage import data

    import makeittalk.face as face_module
    from makeittalk.audio import load_audio
    from makeittalk.pipelines.demo import demo_speech_path
    from makeittalk.pipelines.talking_head import TalkingHead
    from makeittalk.pipelines.video import probe_video

    monkeypatch.setenv("MAKEITTALK_HOME", str(weights_home))
    samples = load_audio(demo_speech_path()).samples
    Image.fromarray(data.astronaut()[:400, 80:480]).save(tmp_path / "face.png")
    sf.write(str(tmp_path / "one.wav"), samples[:16000], 16000, subtype="PCM_16")
    sf.write(str(tmp_path / "two.wav"), samples[16000:24000], 16000, subtype="PCM_16")
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    (tmp_path / "videos").mkdir()
    manifest = tmp_path / "jobs.csv"
    manifest.write_text(
        "portrait,audio,output,fps,size\n"
        "face.png,one.wav,videos/one.mp4,,\n"
        "face.png,broken.wav,videos/broken.mp4,,\n"
        "face.png,two.wav,videos/two.mp4,10,200\n"
    )
    detections, loads = [], []
    real_detect = face_module.detect_landmarks
    real_load = TalkingHead.from_pretrained.__func__
    monkeypatch.setattr(face_module, "detect_landmarks", lambda *a, **k: detections.append(1) or real_detect(*a, **k))
    monkeypatch.setattr(TalkingHead, "from_pretrained",
                        classmethod(lambda cls, *a, **k: loads.append(1) or real_load(cls, *a, **k)))

    code = cli_main(["render", "--batch", str(manifest), "--weights", SET_NAME, "--fps", "20"])
    captured = capsys.readouterr()
    assert code == 3  # one job failed; the others were rendered
    assert len(loads) == 1 and len(detections) == 1  # models loaded once, portrait prepared once
    assert "3 job(s): 2 rendered, 0 skipped, 1 failed" in captured.out
    assert "broken.wav" in captured.out
    one = probe_video(tmp_path / "videos" / "one.mp4")
    assert one.num_frames == 20 and (one.width, one.height) == (400, 400)  # --fps 20 default
    two = probe_video(tmp_path / "videos" / "two.mp4")
    assert two.num_frames == math.ceil(0.5 * 10) and (two.width, two.height) == (200, 200)  # row options win
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == ["one.mp4", "two.mp4"]

    # Resumable: a second run skips what exists; shards split the rows.
    code = cli_main(["render", "--batch", str(manifest), "--weights", SET_NAME, "--shard", "1/2", "--json-progress"])
    captured = capsys.readouterr()
    assert code == 0
    statuses = [json.loads(line) for line in captured.err.splitlines() if '"status"' in line]
    assert [(s["line"], s["status"]) for s in statuses] == [(2, "skipped"), (4, "skipped")]
    assert "2 job(s): 0 rendered, 2 skipped, 0 failed" in captured.out


def test_batch_cli_refuses_single_job_arguments(tmp_path, capsys):
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("portrait,audio,output\n")
    assert cli_main(["render", "face.png", "--batch", str(manifest)]) == 2
    assert "--batch takes its portraits" in capsys.readouterr().err
    assert cli_main(["render", "--batch", str(tmp_path / "nope.csv")]) == 2
    assert "not found" in capsys.readouterr().err
    assert cli_main(["render", "--batch", str(manifest), "--save-landmarks", "x.json"]) == 2
    assert "manifest column" in capsys.readouterr().err
