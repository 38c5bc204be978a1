#!/usr/bin/env python3
"""Assemble the shipped default weight set from finished training runs.

    python3 scripts/build_default_weights.py --autovc runs/autovc/best/autovc \
        --content runs/content/best/content_branch --speaker runs/speaker/best/speaker_branch \
        --eval eval_val.json [--amp-lip 1.0 --amp-pos 1.0 --no-calibrate-content --no-face-tweaks]

Copies each network folder (config.json with its embedded training record, model.safetensors)
into pretrained/default/, writes pretrained/default/weightset.json (sources, licences and
attributions of the training data, steps, validation figures, held-out evaluation, animation
tuning) and lists every file with its sha256 in pretrained/manifest.json, making "default" the
default set. Refuses to replace an existing set unless --overwrite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from makeittalk.weights.store import (  # noqa: E402
    FORMAT_VERSION,
    MANIFEST_FILE,
    MANIFEST_FORMAT,
    NETWORK_FILES,
    SET_FILE,
    SET_FORMAT,
    set_digest,
    sha256_file,
)

TRAINING_DATA = [
    {
        "data": "LibriSpeech read English speech (311 utterances, 261 speakers, 59.8 min), via resemble-ai/Resemblyzer",
        "used_for": "autovc",
        "licence": "CC BY 4.0",
        "attribution": "LibriSpeech ASR corpus, V. Panayotov, G. Chen, D. Povey, S. Khudanpur, CC BY 4.0",
    },
    {
        "data": "Obama weekly-address mouth keypoints with audio (65 segments, 2.7 min), tdubnov/obamanet",
        "used_for": "autovc (audio), content_branch",
        "licence": "MIT (repository); US presidential addresses",
        "attribution": "obamanet, K. V. Bhargava and T. Dubnov (MIT)",
    },
    {
        "data": "PC-AVS talking-face demo clips (Hangz-nju-cuhk/Talking-Face_PC-AVS)",
        "used_for": "autovc (audio), content_branch, speaker_branch, mouth_translator",
        "licence": "CC BY 4.0",
        "attribution": "Zhou et al., Pose-Controllable Talking Face Generation by Implicitly Modularized "
        "Audio-Visual Representation (CVPR 2021), CC BY 4.0",
    },
    {
        "data": "video-retalking demo clips (OpenTalker/video-retalking)",
        "used_for": "autovc (audio), content_branch, speaker_branch, mouth_translator",
        "licence": "Apache-2.0",
        "attribution": "OpenTalker/video-retalking (Apache-2.0)",
    },
    {
        "data": "StyleTalk demo clips (FuxiVirtualHuman/styletalk)",
        "used_for": "autovc (audio), content_branch, speaker_branch, mouth_translator",
        "licence": "MIT",
        "attribution": "FuxiVirtualHuman/styletalk (MIT)",
    },
    {
        "data": "EDTalk demo clips (tanshuai0219/EDTalk)",
        "used_for": "autovc (audio), content_branch, speaker_branch, mouth_translator",
        "licence": "Apache-2.0",
        "attribution": "tanshuai0219/EDTalk (Apache-2.0)",
    },
    {
        "data": "LRW-AR Arabic TV-news word clips (2,004 clips, 40.7 min; 1,695 trained on, 5 of 35 speakers held "
        "out), via Essa-Ramzy/Arabic-Lip-Reading",
        "used_for": "content_branch, mouth_translator",
        "licence": "MIT (repository); Arabic TV news broadcasts, research use",
        "attribution": "LRW-AR word clips via Essa-Ramzy/Arabic-Lip-Reading (MIT)",
    },
    {
        "data": "GRID audio-visual corpus, speaker s1 (499 sentences, 24.9 min; the last 50 held out), via "
        "osalinasv/lipnet",
        "used_for": "content_branch, mouth_translator",
        "licence": "CC BY 4.0 (GRID corpus); Apache-2.0 (repository)",
        "attribution": "M. Cooke, J. Barker, S. Cunningham, X. Shao, An audio-visual corpus for speech perception "
        "and automatic speech recognition, JASA 120(5), 2006; GRID corpus, CC BY 4.0",
    },
    {
        "data": "68-point landmarks of the talking clips: dlib shape_predictor_68_face_landmarks",
        "used_for": "training targets",
        "licence": "model CC0; dlib notes that the iBUG 300-W training images restrict commercial use",
        "attribution": "dlib (D. King), iBUG 300-W",
    },
]


#: The training config of each shipped network (makeittalk/training/configs/).
RECIPES = {"autovc": "autovc.yaml", "content_branch": "content_v2_finetune.yaml", "speaker_branch": "speaker.yaml",
           "mouth_translator": "mouth_translator.yaml, then mouth_translator_gan.yaml"}

#: Folder names a training machine's absolute paths are cut back to (scripts/train_default_weights.sh
#: puts prepared data under datasets/ and runs under runs/; the raw data is shared/data).
_PATH_ANCHORS = ("shared/data", "datasets", "runs", "candidate")


def portable_path(text: str) -> str:
    """An absolute path as the relative path from its anchor folder (else its file name)."""
    parts = Path(text).parts
    for anchor in _PATH_ANCHORS:
        anchor_parts = tuple(anchor.split("/"))
        for i in range(len(parts) - len(anchor_parts), -1, -1):
            if tuple(parts[i : i + len(anchor_parts)]) == anchor_parts:
                return "/".join(parts[i:])
    return Path(text).name


def portable_paths(value):
    """`value` with every absolute path in it made relative (no path of the training machine)."""
    if isinstance(value, dict):
        return {k: portable_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable_paths(v) for v in value]
    if isinstance(value, str) and (value.startswith("/") or (len(value) > 2 and value[1:3] in (":\\", ":/"))):
        return portable_path(value)
    return value


def network_record(folder: Path) -> dict:
    meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    training = meta.get("training") or {}
    return {
        "class": meta.get("class"),
        "recipe": training.get("recipe"),
        "config": meta.get("config"),
        "trainer": training.get("trainer"),
        "epochs": training.get("epochs"),
        "steps": training.get("steps"),
        "batch_size_total": training.get("batch_size_total"),
        "train_seconds": training.get("train_seconds"),
        "device": training.get("device"),
        "val": training.get("val"),
        "data": training.get("data", {}).get("splits"),
        "val_speakers": training.get("data", {}).get("val_speakers"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--autovc", type=Path, required=True)
    parser.add_argument("--content", type=Path, required=True)
    parser.add_argument("--speaker", type=Path, required=True)
    parser.add_argument("--mouth-translator", type=Path, help="a saved mouth_translator folder (the photo renderer)")
    parser.add_argument("--translator-eval", type=Path, metavar="REPORT.json",
                        help="'makeittalk eval --frames' JSON on the held-out clips (recorded as is)")
    parser.add_argument("--eval", action="append", default=[], metavar="[GROUP=]REPORT.json",
                        help="'makeittalk eval' JSON on a group's held-out clips (repeat per group; "
                             "GROUP defaults to 'talking')")
    parser.add_argument("--gains", type=Path, help="JSON from scripts/fit_animation_gains.py (recorded as is)")
    parser.add_argument("--amp-lip", type=float, help="weight-set lip gain (original: 2.0)")
    parser.add_argument("--amp-pos", type=float, help="weight-set head-motion gain (original: 0.5)")
    parser.add_argument("--no-calibrate-content", action="store_true")
    parser.add_argument("--rigid-pose", action="store_true",
                        help="keep only the similarity (head) motion of the speaker branch's output")
    parser.add_argument("--procedural-pose", type=float,
                        help="add procedural head motion at this gain (animation.head_motion), for a speaker "
                             "branch that predicts almost none")
    parser.add_argument("--head-motion", type=Path, metavar="FIT.json",
                        help="JSON from scripts/fit_head_motion.py: its procedural_style (and head_size_model, "
                             "from --size-model) go into the set's animation settings, and the fit is recorded")
    parser.add_argument("--content-delay-frames", type=int,
                        help="frames of past audio in each content window (training's window_delay_frames)")
    parser.add_argument("--content-features", choices=["converted", "source"],
                        help="what the content branch reads (training's content_features)")
    parser.add_argument("--no-face-tweaks", action="store_true",
                        help="skip the original's pixel tweaks of the portrait (thinner lips, wider eyes)")
    parser.add_argument("--name", default="default")
    parser.add_argument("--pretrained", type=Path, default=REPO / "pretrained")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()

    sources = {"autovc": args.autovc, "content_branch": args.content, "speaker_branch": args.speaker}
    if args.mouth_translator is not None:
        sources["mouth_translator"] = args.mouth_translator
    for network, folder in sources.items():
        for fname in NETWORK_FILES:
            if not (folder / fname).is_file():
                parser.error(f"{folder / fname} is missing: --{network.split('_')[0]} must be a saved {network} folder")
    target = args.pretrained / args.name
    if target.exists() and not args.overwrite:
        parser.error(f"{target} exists; pass --overwrite to replace it")

    staging = Path(tempfile.mkdtemp(prefix=f".{args.name}-", dir=args.pretrained))
    try:
        files: dict[str, dict] = {}
        for network, folder in sources.items():
            (staging / network).mkdir()
            for fname in NETWORK_FILES:
                path = staging / network / fname
                if fname == "config.json":
                    meta = json.loads((folder / fname).read_text(encoding="utf-8"))
                    meta.setdefault("training", {})["recipe"] = RECIPES.get(network)
                    path.write_text(json.dumps(portable_paths(meta), indent=2) + "\n", encoding="utf-8")
                else:
                    shutil.copyfile(folder / fname, path)
                files[f"{network}/{fname}"] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        animation = {}
        if args.amp_lip is not None:
            animation["amp_lip"] = args.amp_lip
        if args.amp_pos is not None:
            animation["amp_pos"] = args.amp_pos
        if args.no_calibrate_content:
            animation["calibrate_content"] = False
        if args.no_face_tweaks:
            animation["face_tweaks"] = False
        if args.rigid_pose:
            animation["rigid_pose"] = True
        if args.procedural_pose is not None:
            animation["procedural_pose"] = args.procedural_pose
        if args.gains and "lip_gain_model" in json.loads(args.gains.read_text(encoding="utf-8")):
            animation["lip_gain_model"] = json.loads(args.gains.read_text(encoding="utf-8"))["lip_gain_model"]
        head_motion_fit = json.loads(args.head_motion.read_text(encoding="utf-8")) if args.head_motion else None
        if head_motion_fit is not None:
            animation["procedural_style"] = head_motion_fit["procedural_style"]
            if "head_size_model" in head_motion_fit:
                animation["head_size_model"] = head_motion_fit["head_size_model"]
        if args.content_delay_frames:
            animation["content_delay_frames"] = args.content_delay_frames
        if args.content_features:
            animation["content_features"] = args.content_features
        data = {
            "format": SET_FORMAT,
            "format_version": FORMAT_VERSION,
            "name": args.name,
            "source": "trained by makeittalk's own pipeline: scripts/train_default_weights.sh with the configs in "
            "makeittalk/training/configs/ on the development data (shared/data)",
            "licence": "CC BY 4.0",
            "licence_note": "Trained on CC BY 4.0, MIT and Apache-2.0 data; give the attributions in 'training_data'. "
            "The LRW-AR clips come from Arabic TV news broadcasts released for research use. "
            "The landmark targets come from dlib's 68-point model, whose iBUG 300-W training images restrict "
            "commercial use.",
            "networks": list(sources),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "files": files,
            "animation": animation,
            "training_data": TRAINING_DATA,
            "training": {network: network_record(staging / network) for network in sources},
        }
        if args.eval:
            groups = {}
            for item in args.eval:
                group, sep, path = item.partition("=")
                group, path = (group, Path(path)) if sep else ("talking", Path(item))
                report = json.loads(path.read_text(encoding="utf-8"))
                # The report names the candidate folder it evaluated; the set is the same files.
                mean = {(f"model:{args.name}" if k.startswith("model:") else k): v
                        for k, v in (report.get("mean") or {}).items()}
                groups[group] = {
                    "command": f"makeittalk eval shared/data/{group} --split-from datasets/{group} (held-out clips)",
                    # The candidate's folder name only: no path of the training machine in a shipped file.
                    "evaluated_as": Path(str(report.get("weights"))).name,
                    "clips": len(report.get("clips", [])),
                    "speakers": sorted({c["speaker"] for c in report.get("clips", []) if c.get("speaker")}),
                    "mean": mean,
                }
            data["evaluation"] = {"groups": groups}
        if args.translator_eval:
            data["translator_evaluation"] = portable_paths(json.loads(args.translator_eval.read_text(encoding="utf-8")))
        if args.gains:
            gains_fit = json.loads(args.gains.read_text(encoding="utf-8"))
            data["animation_fit"] = {k: v for k, v in gains_fit.items() if k != "lip_gain_model"}
        if head_motion_fit is not None:
            # The model's coefficients are in "animation" already; the record keeps how it was fitted.
            data["head_motion_fit"] = {k: v for k, v in head_motion_fit.items() if k != "head_size_model"}
        data["sha256"] = set_digest({rel: rec["sha256"] for rel, rec in files.items()})
        (staging / SET_FILE).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        for path in [staging, *staging.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    total = update_manifest(args.pretrained, args.name, files, make_default=True)
    print(f"{target}: {len(files)} network files, {total / 1e6:.1f} MB in the manifest; default = {args.name}")
    return 0



def update_manifest(pretrained: Path, name: str, files: dict, *, make_default: bool = False) -> int:
    """List set `name`'s `files` (and its weightset.json) with their sha256 in pretrained/manifest.json,
    replacing its old entries; written atomically. Returns the bytes the manifest lists in all."""
    manifest_path = pretrained / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {
        "format": MANIFEST_FORMAT, "format_version": FORMAT_VERSION, "files": []}
    manifest["files"] = [f for f in manifest.get("files", []) if not str(f["path"]).startswith(f"{name}/")]
    for rel in sorted([*files, SET_FILE]):
        path = pretrained / name / rel
        manifest["files"].append({"path": f"{name}/{rel}", "sha256": sha256_file(path), "bytes": path.stat().st_size})
    if make_default:
        manifest["default"] = name
    tmp = manifest_path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    tmp.replace(manifest_path)
    return sum(f["bytes"] for f in manifest["files"])

if __name__ == "__main__":
    raise SystemExit(main())
