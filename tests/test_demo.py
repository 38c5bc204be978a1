"""`makeittalk demo` runs every stage it can and names the ones whose weights are missing."""

from __future__ import annotations

from makeittalk.cli.main import main
from makeittalk.pipelines.demo import demo_portrait, demo_speech_path


def test_demo_assets_are_generated_or_bundled():
    portrait = demo_portrait()
    assert portrait.shape == (400, 400, 3) and portrait.dtype.name == "uint8"
    assert demo_speech_path().is_file()


def test_demo_without_default_weights_reports_the_missing_stage(no_shipped_weights, tmp_path, capsys):
    out = tmp_path / "demo.mp4"
    assert main(["demo", "-o", str(out)]) == 3
    err = capsys.readouterr().err
    assert "[     ok] audio front end" in err
    assert "[     ok] face landmarks" in err
    assert "[MISSING] landmark animation" in err and "import-original" in err
    assert "No video was written" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
