"""The weights store: the shipped default, listing, atomic writes, sha256 checks, shipped manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from makeittalk.cli.main import main
from makeittalk.errors import MissingStageError, WeightsError
from makeittalk.models import NETWORKS, ContentBranch
from makeittalk.weights import (
    get_weight_set,
    list_weight_sets,
    load_network,
    shipped_dir,
    user_weights_dir,
    verify_weight_set,
    write_weight_set,
)
from makeittalk.weights import store

REPO = Path(__file__).resolve().parents[1]


def _tiny_set(name="mine", networks=("content_branch", "speaker_branch"), **kwargs):
    modules = {n: NETWORKS[n](NETWORKS[n].config_class.tiny()) for n in networks}
    ws = write_weight_set(name, modules, source="tests", licence="MIT", licence_note="test weights", **kwargs)
    return ws, modules


def test_repository_manifest_is_valid_and_names_the_default():
    folder = REPO / "pretrained"
    assert shipped_dir() == folder
    data = json.loads((folder / "manifest.json").read_text())
    assert data["format"] == "makeittalk-pretrained-manifest" and data["format_version"] == 1
    assert store.read_manifest(folder) == data
    assert data["default"] == "default"
    listed = [entry["path"] for entry in data["files"]]
    assert listed and len(listed) == len(set(listed))
    for entry in data["files"]:
        path = folder / entry["path"]
        assert path.is_file(), f"{entry['path']} is listed but missing"
        assert path.stat().st_size == entry["bytes"], entry["path"]
        assert store.sha256_file(path) == entry["sha256"], entry["path"]
    # Every file of the shipped sets is listed, and the default set is among them.
    on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.glob("*/**/*") if p.is_file())
    assert on_disk == sorted(listed)
    assert any(path.startswith("default/") for path in listed)
    assert get_weight_set("default").origin == "shipped"


def test_an_install_without_its_default_weights_is_a_missing_stage(no_shipped_weights):
    with pytest.raises(MissingStageError, match="import-original"):
        load_network("content_branch")
    _tiny_set("original")
    with pytest.raises(MissingStageError, match="installed here: original"):
        load_network("content_branch", "default")


def test_weights_home_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MAKEITTALK_HOME", str(tmp_path / "h"))
    assert user_weights_dir() == tmp_path / "h" / "weights"
    monkeypatch.delenv("MAKEITTALK_HOME")
    assert user_weights_dir() == Path.home() / ".cache" / "makeittalk" / "weights"


def test_write_list_and_load(no_shipped_weights):
    ws, modules = _tiny_set()
    assert ws.path == user_weights_dir() / "mine"
    assert sorted(p.name for p in ws.path.iterdir()) == ["content_branch", "speaker_branch", "weightset.json"]
    (listed,) = list_weight_sets()
    assert (listed.name, listed.origin, listed.licence, listed.networks) == ("mine", "user", "MIT", ("content_branch", "speaker_branch"))
    assert listed.sha256 == ws.sha256 == json.loads((ws.path / "weightset.json").read_text())["sha256"]
    windows, face = torch.randn(3, 18, 80), torch.randn(1, 204)
    with torch.inference_mode():
        expected = modules["content_branch"].eval()(windows, face)
    for source in ("mine", ws.path, ws.path / "content_branch", str(ws.path)):
        model = load_network("content_branch", source, device="cpu")
        assert isinstance(model, ContentBranch) and not model.training
        with torch.inference_mode():
            torch.testing.assert_close(model(windows, face), expected, rtol=0, atol=0)
    assert isinstance(ContentBranch.from_pretrained("mine", device="cpu"), ContentBranch)


def test_missing_network_and_unknown_names_are_clear(no_shipped_weights):
    _tiny_set()
    with pytest.raises(WeightsError, match="has no translator .*covers content_branch, speaker_branch"):
        load_network("translator", "mine")
    with pytest.raises(WeightsError, match="no weight set named 'other' .*available: mine"):
        load_network("content_branch", "other")
    with pytest.raises(WeightsError, match="unknown network"):
        load_network("vocoder", "mine")


def test_never_silently_overwrites(no_shipped_weights):
    first, _ = _tiny_set()
    with pytest.raises(WeightsError, match="already exists.*--overwrite"):
        _tiny_set()
    second, _ = _tiny_set(networks=("content_branch",), overwrite=True)
    assert second.networks == ("content_branch",) and first.sha256 != second.sha256
    assert [p.name for p in user_weights_dir().iterdir()] == ["mine"]  # no temporary folders left


def test_failed_write_leaves_nothing_behind(no_shipped_weights, monkeypatch):
    def boom(self, path):
        raise RuntimeError("disk full")

    monkeypatch.setattr(NETWORKS["speaker_branch"], "save_pretrained", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        _tiny_set()
    assert list(user_weights_dir().iterdir()) == []


def test_a_failed_replace_keeps_the_old_set(no_shipped_weights, monkeypatch):
    import os

    first, _ = _tiny_set()
    real_rename = os.rename

    def rename(src, dst):
        if Path(src).name.startswith(".tmp-mine-"):  # the finished new set moving into place
            raise OSError(28, "No space left on device")
        return real_rename(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(os, "rename", rename)
        with pytest.raises(OSError, match="No space"):
            _tiny_set(networks=("content_branch",), overwrite=True)
    assert get_weight_set("mine").sha256 == first.sha256
    load_network("speaker_branch", "mine")
    assert [p.name for p in user_weights_dir().iterdir()] == ["mine"]


@pytest.mark.parametrize("name", ["default", "../up", "", ".hidden", "a b"])
def test_invalid_set_names(no_shipped_weights, name):
    with pytest.raises(WeightsError, match="invalid weight-set name"):
        _tiny_set(name)


def test_tampered_files_are_refused_and_reported(no_shipped_weights, capsys):
    ws, _ = _tiny_set()
    target = ws.path / "content_branch" / "model.safetensors"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256 differs"):
        load_network("content_branch", "mine")
    load_network("speaker_branch", "mine")  # only the damaged network is refused
    assert [ok for _, ok, _ in verify_weight_set(get_weight_set("mine"))].count(False) == 1
    assert main(["weights", "verify", "mine"]) == 2
    out = capsys.readouterr()
    assert "mine: FAILED" in out.out and "failed verification" in out.err


def test_shipped_sets_are_checked_against_the_manifest(no_shipped_weights, monkeypatch):
    # Build a set in the user store, then move it into the shipped folder with a manifest.
    ws, modules = _tiny_set("trained")
    shipped = no_shipped_weights / "trained"
    ws.path.rename(shipped)
    entries = [
        {"path": f"trained/{p.relative_to(shipped).as_posix()}", "sha256": store.sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(shipped.rglob("*")) if p.is_file()
    ]
    manifest = {"format": "makeittalk-pretrained-manifest", "format_version": 1, "default": "trained", "files": entries}
    (no_shipped_weights / "manifest.json").write_text(json.dumps(manifest))
    (only,) = list_weight_sets()
    assert only.origin == "shipped" and only.sha256 == ws.sha256
    model = load_network("speaker_branch", device="cpu")  # the default set
    assert model.config == modules["speaker_branch"].config
    with pytest.raises(WeightsError, match="name of a shipped weight set"):
        _tiny_set("trained")
    # A manifest entry that does not match the file is an error naming the file.
    entries[0]["sha256"] = "0" * 64
    manifest["files"] = [e for e in entries if not e["path"].endswith("speaker_branch/config.json")]
    (no_shipped_weights / "manifest.json").write_text(json.dumps(manifest))
    store._verified.clear()
    bad = entries[0]["path"].split("/")[1]
    with pytest.raises(WeightsError, match="sha256 differs|not listed"):
        load_network(bad, device="cpu")
    with pytest.raises(WeightsError, match="not listed in pretrained/manifest.json"):
        load_network("speaker_branch", device="cpu")


def test_broken_manifest_is_a_clear_error(no_shipped_weights):
    (no_shipped_weights / "manifest.json").write_text("{not json")
    with pytest.raises(WeightsError, match="not a valid weights manifest"):
        list_weight_sets()


def test_cli_list_shows_name_source_licence_sha_and_networks(no_shipped_weights, capsys):
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "default: none" in out and "broken install" in out and "import-original" in out
    ws, _ = _tiny_set()
    (user_weights_dir() / "junk").mkdir()
    assert main(["weights", "list"]) == 0
    captured = capsys.readouterr()
    for text in ("mine", "user store", "tests", "MIT", ws.sha256, "content_branch, speaker_branch"):
        assert text in captured.out
    assert "junk" in captured.err
    assert main(["weights", "verify"]) == 0
    assert "mine: ok (4/4 files match)" in capsys.readouterr().out
