"""Weight sets: where they live, how they are listed, verified, written and loaded.

A weight set is a folder holding one subfolder per network (`config.json` + `model.safetensors`,
see makeittalk.models.pretrained) and `weightset.json` (name, source, licence, networks, the
sha256 of every file). Two places hold them:

- shipped: `pretrained/<set>/` beside the package, every file listed with its sha256 in
  `pretrained/manifest.json` (override the folder with $MAKEITTALK_PRETRAINED);
- the user's store: `$MAKEITTALK_HOME/weights/<set>/` (default `~/.cache/makeittalk`).

`load_network(network, weights="default")` checks the files' sha256 before building the module.
This module does not import torch at module level so that `makeittalk weights list` stays fast.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from makeittalk.errors import MissingStageError, WeightsError
from makeittalk.fileio import normal_permissions, replace_folder

if TYPE_CHECKING:
    import torch

    from makeittalk.models.pretrained import PretrainedMixin

SET_FILE = "weightset.json"
MANIFEST_FILE = "manifest.json"
SET_FORMAT = "makeittalk-weightset"
MANIFEST_FORMAT = "makeittalk-pretrained-manifest"
FORMAT_VERSION = 1
NETWORK_FILES = ("config.json", "model.safetensors")
DEFAULT = "default"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def weights_home() -> Path:
    """$MAKEITTALK_HOME, default ~/.cache/makeittalk."""
    env = os.environ.get("MAKEITTALK_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "makeittalk"


def user_weights_dir() -> Path:
    return weights_home() / "weights"


def shipped_dir() -> Path:
    """The shipped `pretrained/` folder ($MAKEITTALK_PRETRAINED overrides it).

    A source checkout (or editable install) has it beside the package; a wheel installs it as
    data files under <prefix>/share/makeittalk/pretrained.
    """
    env = os.environ.get("MAKEITTALK_PRETRAINED")
    if env:
        return Path(env).expanduser()
    beside = Path(__file__).resolve().parents[2] / "pretrained"
    if (beside / MANIFEST_FILE).is_file():
        return beside
    import sys
    import sysconfig

    for prefix in (Path(sysconfig.get_path("data")), Path(sys.prefix)):
        installed = prefix / "share" / "makeittalk" / "pretrained"
        if (installed / MANIFEST_FILE).is_file():
            return installed
    return beside


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            h.update(block)
    return h.hexdigest()


def set_digest(files: Mapping[str, str]) -> str:
    """One sha256 for a weight set: over 'sha256  relpath' lines of its network files, sorted."""
    lines = "".join(f"{sha}  {rel}\n" for rel, sha in sorted(files.items()) if rel != SET_FILE)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


@dataclasses.dataclass(frozen=True)
class WeightSet:
    """One available weight set. `files` maps paths relative to `path` to their recorded sha256."""

    name: str
    path: Path
    origin: str  # "shipped" or "user"
    source: str
    licence: str
    licence_note: str
    networks: tuple[str, ...]
    files: Mapping[str, str]
    info: Mapping[str, Any]

    @property
    def sha256(self) -> str:
        return set_digest(self.files)

    def network_dir(self, network: str) -> Path:
        if network not in self.networks:
            raise MissingStageError(
                f"weight set {self.name!r} has no {network} (it covers {', '.join(self.networks) or 'nothing'}); "
                f"choose another set with --weights, or add the network's checkpoint and re-import with --overwrite"
            )
        return self.path / network


# ---------------------------------------------------------------- reading


def read_manifest(folder: Path | None = None) -> dict[str, Any]:
    """pretrained/manifest.json: {'default': name or None, 'files': [{path, sha256, bytes}]}."""
    folder = folder or shipped_dir()
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return {"format": MANIFEST_FORMAT, "format_version": FORMAT_VERSION, "default": None, "files": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"]
        assert isinstance(files, list) and all("path" in f and "sha256" in f for f in files)
    except (OSError, ValueError, KeyError, AssertionError, TypeError):
        raise WeightsError(f"{path} is not a valid weights manifest; restore it from the makeittalk release") from None
    return data


def _read_set_file(folder: Path) -> dict[str, Any]:
    path = folder / SET_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(f"{path} is missing: {folder} is not a weight set") from None
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path} cannot be read ({exc}); re-create the weight set") from None
    if data.get("format") != SET_FORMAT or not isinstance(data.get("networks"), list):
        raise WeightsError(f"{path} is not a makeittalk weight-set description; re-create the weight set")
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise WeightsError(f"{path} was written by a newer makeittalk (format {data['format_version']}); upgrade it")
    return data


def _make_set(folder: Path, origin: str, data: Mapping[str, Any], files: Mapping[str, str]) -> WeightSet:
    return WeightSet(
        name=str(data.get("name", folder.name)),
        path=folder,
        origin=origin,
        source=str(data.get("source", "")),
        licence=str(data.get("licence", "unknown")),
        licence_note=str(data.get("licence_note", "")),
        networks=tuple(data["networks"]),
        files=dict(files),
        info=data,
    )


def _shipped_sets() -> list[WeightSet]:
    root = shipped_dir()
    manifest = read_manifest(root)
    by_set: dict[str, dict[str, str]] = {}
    for entry in manifest["files"]:
        top, _, rel = str(entry["path"]).partition("/")
        by_set.setdefault(top, {})[rel] = str(entry["sha256"])
    sets = []
    for name, files in sorted(by_set.items()):
        folder = root / name
        sets.append(_make_set(folder, "shipped", _read_set_file(folder), files))
    return sets


def scan_user_sets() -> tuple[list[WeightSet], list[str]]:
    """Weight sets in the user's store, and one line per subfolder that is not a valid set."""
    root = user_weights_dir()
    sets: list[WeightSet] = []
    problems: list[str] = []
    if not root.is_dir():
        return sets, problems
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue  # temporary folders of an interrupted write
        try:
            data = _read_set_file(folder)
            files = {rel: str(rec["sha256"]) for rel, rec in data.get("files", {}).items()}
            sets.append(_make_set(folder, "user", data, files))
        except (WeightsError, KeyError, TypeError) as exc:
            problems.append(f"{folder}: {exc}")
    return sets, problems


def list_weight_sets() -> list[WeightSet]:
    """Every available weight set: the shipped ones first, then the user's store."""
    return _shipped_sets() + scan_user_sets()[0]


def default_weight_set_name() -> str | None:
    """The shipped default set's name, or None where the installation's manifest names none."""
    value = read_manifest().get("default")
    return str(value) if value else None


def get_weight_set(name: str) -> WeightSet:
    """The weight set called `name` ('default' = the shipped default)."""
    if name == DEFAULT:
        default = default_weight_set_name()
        if default is None:
            have = [s.name for s in list_weight_sets()]
            hint = f" (installed here: {', '.join(have)})" if have else ""
            raise MissingStageError(
                f"this installation's default weights are missing: {shipped_dir() / MANIFEST_FILE} names no default "
                "set (a broken install, or $MAKEITTALK_PRETRAINED pointing elsewhere); 'makeittalk weights verify' "
                "checks the installed sets and reinstalling makeittalk restores the defaults. Or import the original "
                "MakeItTalk checkpoints with 'makeittalk weights import-original DIR' and choose them with "
                f"--weights original{hint}"
            )
        name = default
    for ws in list_weight_sets():
        if ws.name == name:
            return ws
    have = [s.name for s in list_weight_sets()]
    raise WeightsError(
        f"no weight set named {name!r} (available: {', '.join(have) or 'none'}); "
        f"'makeittalk weights list' shows them, 'makeittalk weights import-original DIR' adds the original checkpoints"
    )


# ---------------------------------------------------------------- verifying

_verified: dict[tuple[str, int, int, str], bool] = {}


def _file_ok(path: Path, expected: str) -> bool:
    """sha256 check, cached per (path, size, mtime) within the process."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    key = (str(path), st.st_size, st.st_mtime_ns, expected)
    if key not in _verified:
        _verified[key] = sha256_file(path) == expected
    return _verified[key]


def verify_weight_set(ws: WeightSet, networks: tuple[str, ...] | None = None) -> list[tuple[str, bool, str]]:
    """Re-hash the set's files: [(relpath, ok, detail)] for the networks asked (all by default)."""
    wanted = networks or ws.networks
    results = []
    for rel, expected in sorted(ws.files.items()):
        if rel.split("/", 1)[0] not in wanted and rel != SET_FILE:
            continue
        path = ws.path / rel
        if not path.is_file():
            results.append((rel, False, "missing"))
        elif _file_ok(path, expected):
            results.append((rel, True, "ok"))
        else:
            results.append((rel, False, f"sha256 differs from the recorded {expected[:12]}…"))
    for network in wanted:
        for fname in NETWORK_FILES:
            rel = f"{network}/{fname}"
            if rel not in ws.files:
                where = "pretrained/manifest.json" if ws.origin == "shipped" else SET_FILE
                results.append((rel, False, f"not listed in {where}"))
    return results


def _require_verified(ws: WeightSet, network: str) -> None:
    bad = [(rel, detail) for rel, ok, detail in verify_weight_set(ws, (network,)) if not ok]
    if bad:
        rel, detail = bad[0]
        fix = (
            "reinstall makeittalk to restore pretrained/"
            if ws.origin == "shipped"
            else "re-create it (e.g. 'makeittalk weights import-original DIR --overwrite')"
        )
        raise WeightsError(f"weight set {ws.name!r}: {ws.path / rel}: {detail}; the files are damaged or were changed, {fix}")


# ---------------------------------------------------------------- loading


def _looks_like_path(value: str | os.PathLike[str]) -> bool:
    if isinstance(value, Path) or not isinstance(value, str):
        return True
    return os.sep in value or "/" in value or value.startswith((".", "~"))


def _is_set_name(weights: str | os.PathLike[str]) -> bool:
    """A bare word is a set name unless no set has it and a folder of that name exists."""
    if _looks_like_path(weights):
        return False
    name = str(weights)
    if name == DEFAULT or name in {s.name for s in list_weight_sets()}:
        return True
    return not Path(name).is_dir()


def _network_class(network: str) -> type[PretrainedMixin]:
    from makeittalk.models import NETWORKS

    if network not in NETWORKS:
        raise WeightsError(f"unknown network {network!r}; the networks are {', '.join(NETWORKS)}")
    return NETWORKS[network]


def resolve_network_dir(network: str, weights: str | os.PathLike[str] = DEFAULT) -> tuple[Path, WeightSet | None]:
    """The folder holding `network`'s files, and its weight set when it comes from one (verified)."""
    if _is_set_name(weights):
        ws = get_weight_set(str(weights))
        folder = ws.network_dir(network)
        _require_verified(ws, network)
        return folder, ws
    folder = Path(weights).expanduser()
    if (folder / "config.json").is_file():
        return folder, None
    if (folder / SET_FILE).is_file():
        data = _read_set_file(folder)
        files = {rel: str(rec["sha256"]) for rel, rec in data.get("files", {}).items()}
        ws = _make_set(folder, "user", data, files)
        sub = ws.network_dir(network)
        _require_verified(ws, network)
        return sub, ws
    if (folder / network / "config.json").is_file():
        return folder / network, None
    if not folder.exists():
        raise WeightsError(f"{folder} does not exist; pass a weight-set name ('makeittalk weights list') or a folder")
    raise MissingStageError(f"{folder} holds no {network} network (no config.json); pass a weight-set or network folder")


def load_network(
    network: str, weights: str | os.PathLike[str] = DEFAULT, device: str | torch.device | None = None
) -> PretrainedMixin:
    """The network `network` ('autovc', 'content_branch', 'speaker_branch', 'translator', …) with
    weights from a weight-set name or folder, on `device` (None: pick_device), in eval mode."""
    cls = _network_class(network)
    folder, _ = resolve_network_dir(network, weights)
    return cls.from_directory(folder, device=device)


# ---------------------------------------------------------------- writing


def check_new_set_name(name: str, overwrite: bool = False) -> Path:
    """Validate a new user set name; return its folder. Never silently replaces an existing set."""
    if not _NAME_RE.match(name) or name == DEFAULT:
        raise WeightsError(
            f"invalid weight-set name {name!r}: use letters, digits, '.', '_' or '-' (not 'default'), e.g. --name original"
        )
    if name in {s.name for s in _shipped_sets()}:
        raise WeightsError(f"{name!r} is the name of a shipped weight set; choose another with --name")
    folder = user_weights_dir() / name
    if folder.exists() and not overwrite:
        raise WeightsError(f"weight set {name!r} already exists at {folder}; pass --overwrite to replace it or --name to choose another")
    return folder


def write_weight_set(
    name: str,
    networks: Mapping[str, PretrainedMixin],
    *,
    source: str,
    licence: str,
    licence_note: str = "",
    extra: Mapping[str, Any] | None = None,
    notice: str | None = None,
    overwrite: bool = False,
) -> WeightSet:
    """Save `networks` as user weight set `name`, atomically: a temporary folder renamed into place."""
    final = check_new_set_name(name, overwrite)
    root = final.parent
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    try:
        files: dict[str, dict[str, Any]] = {}
        for network, module in networks.items():
            module.save_pretrained(tmp / network)
            for fname in NETWORK_FILES:
                path = tmp / network / fname
                files[f"{network}/{fname}"] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        if notice:
            (tmp / "NOTICE.txt").write_text(notice.rstrip() + "\n", encoding="utf-8")
        data: dict[str, Any] = {
            "format": SET_FORMAT,
            "format_version": FORMAT_VERSION,
            "name": name,
            "source": source,
            "licence": licence,
            "licence_note": licence_note,
            "networks": list(networks),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "files": files,
        }
        data["sha256"] = set_digest({rel: rec["sha256"] for rel, rec in files.items()})
        if extra:
            data.update(extra)
        (tmp / SET_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        # mkdtemp makes a 0700 folder and safetensors 0600 files; a set gets the usual modes.
        normal_permissions(tmp, recursive=True)
        replace_folder(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _make_set(final, "user", data, {rel: rec["sha256"] for rel, rec in files.items()})
