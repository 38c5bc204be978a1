"""`makeittalk weights import-original` on rule-filled files in every layout variant (README §1.2)."""

from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
import pytest
import torch
from original_checkpoints import (
    STEMS,
    cached_original_checkpoint,
    filled_state_dict,
    folder_with,
    load_manifest,
    original_layout,
    write_original_checkpoint,
)

from makeittalk.cli.main import main
from makeittalk.errors import WeightsError
from makeittalk.models import NETWORKS
from makeittalk.weights import get_weight_set, list_weight_sets, load_network, user_weights_dir
from makeittalk.weights.original import ORIGINAL_FILES, import_original, original_key_map, to_original_state_dict

ATOL, RTOL = 2e-5, 1e-5


def _manifest_path(reference_dir, network):
    return reference_dir / f"{STEMS[network]}.manifest.json"


def _content_delta(reference_dir, weights="original"):
    io = np.load(reference_dir / "ckpt_content_branch.io.npz")
    model = load_network("content_branch", weights, device="cpu")
    with torch.inference_mode():
        out = model(torch.from_numpy(io["windows"]), torch.from_numpy(io["face_id"]))
    np.testing.assert_allclose(out.numpy(), io["delta"], atol=ATOL, rtol=RTOL)


def _write_content(reference_dir, path, variants=(), state=None, extra=None):
    manifest = load_manifest(_manifest_path(reference_dir, "content_branch"))
    state = state if state is not None else filled_state_dict(_manifest_path(reference_dir, "content_branch"))
    ckpt = original_layout(manifest, state, variants)
    ckpt.update(extra or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return path.parent


@pytest.mark.parametrize("network", list(STEMS))
def test_key_maps_cover_the_manifests_exactly(reference_dir, network):
    manifest = load_manifest(_manifest_path(reference_dir, network))
    spec = ORIGINAL_FILES[network]
    assert manifest["checkpoint_file"] == spec.filename and manifest["top_level_key"] == spec.top_level_key
    with torch.device("meta"):
        module = NETWORKS[network]()
    mapping = original_key_map(network, module)
    shapes = {k: list(v.shape) for k, v in module.state_dict().items()}
    ours = {orig: shapes[k] for k, orig in mapping.items()}
    theirs = {k: shape for k, shape, _ in manifest["keys"] if not k.startswith(spec.ignored_prefixes)}
    assert ours == theirs
    ignored = [k for k, _, _ in manifest["keys"] if k.startswith(spec.ignored_prefixes)]
    assert len(ignored) == (58 if network == "speaker_branch" else 0)


def test_export_to_original_layout_round_trips(reference_dir, tmp_path):
    # Our weights under the original names import back unchanged (the speaker file without its decoder).
    model = NETWORKS["speaker_branch"]()
    sd = to_original_state_dict("speaker_branch", model)
    torch.save({"G": sd, "epoch": 3}, tmp_path / "ckpt_speaker_branch.pth")
    report = import_original(tmp_path, "mine")
    assert report.imported[0].epoch == 3
    back = load_network("speaker_branch", "mine", device="cpu")
    for key, value in model.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key


def test_module_prefix_and_missing_num_batches_tracked(reference_dir, tmp_path):
    folder = _write_content(reference_dir, tmp_path / "in" / "ckpt_content_branch.pth", ["module_prefix", "no_num_batches_tracked"])
    report = import_original(folder)
    notes = " ".join(report.imported[0].notes)
    assert "module." in notes and "num_batches_tracked" in notes
    _content_delta(reference_dir)


def test_translator_in_dataparallel_layout_from_old_torch(reference_dir, tmp_path):
    # The real i2i file may be saved through nn.DataParallel and by an old torch: both at once here.
    path = cached_original_checkpoint(reference_dir, "translator", ["module_prefix", "no_num_batches_tracked"])
    report = import_original(folder_with(tmp_path / "ckpts", path), trust_pickle=True)
    (item,) = report.imported
    assert item.parameters == 69_860_736 and item.epoch == 116 and item.trusted_pickle
    assert "stripped the 'module.' prefix" in item.notes
    assert any("53 missing BatchNorm" in n for n in item.notes)
    # Same tensors as the plain layout, whose outputs test_models_equivalence checks against the original.
    model = load_network("translator", "original", device="cpu")
    filled = filled_state_dict(_manifest_path(reference_dir, "translator"))
    for ours, orig in original_key_map("translator", model).items():
        assert torch.equal(model.state_dict()[ours], filled[orig]), ours


def test_speaker_file_with_legacy_comb_mlp_keys(reference_dir, tmp_path):
    path = cached_original_checkpoint(reference_dir, "speaker_branch", ["extra_comb_mlp"])
    report = import_original(folder_with(tmp_path / "ckpts", path))
    notes = report.imported[0].notes
    assert any("dropped 6 legacy comb_mlp" in n for n in notes) and any("57 decoder" in n for n in notes)
    io = np.load(reference_dir / "ckpt_speaker_branch.io.npz")
    model = load_network("speaker_branch", "original", device="cpu")
    with torch.inference_mode():
        delta, _ = model(torch.from_numpy(io["windows"]), torch.from_numpy(io["emb_in"]))
    np.testing.assert_allclose(delta.numpy(), io["delta"], atol=ATOL, rtol=RTOL)


def test_speaker_file_with_another_positional_encoding_is_refused(reference_dir, tmp_path):
    state = OrderedDict(filled_state_dict(_manifest_path(reference_dir, "speaker_branch")))
    state["encoder.pe.pe"] = state["encoder.pe.pe"] * 1.01
    write_original_checkpoint(_manifest_path(reference_dir, "speaker_branch"), tmp_path / "ckpt_speaker_branch.pth", state=state)
    with pytest.raises(WeightsError, match="positional-encoding buffer"):
        import_original(tmp_path)


def test_pickled_objects_need_trust_pickle(reference_dir, tmp_path):
    # A file that pickles a Python object (as ckpt_116_i2i_comb.pth pickles its optimizer).
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))])
    folder = _write_content(reference_dir, tmp_path / "in" / "ckpt_content_branch.pth", extra={"opt": opt})
    with pytest.raises(WeightsError, match="pickles Python objects .*torch.optim.adam.Adam.*could run anything.*--trust-pickle"):
        import_original(folder)
    assert [s for s in list_weight_sets() if s.origin == "user"] == []  # nothing written
    report = import_original(folder, trust_pickle=True)
    assert "loaded with --trust-pickle (full unpickling)" in report.imported[0].notes
    _content_delta(reference_dir)


def test_safe_files_do_not_need_trust_pickle(reference_dir, tmp_path):
    path = cached_original_checkpoint(reference_dir, "translator", ["no_opt"])
    report = import_original(folder_with(tmp_path / "ckpts", path))
    assert not report.imported[0].trusted_pickle


def test_wrong_shape_names_key_and_shapes(reference_dir, tmp_path):
    state = OrderedDict(filled_state_dict(_manifest_path(reference_dir, "content_branch")))
    state["fc.0.weight"] = state["fc.0.weight"].t().contiguous()
    folder = _write_content(reference_dir, tmp_path / "in" / "ckpt_content_branch.pth", state=state)
    with pytest.raises(WeightsError, match=r"'fc\.0\.weight' has shape \(460, 512\).*expects \(512, 460\)"):
        import_original(folder)
    assert not user_weights_dir().exists() or list(user_weights_dir().iterdir()) == []


def test_missing_and_unexpected_keys(reference_dir, tmp_path):
    state = OrderedDict(filled_state_dict(_manifest_path(reference_dir, "content_branch")))
    del state["fc.6.bias"]
    folder = _write_content(reference_dir, tmp_path / "a" / "ckpt_content_branch.pth", state=state)
    with pytest.raises(WeightsError, match=r"missing \(first: fc\.6\.bias\)|1 key\(s\) .* missing \(first: fc\.6\.bias\)"):
        import_original(folder)
    state = OrderedDict(filled_state_dict(_manifest_path(reference_dir, "content_branch")))
    state["extra.weight"] = torch.zeros(2)
    folder = _write_content(reference_dir, tmp_path / "b" / "ckpt_content_branch.pth", state=state)
    with pytest.raises(WeightsError, match=r"unexpected key\(s\).*extra\.weight"):
        import_original(folder)


def test_wrong_top_level_layout(reference_dir, tmp_path):
    torch.save({"something": 1}, tmp_path / "ckpt_autovc.pth")
    with pytest.raises(WeightsError, match="under 'model'"):
        import_original(tmp_path)
    (tmp_path / "ckpt_autovc.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot be read by torch.load"):
        import_original(tmp_path)


def test_bare_state_dict_is_accepted(reference_dir, tmp_path):
    folder = _write_content(reference_dir, tmp_path / "in" / "ckpt_content_branch.pth", ["bare_state_dict"])
    import_original(folder)
    _content_delta(reference_dir)


def test_subset_of_files_and_no_files(reference_dir, tmp_path):
    with pytest.raises(WeightsError, match="none of the original checkpoints .*ckpt_autovc.pth"):
        import_original(tmp_path)
    folder = folder_with(
        tmp_path / "ckpts",
        cached_original_checkpoint(reference_dir, "autovc"),
        cached_original_checkpoint(reference_dir, "content_branch"),
    )
    report = import_original(folder)
    assert [i.network for i in report.imported] == ["autovc", "content_branch"]
    assert report.not_found == ["ckpt_speaker_branch.pth", "ckpt_116_i2i_comb.pth"]
    assert get_weight_set("original").networks == ("autovc", "content_branch")
    with pytest.raises(WeightsError, match="has no translator"):
        load_network("translator", "original")
    _content_delta(reference_dir)


def test_existing_set_needs_overwrite(reference_dir, tmp_path):
    folder = folder_with(tmp_path / "ckpts", cached_original_checkpoint(reference_dir, "content_branch"))
    import_original(folder)
    with pytest.raises(WeightsError, match="already exists.*--overwrite"):
        import_original(folder)
    import_original(folder, overwrite=True)
    import_original(folder, name="second")
    assert [s.name for s in list_weight_sets() if s.origin == "user"] == ["original", "second"]


def test_cli_import_list_verify(reference_dir, tmp_path, capsys):
    folder = folder_with(tmp_path / "ckpts", cached_original_checkpoint(reference_dir, "content_branch"))
    assert main(["weights", "import-original", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "content_branch" in out and "1,965,677 parameters" in out and "CC BY-NC 4.0" in out
    assert "not found in the folder (skipped): ckpt_autovc.pth" in out
    ws = get_weight_set("original")
    record = json.loads((ws.path / "weightset.json").read_text())
    assert record["licence"] == "CC BY-NC 4.0" and "non-commercial" in record["licence_note"]
    assert record["imported_from"]["content_branch"]["file"] == "ckpt_content_branch.pth"
    assert len(record["imported_from"]["content_branch"]["sha256"]) == 64
    assert "CC BY-NC 4.0" in (ws.path / "NOTICE.txt").read_text()
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "original" in out and "CC BY-NC 4.0" in out and ws.sha256 in out
    assert main(["weights", "verify", "original"]) == 0
    assert main(["weights", "import-original", str(folder)]) == 2
    assert "already exists" in capsys.readouterr().err
    _content_delta(reference_dir)


def test_cli_trust_pickle_flag(reference_dir, tmp_path, capsys):
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))])
    folder = _write_content(reference_dir, tmp_path / "in" / "ckpt_content_branch.pth", extra={"opt": opt})
    assert main(["weights", "import-original", str(folder), "--name", "orig2"]) == 2
    err = capsys.readouterr().err
    assert "--trust-pickle" in err and "error:" in err and len(err.strip().splitlines()) == 2  # progress + one error line
    assert main(["weights", "import-original", str(folder), "--name", "orig2", "--trust-pickle"]) == 0
    _content_delta(reference_dir, "orig2")
