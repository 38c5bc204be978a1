"""Import of the ORIGINAL MakeItTalk checkpoints (yzhou359/MakeItTalk) into our format.

Each original file's state dict is mapped key by key onto our modules (with the original's
constructor sizes), every shape is checked, and the result is written as a weight set in the
user's store. The files are loaded with `torch.load(weights_only=True)`; the image-translator file
also pickles its optimizer object, which only a full unpickle (`trust_pickle=True`) can read.

The original checkpoints are licensed CC BY-NC 4.0; the licence is recorded with the weight set.
"""

from __future__ import annotations

import dataclasses
import pickle
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from makeittalk.errors import WeightsError
from makeittalk.models import AutoVC, ContentBranch, ImageTranslator, SpeakerBranch
from makeittalk.models.pretrained import PretrainedMixin, build_for_loading, load_weights
from makeittalk.models.translator import ImageTranslatorConfig
from makeittalk.weights import store

ORIGINAL_SET_NAME = "original"
LICENCE = "CC BY-NC 4.0"
LICENCE_NOTE = (
    "Original MakeItTalk checkpoints by Yang Zhou et al. (github.com/yzhou359/MakeItTalk), licensed "
    "CC BY-NC 4.0: non-commercial use only, with attribution; see https://creativecommons.org/licenses/by-nc/4.0/"
)
SOURCE = "original MakeItTalk checkpoints (yzhou359/MakeItTalk), imported"
NOTICE = f"""These weights were converted from the original MakeItTalk checkpoints
(Yang Zhou, Xintong Han, Eli Shechtman, Jose Echevarria, Evangelos Kalogerakis, Dingzeyu Li:
"MakeItTalk: Speaker-Aware Talking-Head Animation", SIGGRAPH Asia 2020;
https://github.com/yzhou359/MakeItTalk).

Licence: {LICENCE} (https://creativecommons.org/licenses/by-nc/4.0/).
You may use them for non-commercial purposes only, and must give appropriate credit.
"""


@dataclasses.dataclass(frozen=True)
class OriginalFile:
    network: str
    filename: str
    top_level_key: str
    original_class: str
    model_class: type[PretrainedMixin]
    ignored_prefixes: tuple[str, ...] = ()  # in the file, not in our module, dropped on purpose


ORIGINAL_FILES: dict[str, OriginalFile] = {
    f.network: f
    for f in (
        OriginalFile("autovc", "ckpt_autovc.pth", "model", "Generator(16, 256, 512, 16)", AutoVC),
        OriginalFile("content_branch", "ckpt_content_branch.pth", "model_g_face_id", "Audio2landmark_content", ContentBranch),
        # decoder.*: the transformer decoder the original builds but never calls; comb_mlp.*: legacy
        # keys the original loader drops; encoder.pe.pe: a buffer we compute (checked below).
        OriginalFile(
            "speaker_branch", "ckpt_speaker_branch.pth", "G", "Audio2landmark_pos", SpeakerBranch,
            ignored_prefixes=("decoder.", "comb_mlp.", "encoder.pe.pe"),
        ),
        OriginalFile("translator", "ckpt_116_i2i_comb.pth", "G", "ResUnetGenerator(6, 3, 6)", ImageTranslator),
    )
}


# ---------------------------------------------------------------- key maps (ours -> original)

_Rules = list[tuple[str, str]]

_AUTOVC_RULES: _Rules = [
    (r"^(encoder|postnet)\.convs\.(\d+)\.conv\.", r"\1.convolutions.\2.0.conv."),
    (r"^(encoder|postnet)\.convs\.(\d+)\.norm\.", r"\1.convolutions.\2.1."),
    (r"^decoder\.proj\.", "decoder.linear_projection.linear_layer."),
]
# The original binds fc_prior, then fc, then bilstm (its state-dict order); names map one to one.
_CONTENT_RULES: _Rules = [(r"^prior\.", "fc_prior."), (r"^lstm\.", "bilstm."), (r"^head\.", "fc.")]
_SPEAKER_RULES: _Rules = [
    (r"^audio_encoder\.", "audio_content_encoder."),
    (r"^speaker_encoder\.", "spk_emb_encoder."),
    (r"^transformer\.embed\.", "encoder.embed.embed."),
    (r"^transformer\.layers\.(\d+)\.norm(\d)\.", r"encoder.layers.\1.norm_\2."),
    (r"^transformer\.layers\.(\d+)\.attn\.(q|k|v)\.", r"encoder.layers.\1.attn.\2_linear."),
    (r"^transformer\.layers\.(\d+)\.attn\.out\.", r"encoder.layers.\1.attn.out."),
    (r"^transformer\.layers\.(\d+)\.ff\.fc(\d)\.", r"encoder.layers.\1.ff.linear_\2."),
    (r"^transformer\.norm\.", "encoder.norm."),
    (r"^head\.", "out."),
]


def _apply_rules(rules: _Rules, key: str) -> str:
    for pattern, repl in rules:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    return key


def _translator_key(config: ImageTranslatorConfig, key: str) -> str:
    """Our flat level list -> the original's nested ResUnetSkipConnectionBlocks.

    Level i's Sequential is model.model (i=0), then model.model.4.model, then .5.model per level;
    layer indices differ for the outermost, middle and innermost blocks.
    """
    m = re.match(r"^levels\.(\d+)\.(down_conv|down_norm|up_conv|up_norm|down_res|up_res)(?:\.(\d+))?\.(.*)$", key)
    if not m:
        raise KeyError(key)
    level, part, res, rest = int(m.group(1)), m.group(2), m.group(3), m.group(4)
    n = config.num_downs
    prefix = "model.model." if level == 0 else "model.model.4.model." + "5.model." * (level - 1)
    if level == 0:
        index = {"down_conv": 0, "down_res": 2, "up_conv": 6}
    elif level == n - 1:
        index = {"down_conv": 0, "down_res": 2, "up_conv": 5, "up_norm": 6, "up_res": 8}
    else:
        index = {"down_conv": 0, "down_norm": 1, "down_res": 3, "up_conv": 7, "up_norm": 8, "up_res": 10}
    i = index[part] + (int(res) if res is not None else 0)
    if res is not None:  # ResidualBlock: block = [conv, bn, relu, conv, bn]
        sub, _, tail = rest.partition(".")
        rest = "block." + {"conv1": "0", "norm1": "1", "conv2": "3", "norm2": "4"}[sub] + "." + tail
    return f"{prefix}{i}.{rest}"


def original_key_map(network: str, module: nn.Module) -> dict[str, str]:
    """{our state-dict key: original state-dict key} for `module` (any config, tiny included)."""
    keys = list(module.state_dict())
    if network == "translator":
        assert isinstance(module, ImageTranslator)
        return {k: _translator_key(module.config, k) for k in keys}
    rules = {"autovc": _AUTOVC_RULES, "content_branch": _CONTENT_RULES, "speaker_branch": _SPEAKER_RULES}[network]
    return {k: _apply_rules(rules, k) for k in keys}


def to_original_state_dict(network: str, module: nn.Module) -> dict[str, torch.Tensor]:
    """Our module's weights under the original's key names (without the never-used decoder)."""
    mapping = original_key_map(network, module)
    state = module.state_dict()
    out = {mapping[k]: v for k, v in state.items()}
    if network == "speaker_branch":
        assert isinstance(module, SpeakerBranch)
        out["encoder.pe.pe"] = module.transformer.pe.detach().clone()
    return out


# ---------------------------------------------------------------- loading files


def _pickled_globals(exc: BaseException) -> list[str]:
    """The Python objects a weights_only load refused (empty: the file is not a readable pickle)."""
    return re.findall(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))


def load_checkpoint(path: Path, trust_pickle: bool = False) -> tuple[Any, bool]:
    """torch.load the file on the CPU, safely if possible. Returns (object, needed_full_unpickle)."""
    # mmap avoids a second in-memory copy of the 280 MB translator; only the zip format supports it.
    mmap = zipfile.is_zipfile(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap), False
    except Exception as exc:  # noqa: BLE001 - torch raises several types; sorted below
        refused = _pickled_globals(exc)
        if not refused and not (trust_pickle and isinstance(exc, pickle.UnpicklingError)):
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise WeightsError(f"{path} cannot be read by torch.load ({first[:200]}); is it a complete .pth download?") from None
    if not trust_pickle:
        raise WeightsError(
            f"{path.name} pickles Python objects besides tensors (it holds a {', '.join(refused[:2])}), which torch can only "
            f"load by running code from the file, so a tampered file could run anything on this computer; if it comes from "
            f"the official MakeItTalk download and you trust it, re-run with --trust-pickle"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=False, mmap=mmap), True
    except Exception as exc:  # noqa: BLE001
        raise WeightsError(f"{path} cannot be unpickled even with --trust-pickle ({type(exc).__name__}: {exc})") from None


def extract_state_dict(obj: Any, spec: OriginalFile, path: Path) -> dict[str, torch.Tensor]:
    """The state dict under the file's top-level key (a bare state dict is accepted too)."""
    if isinstance(obj, Mapping) and spec.top_level_key in obj and isinstance(obj[spec.top_level_key], Mapping):
        sd = obj[spec.top_level_key]
    elif isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        sd = obj
    else:
        keys = ", ".join(map(repr, list(obj)[:6])) if isinstance(obj, Mapping) else type(obj).__name__
        raise WeightsError(
            f"{path.name}: expected a dict with the {spec.original_class} state dict under {spec.top_level_key!r}, "
            f"found {keys}; is this the original {spec.filename}?"
        )
    return dict(sd)


@dataclasses.dataclass
class ImportedNetwork:
    network: str
    file: Path
    file_sha256: str
    module: PretrainedMixin
    parameters: int
    original_keys: int
    epoch: int | None
    notes: list[str]
    trusted_pickle: bool


def convert_state_dict(
    spec: OriginalFile, raw: Mapping[str, Any], source: str = "checkpoint"
) -> tuple[PretrainedMixin, list[str]]:
    """Map an original state dict onto a fresh module with the original sizes; verify every shape."""
    notes: list[str] = []
    sd = dict(raw)
    if any(k.startswith("module.") for k in sd):
        # Saved through nn.DataParallel (the original's i2i loader falls back to that wrapper).
        sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
        notes.append("stripped the 'module.' prefix")
    module = build_for_loading(spec.model_class, spec.model_class.config_class())
    assert isinstance(module, nn.Module)
    mapping = original_key_map(spec.network, module)
    target = module.state_dict()
    new_state: dict[str, torch.Tensor] = {}
    missing: list[str] = []
    filled_nbt = 0
    for ours, orig in mapping.items():
        expected = target[ours]
        if orig not in sd:
            if ours.endswith("num_batches_tracked"):
                # Files from PyTorch < 0.4.1 have no counter; it only matters for momentum=None.
                new_state[ours] = torch.zeros((), dtype=torch.int64)
                filled_nbt += 1
                continue
            missing.append(orig)
            continue
        value = sd.pop(orig)
        if not isinstance(value, torch.Tensor):
            raise WeightsError(f"{source}: entry {orig!r} is a {type(value).__name__}, not a tensor; is this the original {spec.filename}?")
        if tuple(value.shape) != tuple(expected.shape):
            raise WeightsError(
                f"{source}: key {orig!r} has shape {tuple(value.shape)}, {spec.original_class} expects "
                f"{tuple(expected.shape)}; this is not the original {spec.filename} or it was trained with other sizes"
            )
        new_state[ours] = value.detach().to(device="cpu", dtype=expected.dtype).clone()
    if missing:
        raise WeightsError(
            f"{source}: {len(missing)} key(s) of {spec.original_class} are missing (first: {', '.join(missing[:3])}); "
            f"this is not the original {spec.filename} or the file is incomplete"
        )
    if filled_nbt:
        notes.append(f"added {filled_nbt} missing BatchNorm num_batches_tracked counters (file from PyTorch < 0.4.1)")
    ignored: dict[str, int] = {}
    unexpected: list[str] = []
    for key in sd:
        prefix = next((p for p in spec.ignored_prefixes if key.startswith(p)), None)
        if prefix is None:
            unexpected.append(key)
        else:
            ignored[prefix] = ignored.get(prefix, 0) + 1
    if unexpected:
        raise WeightsError(
            f"{source}: {len(unexpected)} unexpected key(s) for {spec.original_class} (first: {', '.join(unexpected[:3])}); "
            f"is this the original {spec.filename}?"
        )
    if spec.network == "speaker_branch":
        assert isinstance(module, SpeakerBranch)
        _check_pe(sd.get("encoder.pe.pe"), module, source, notes)
        if ignored.get("decoder."):
            notes.append(f"ignored {ignored['decoder.']} decoder.* keys (the transformer decoder is never used)")
        if ignored.get("comb_mlp."):
            notes.append(f"dropped {ignored['comb_mlp.']} legacy comb_mlp.* keys (as the original loader does)")
    load_weights(module, new_state, source)
    return module, notes  # type: ignore[return-value]


def _check_pe(pe: Any, module: SpeakerBranch, source: str, notes: list[str]) -> None:
    """Our PE comes from the formula; refuse a file whose stored buffer would behave differently."""
    if pe is None:
        notes.append("no encoder.pe.pe buffer in the file; the positional encoding is computed")
        return
    ours = module.transformer.pe
    if not isinstance(pe, torch.Tensor) or pe.dim() != 3 or pe.shape[0] != 1 or pe.shape[2] != ours.shape[2] or pe.shape[1] < 1:
        raise WeightsError(f"{source}: encoder.pe.pe has shape {tuple(getattr(pe, 'shape', ()))}, expected (1, 512, {ours.shape[2]})")
    n = min(pe.shape[1], ours.shape[1])
    diff = float((pe[0, :n].float() - ours[0, :n]).abs().max())
    if diff > 1e-6:
        raise WeightsError(
            f"{source}: its positional-encoding buffer encoder.pe.pe differs from the original formula by {diff:.3g}; "
            f"this is not the released speaker-branch checkpoint"
        )


# ---------------------------------------------------------------- the import


@dataclasses.dataclass
class ImportReport:
    name: str
    weight_set: store.WeightSet
    imported: list[ImportedNetwork]
    not_found: list[str]  # file names absent from the folder


def find_original_files(directory: Path) -> dict[str, Path]:
    """{network: path} for the original files present in `directory`."""
    return {n: directory / f.filename for n, f in ORIGINAL_FILES.items() if (directory / f.filename).is_file()}


def import_original(
    directory: str | Path,
    name: str = ORIGINAL_SET_NAME,
    *,
    trust_pickle: bool = False,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Import any subset of the four original checkpoints in `directory` as weight set `name`.

    Everything is converted and checked in memory before anything is written; the set is then
    written atomically. Raises WeightsError with a one-line fix for every user-fixable problem.
    """
    say = progress or (lambda _msg: None)
    folder = Path(directory).expanduser()
    if not folder.is_dir():
        raise WeightsError(f"{folder} is not a folder; pass the folder holding the original ckpt_*.pth files")
    found = find_original_files(folder)
    if not found:
        names = ", ".join(f.filename for f in ORIGINAL_FILES.values())
        raise WeightsError(f"none of the original checkpoints ({names}) is in {folder}; download them from the MakeItTalk README")
    store.check_new_set_name(name, overwrite)  # fail before the slow part
    imported: list[ImportedNetwork] = []
    for network, path in found.items():
        spec = ORIGINAL_FILES[network]
        say(f"reading {path.name} …")
        digest = store.sha256_file(path)
        obj, trusted = load_checkpoint(path, trust_pickle)
        raw = extract_state_dict(obj, spec, path)
        module, notes = convert_state_dict(spec, raw, source=path.name)
        if trusted:
            notes.append("loaded with --trust-pickle (full unpickling)")
        epoch = obj.get("epoch") if isinstance(obj, Mapping) else None
        imported.append(
            ImportedNetwork(
                network=network,
                file=path,
                file_sha256=digest,
                module=module,
                parameters=module.num_parameters(),
                original_keys=len(raw),
                epoch=int(epoch) if isinstance(epoch, int) else None,
                notes=notes,
                trusted_pickle=trusted,
            )
        )
        del obj, raw
    say(f"writing weight set {name!r} …")
    extra = {
        "imported_from": {
            item.network: {
                "file": item.file.name,
                "sha256": item.file_sha256,
                "epoch": item.epoch,
                "original_class": ORIGINAL_FILES[item.network].original_class,
                "notes": item.notes,
            }
            for item in imported
        }
    }
    ws = store.write_weight_set(
        name,
        {item.network: item.module for item in imported},
        source=SOURCE,
        licence=LICENCE,
        licence_note=LICENCE_NOTE,
        extra=extra,
        notice=NOTICE,
        overwrite=overwrite,
    )
    not_found = [f.filename for n, f in ORIGINAL_FILES.items() if n not in found]
    return ImportReport(name=name, weight_set=ws, imported=imported, not_found=not_found)
