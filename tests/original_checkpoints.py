"""Checkpoint files in the ORIGINAL MakeItTalk layouts, rebuilt from the reference manifests.

The reference folder stores no weights: each `<ckpt>.manifest.json` lists the original state-dict
keys, shapes and dtypes, and README §1.3 gives the deterministic fill rule. This module applies
the rule and writes `.pth` files the way the original training code saved them, with layout
variants that real files may show. Reusable by any test:

    write_original_checkpoint(reference_dir / "ckpt_autovc.manifest.json", tmp / "ckpt_autovc.pth")
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import OrderedDict
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

FILL_SEED = 20201120

# Layout variants accepted by write_original_checkpoint (combine freely).
VARIANTS = frozenset(
    {
        "module_prefix",  # keys saved through nn.DataParallel: "module." + key
        "no_num_batches_tracked",  # written by PyTorch < 0.4.1
        "extra_comb_mlp",  # speaker branch: legacy comb_mlp.* keys the original loader drops
        "no_opt",  # i2i without the pickled optimizer object (loads with weights_only=True)
        "bare_state_dict",  # the state dict itself at top level, no wrapper dict
    }
)

CPU_CAPABILITY = torch.backends.cpu.get_cpu_capability()
# README §1.4: AVX2 and AVX-512 produce the fill_check hashes; the scalar kernels the *_aten_default ones.
HASHES_EXACT = CPU_CAPABILITY in ("AVX2", "AVX512")
HASHES_DEFAULT = CPU_CAPABILITY == "DEFAULT"


def load_manifest(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def original_pe(max_len: int = 512, d_model: int = 64) -> torch.Tensor:
    """README §1.3 case 4, written independently of makeittalk's own implementation."""
    pe = np.zeros((max_len, d_model), dtype=np.float64)
    for pos in range(max_len):
        for i in range(0, d_model, 2):
            pe[pos, i] = math.sin(pos / (10000 ** ((2 * i) / d_model)))
            pe[pos, i + 1] = math.cos(pos / (10000 ** ((2 * (i + 1)) / d_model)))
    return torch.from_numpy(pe.astype(np.float32)).unsqueeze(0)


def _f32(x: float) -> np.float32:
    return np.float32(x)


def fill_state_dict(manifest: dict) -> "OrderedDict[str, torch.Tensor]":
    """Apply the fill rule: ONE generator seeded 20201120, keys in manifest order, first match wins."""
    g = torch.Generator(device="cpu")
    g.manual_seed(FILL_SEED)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, shape, dtype in manifest["keys"]:
        shape = tuple(shape)
        last = key.rsplit(".", 1)[-1]
        if key.endswith("running_var"):
            x = torch.randn(shape, generator=g).numpy()
            value = _f32(1.0) + _f32(0.1) * np.abs(x)
        elif key.endswith("running_mean"):
            value = _f32(0.1) * torch.randn(shape, generator=g).numpy()
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0, dtype=torch.int64)
            continue
        elif last == "pe":
            state[key] = original_pe(shape[1], shape[2])
            continue
        elif len(shape) == 1 and dtype == "float32" and (key.endswith("weight") or key.endswith("alpha")):
            value = _f32(1.0) + _f32(0.1) * torch.randn(shape, generator=g).numpy()
        elif len(shape) == 1 and dtype == "float32":
            value = _f32(0.1) * torch.randn(shape, generator=g).numpy()
        elif len(shape) >= 2:
            fan_in = math.prod(shape[1:])
            value = torch.randn(shape, generator=g).numpy() * _f32(1.0 / math.sqrt(fan_in))
        else:  # pragma: no cover - manifests hold nothing else
            raise AssertionError(f"no fill rule for {key} {shape} {dtype}")
        assert value.dtype == np.float32, key
        state[key] = torch.from_numpy(np.ascontiguousarray(value))
    return state


@lru_cache(maxsize=4)
def _filled(manifest_path: str) -> "OrderedDict[str, torch.Tensor]":
    return fill_state_dict(load_manifest(manifest_path))


def filled_state_dict(manifest_path: str | Path) -> "OrderedDict[str, torch.Tensor]":
    """fill_state_dict, cached per manifest (tensors are shared: do not modify them in place)."""
    return OrderedDict(_filled(str(Path(manifest_path).resolve())))


def tensor_sha256(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


def all_sha256(state: "OrderedDict[str, torch.Tensor]") -> str:
    h = hashlib.sha256()
    for t in state.values():
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def expected_all_sha256(manifest: dict) -> str | None:
    """The manifest hash this CPU should reproduce, or None where neither applies."""
    if HASHES_EXACT:
        return manifest["fill_check_all_sha256"]
    if HASHES_DEFAULT:
        return manifest["fill_check_all_sha256_aten_default"]
    return None


def comb_mlp_keys() -> "OrderedDict[str, torch.Tensor]":
    """Legacy comb_mlp.* tensors (README §1.2; SPEC §8.2), from their own generator."""
    g = torch.Generator(device="cpu")
    g.manual_seed(1)
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for i, (o, n) in zip((0, 2, 4), ((512, 384), (256, 512), (180, 256))):
        out[f"comb_mlp.{i}.weight"] = torch.randn((o, n), generator=g) / math.sqrt(n)
        out[f"comb_mlp.{i}.bias"] = torch.randn((o,), generator=g) * 0.1
    return out


def original_layout(
    manifest: dict, state: "OrderedDict[str, torch.Tensor]", variants: Iterable[str] = ()
) -> dict:
    """The checkpoint dict the original training code would have saved, with `variants` applied."""
    variants = set(variants)
    unknown = variants - VARIANTS
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}")
    sd: OrderedDict[str, torch.Tensor] = OrderedDict(state)
    if "no_num_batches_tracked" in variants:
        sd = OrderedDict((k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    if "extra_comb_mlp" in variants:
        sd.update(comb_mlp_keys())
    if "module_prefix" in variants:
        sd = OrderedDict(("module." + k, v) for k, v in sd.items())
    if "bare_state_dict" in variants:
        return sd
    ckpt: dict = {manifest["top_level_key"]: sd}
    name = manifest["checkpoint_file"]
    if name == "ckpt_autovc.pth":
        # [inferred] the published file also carries optimizer state; a state_dict is weights_only-safe.
        ckpt["optimizer"] = {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]}
    else:
        ckpt["epoch"] = 116 if name == "ckpt_116_i2i_comb.pth" else 1000
    if name == "ckpt_116_i2i_comb.pth" and "no_opt" not in variants:
        # A real pickled optimizer OBJECT, as the original saved it: torch.load(weights_only=True) refuses it.
        ckpt["opt"] = torch.optim.Adam([torch.nn.Parameter(torch.zeros(3))], lr=2e-4, betas=(0.5, 0.999))
    return ckpt


def write_original_checkpoint(
    manifest_path: str | Path,
    out_path: str | Path,
    variants: Iterable[str] = (),
    state: "OrderedDict[str, torch.Tensor] | None" = None,
) -> Path:
    """Fill from the manifest (unless `state` is given) and torch.save in the original layout."""
    manifest = load_manifest(manifest_path)
    if state is None:
        state = filled_state_dict(manifest_path)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(original_layout(manifest, state, variants), out)
    return out


STEMS = {
    "autovc": "ckpt_autovc",
    "content_branch": "ckpt_content_branch",
    "speaker_branch": "ckpt_speaker_branch",
    "translator": "ckpt_116_i2i_comb",
}

_cache_dir: Path | None = None


def _session_dir() -> Path:
    global _cache_dir
    if _cache_dir is None:
        import atexit
        import shutil
        import tempfile

        _cache_dir = Path(tempfile.mkdtemp(prefix="makeittalk-original-ckpts-"))
        atexit.register(shutil.rmtree, _cache_dir, True)
    return _cache_dir


def cached_original_checkpoint(reference_dir: Path, network: str, variants: Iterable[str] = ()) -> Path:
    """Write (once per process) the original-layout file of `network` with `variants`; return its path."""
    variants = tuple(sorted(set(variants)))
    stem = STEMS[network]
    path = _session_dir() / "-".join((stem,) + variants) / f"{stem}.pth"
    if not path.is_file():
        write_original_checkpoint(reference_dir / f"{stem}.manifest.json", path, variants)
    return path


def folder_with(dest: Path, *files: Path) -> Path:
    """A folder holding (symlinks to) exactly `files`: what a user points import-original at."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        (dest / f.name).symlink_to(f)
    return dest


LANDMARK_NETWORKS = ("autovc", "content_branch", "speaker_branch")


def weights_home_with_rule_filled_set(
    reference_dir: Path,
    tmp_path_factory,
    set_name: str,
    *,
    with_translator: bool = False,
) -> Path:
    """A fresh $MAKEITTALK_HOME holding `set_name`: rule-filled original checkpoints imported
    through the user's import path (the landmark networks, plus the translator if asked)."""
    import pytest

    from makeittalk.weights.original import import_original

    home = tmp_path_factory.mktemp(f"home_{set_name}")
    files = [cached_original_checkpoint(reference_dir, network) for network in LANDMARK_NETWORKS]
    if with_translator:
        files.append(cached_original_checkpoint(reference_dir, "translator", ["no_opt"]))
    folder = folder_with(tmp_path_factory.mktemp(f"ckpts_{set_name}"), *files)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MAKEITTALK_HOME", str(home))
        import_original(folder, set_name)
    return home
