#!/usr/bin/env python3
"""Add (or replace) one network in a shipped weight set, keeping the rest of the set as it is.

    python3 scripts/add_network_to_weights.py --network mouth_translator=runs/mouth/best/mouth_translator \
        --translator-eval eval_frames.json [--name default]

For a network trained after the rest of the set (the mouth translator): copies its folder into
pretrained/<name>/ (config.json with machine paths made relative), updates weightset.json
(networks, files, training record, training-data attributions, the set digest) and
pretrained/manifest.json. `scripts/build_default_weights.py --mouth-translator` does the same
when the whole set is assembled at once.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from build_default_weights import RECIPES, TRAINING_DATA, network_record, portable_paths, update_manifest  # noqa: E402

from makeittalk.weights.store import NETWORK_FILES, SET_FILE, set_digest, sha256_file  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network", required=True, metavar="NAME=FOLDER", help="network name and its saved folder")
    parser.add_argument("--translator-eval", type=Path, metavar="REPORT.json",
                        help="'makeittalk eval --frames' JSON on the held-out clips (recorded in the set)")
    parser.add_argument("--name", default="default")
    parser.add_argument("--pretrained", type=Path, default=REPO / "pretrained")
    args = parser.parse_args()

    network, sep, folder_text = args.network.partition("=")
    folder = Path(folder_text)
    if not sep or not network:
        parser.error("--network must be NAME=FOLDER, e.g. mouth_translator=runs/mouth/best/mouth_translator")
    for fname in NETWORK_FILES:
        if not (folder / fname).is_file():
            parser.error(f"{folder / fname} is missing: {folder} must be a saved {network} folder")
    target = args.pretrained / args.name
    set_file = target / SET_FILE
    if not set_file.is_file():
        parser.error(f"{set_file} does not exist; build the set first (scripts/build_default_weights.py)")
    data = json.loads(set_file.read_text(encoding="utf-8"))

    staging = Path(tempfile.mkdtemp(prefix=f".{network}-", dir=target))
    try:
        for fname in NETWORK_FILES:
            path = staging / fname
            if fname == "config.json":
                meta = json.loads((folder / fname).read_text(encoding="utf-8"))
                meta.setdefault("training", {})["recipe"] = RECIPES.get(network)
                path.write_text(json.dumps(portable_paths(meta), indent=2) + "\n", encoding="utf-8")
            else:
                shutil.copyfile(folder / fname, path)
            path.chmod(0o644)
        staging.chmod(0o755)
        if (target / network).exists():
            shutil.rmtree(target / network)
        staging.rename(target / network)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    files = {rel: rec for rel, rec in data["files"].items() if not rel.startswith(f"{network}/")}
    for fname in NETWORK_FILES:
        path = target / network / fname
        files[f"{network}/{fname}"] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    data["files"] = dict(sorted(files.items()))
    if network not in data["networks"]:
        data["networks"].append(network)
    data["training"][network] = network_record(target / network)
    data["training_data"] = TRAINING_DATA
    if args.translator_eval:
        data["translator_evaluation"] = portable_paths(json.loads(args.translator_eval.read_text(encoding="utf-8")))
    data["sha256"] = set_digest({rel: rec["sha256"] for rel, rec in files.items()})
    partial = set_file.with_suffix(".json.partial")
    partial.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    partial.chmod(0o644)
    partial.replace(set_file)

    total = update_manifest(args.pretrained, args.name, files)
    print(f"{target / network}: added; {total / 1e6:.1f} MB in the manifest")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
