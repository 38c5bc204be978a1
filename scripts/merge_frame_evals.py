#!/usr/bin/env python3
"""Merge per-group 'makeittalk eval --frames' reports into one summary (what weightset.json records).

    python3 scripts/merge_frame_evals.py --out eval_frames.json \
        talking=eval_frames_talking.json talking_ar=eval_frames_talking_ar.json

Keeps each group's method means, clip and speaker counts and the settings; prints one table row
per group and method, and the mean over groups (groups weighted equally).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

METRICS = ("psnr", "ssim", "sharpness", "sharpness_median", "identity")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", metavar="GROUP=REPORT.json")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    if args.out.exists() and not args.overwrite:
        parser.error(f"{args.out} exists; pass --overwrite to replace it")

    groups = {}
    for item in args.reports:
        group, sep, path = item.partition("=")
        if not sep:
            parser.error(f"{item!r}: write GROUP=REPORT.json")
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        groups[group] = {
            "command": f"makeittalk eval shared/data/{group} --frames --split-from datasets/{group} (held-out clips)",
            "clips": len(report["clips"]),
            "speakers": sorted({c["speaker"] for c in report["clips"] if c.get("speaker")}),
            "frames_per_clip": report["frames_per_clip"],
            "region": report["region"],
            "means": report["means"],
        }
    methods = sorted({m for g in groups.values() for m in g["means"]}, key=lambda m: (m != "warp", m))
    overall = {}
    for method in methods:
        entry = {}
        for key in METRICS:
            values = [g["means"][method][key] for g in groups.values()
                      if method in g["means"] and g["means"][method].get(key) is not None]
            entry[key] = sum(values) / len(values) if values else None
        overall[method] = entry
    summary = {"groups": groups, "mean_over_groups": overall}
    partial = args.out.with_suffix(".json.partial")
    partial.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    partial.replace(args.out)

    def cell(value, digits):
        return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}f}"

    print("| group | method | clips | PSNR dB | SSIM | sharpness (mean / median) | identity |")
    print("|---|---|---|---|---|---|---|")
    for name, group in [*groups.items(), ("mean over groups", {"means": overall, "clips": None})]:
        for method in methods:
            m = group["means"].get(method)
            if m is None:
                continue
            print(f"| {name} | {method} | {group['clips'] if group['clips'] is not None else ''} | "
                  f"{cell(m['psnr'], 2)} | {cell(m['ssim'], 4)} | {cell(m['sharpness'], 3)} / "
                  f"{cell(m['sharpness_median'], 3)} | {cell(m['identity'], 4)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
