"""Proof of equivalence with the original networks (reference README §1-§2, tolerances §8.2).

For each network: rebuild the checkpoint in the ORIGINAL layout from its manifest and the fill rule,
torch.save it as the original training code did, import it with the function behind
`makeittalk weights import-original`, load it from the store with `load_network`, run it on the
stored inputs and compare with the stored outputs of the original code.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from original_checkpoints import (
    STEMS,
    all_sha256,
    cached_original_checkpoint,
    expected_all_sha256,
    filled_state_dict,
    folder_with,
    load_manifest,
    tensor_sha256,
)
from tolerances import NETWORK, TRANSLATOR, Tolerance, assert_close

from makeittalk.errors import WeightsError
from makeittalk.weights import load_network
from makeittalk.weights.original import import_original


def _io(reference_dir, network):
    return np.load(reference_dir / f"{STEMS[network]}.io.npz")


def _import(reference_dir, tmp_path, network, **kwargs):
    folder = folder_with(tmp_path / "ckpts", cached_original_checkpoint(reference_dir, network))
    report = import_original(folder, **kwargs)
    assert [item.network for item in report.imported] == [network]
    return load_network(network, "original", device="cpu")


def _close(actual: torch.Tensor, expected: np.ndarray, tol: Tolerance, what: str) -> None:
    assert_close(actual.numpy(), expected, tol, what)


@pytest.mark.parametrize("network", list(STEMS))
def test_fill_rule_reproduces_manifest_hashes(reference_dir, network):
    manifest = load_manifest(reference_dir / f"{STEMS[network]}.manifest.json")
    state = filled_state_dict(reference_dir / f"{STEMS[network]}.manifest.json")
    assert [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in state.items()] == manifest["keys"]
    expected = expected_all_sha256(manifest)
    if expected is None:
        pytest.skip(f"no reference hashes for CPU capability {torch.backends.cpu.get_cpu_capability()}")
    if all_sha256(state) != expected:
        checks = manifest["fill_check"] if expected == manifest["fill_check_all_sha256"] else None
        bad = [k for k in state if checks and tensor_sha256(state[k]) != checks[k]["sha256"]]
        pytest.fail(f"fill rule differs from the manifest (first differing keys: {bad[:3]})")


def test_autovc_matches_original(reference_dir, tmp_path):
    io = _io(reference_dir, "autovc")
    model = _import(reference_dir, tmp_path, "autovc")
    args = [torch.from_numpy(io[k]) for k in ("x_mel", "c_org", "f0_org", "c_trg", "f0_trg")]
    with torch.inference_mode():
        mel_outputs, mel_postnet, codes = model(*args)
    _close(mel_outputs, io["mel_outputs"], NETWORK, "mel_outputs")
    _close(mel_postnet, io["mel_outputs_postnet"], NETWORK, "mel_outputs_postnet")
    _close(codes, io["codes"], NETWORK, "codes")
    # The inference entry points compute the same function (checked on a short chunk: the
    # 3-layer decoder LSTM is sequential and dominates the run time).
    x, c_org, _, c_trg, f0 = (a[:, :64] if a.dim() == 3 else a for a in args)
    with torch.inference_mode():
        _, short_postnet, short_codes = model(x, c_org, None, c_trg, f0)
        assert torch.equal(model.convert(x, c_org, c_trg, f0), short_postnet)
        assert torch.equal(model.encode(x, c_org), short_codes)


def test_content_branch_matches_original(reference_dir, tmp_path):
    io = _io(reference_dir, "content_branch")
    model = _import(reference_dir, tmp_path, "content_branch")
    with torch.inference_mode():
        delta = model(torch.from_numpy(io["windows"]), torch.from_numpy(io["face_id"]))
    _close(delta, io["delta"], NETWORK, "content_branch delta")


def test_speaker_branch_matches_original(reference_dir, tmp_path):
    io = _io(reference_dir, "speaker_branch")
    model = _import(reference_dir, tmp_path, "speaker_branch")
    assert torch.equal(model.transformer.pe, torch.from_numpy(io["pe"]))
    windows, emb, z = (torch.from_numpy(io[k]) for k in ("windows", "emb_in", "z"))
    with torch.inference_mode():
        delta, spk_encode = model(windows, emb, z)
        delta_default_z, _ = model(windows, emb)  # z defaults to zeros, as at inference
        delta_batched, _ = model(windows.unsqueeze(0), emb.unsqueeze(0))
    _close(delta, io["delta"], NETWORK, "speaker_branch delta")
    _close(spk_encode, io["spk_encode"], NETWORK, "spk_encode")
    assert torch.equal(delta_default_z, delta)
    _close(delta_batched[0], io["delta"], NETWORK, "speaker_branch batched delta")


def test_translator_matches_original(reference_dir, tmp_path):
    io = _io(reference_dir, "translator")
    # The file pickles a real torch.optim.Adam object: the safe load must refuse it ...
    with pytest.raises(WeightsError, match="--trust-pickle"):
        _import(reference_dir, tmp_path / "refused", "translator")
    # ... and the explicit flag must let it through.
    model = _import(reference_dir, tmp_path, "translator", trust_pickle=True)
    with torch.inference_mode():
        raw = model(torch.from_numpy(io["input"]))
    _close(raw, io["output_raw"], TRANSLATOR, "translator output_raw")
    _close(torch.tanh(raw), io["output_tanh"], TRANSLATOR, "translator output_tanh")


def _scale_channel(factor: float):
    def perturb(weight: torch.Tensor) -> None:
        weight[0].mul_(factor)
    return perturb


def _swap_channels(weight: torch.Tensor) -> None:
    weight[[0, 1]] = weight[[1, 0]]


# (which weight, how it is broken): each must move the output by several times its tolerance.
FAULTS = {
    "output layer, channel 0 x 1.001": (-1, _scale_channel(1.001)),
    "first layer, channel 0 x 1.01": (0, _scale_channel(1.01)),
    "first layer, channels 0 and 1 swapped": (0, _swap_channels),
}
NETWORK_RUNS = {
    "content_branch": (lambda io, m: m(torch.from_numpy(io["windows"]), torch.from_numpy(io["face_id"])), "delta", NETWORK),
    "speaker_branch": (lambda io, m: m(*(torch.from_numpy(io[k]) for k in ("windows", "emb_in", "z")))[0], "delta", NETWORK),
    "translator": (lambda io, m: m(torch.from_numpy(io["input"])), "output_raw", TRANSLATOR),
}


@pytest.mark.parametrize("network", list(NETWORK_RUNS))
def test_broken_weights_are_caught(reference_dir, tmp_path, network):
    # The tolerances absorb kernel rounding only. Weight faults far smaller than a wrong mapping
    # or a transposed kernel must fail the comparison. (A single LSTM row scaled by 1.001 moves
    # the content branch by only 0.02-0.05x its tolerance, and the translator's last weight at
    # 1.001 moves its output 0.07x: faults that small are not caught.)
    io = _io(reference_dir, network)
    model = _import(reference_dir, tmp_path, network, trust_pickle=network == "translator")
    run, key, tol = NETWORK_RUNS[network]
    expected = io[key].astype(np.float64)
    weights = [p for p in model.parameters() if p.dim() >= 2]
    shares = {}
    for fault, (index, perturb) in FAULTS.items():
        if network == "translator" and fault.startswith("output layer"):
            continue
        weight = weights[index]
        saved = weight.detach().clone()
        with torch.inference_mode():
            perturb(weight)
            actual = run(io, model).numpy()
            weight.copy_(saved)
        shares[fault] = float(np.max(np.abs(actual - expected) / tol.bound(expected)))
        with pytest.raises(AssertionError):
            assert_close(actual, io[key], tol, f"{network} with {fault}")
    assert min(shares.values()) > 2, shares
