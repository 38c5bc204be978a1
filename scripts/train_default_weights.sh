#!/usr/bin/env bash
# Reproduce the shipped default weights (pretrained/default) from the development data.
#
#   bash scripts/train_default_weights.sh [SHARED_DATA_DIR] [WORK_DIR]
#
# SHARED_DATA_DIR defaults to ../shared/data, WORK_DIR (prepared datasets, runs, eval) to
# ./work-defaults. Every step resumes when run again. Add --device cuda by exporting
# MAKEITTALK_TRAIN_ARGS="--device cuda"; under torchrun, replace 'makeittalk train' by
# 'torchrun --standalone --nproc_per_node N -m makeittalk train'. The shipped set was trained on
# a 2-core CPU with --set threads=1 for the landmark branches (two runs shared the cores).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DATA="${1:-$REPO/../shared/data}"
WORK="${2:-$REPO/work-defaults}"
CONFIGS="$REPO/makeittalk/training/configs"
EXTRA=${MAKEITTALK_TRAIN_ARGS:-}
mkdir -p "$WORK"

# Held-out speakers of the talking clips: never trained on, used for validation and eval.
VAL_SPEAKERS="styletalk_KristiNoem styletalk_reagan vretalking_2 pcavs_00098 pcavs_00373 pcavs_796100172"

makeittalk data prepare "$DATA/talking" -o "$WORK/datasets/talking" --workers 2 --val-speakers $VAL_SPEAKERS
makeittalk data prepare "$DATA/lips" -o "$WORK/datasets/lips" --workers 2
makeittalk data prepare "$DATA/speech" -o "$WORK/datasets/speech" --workers 2

makeittalk train autovc --config "$CONFIGS/autovc.yaml" $EXTRA \
  --data "$WORK/datasets/speech" "$WORK/datasets/talking" "$WORK/datasets/lips" --out "$WORK/runs/autovc"
AUTOVC="$WORK/runs/autovc/best/autovc"
makeittalk train content --config "$CONFIGS/content.yaml" $EXTRA --set "autovc_weights=$AUTOVC" \
  --data "$WORK/datasets/talking" "$WORK/datasets/lips" --out "$WORK/runs/content"
makeittalk train content --config "$CONFIGS/content_finetune.yaml" $EXTRA --set "autovc_weights=$AUTOVC" \
  --set "init_from=$WORK/runs/content/best/content_branch" \
  --data "$WORK/datasets/talking" "$WORK/datasets/lips" --out "$WORK/runs/content_finetune"
makeittalk train speaker --config "$CONFIGS/speaker.yaml" $EXTRA --set "autovc_weights=$AUTOVC" \
  --data "$WORK/datasets/talking" --out "$WORK/runs/speaker"

# Evaluate on the held-out speakers with a candidate set, then assemble pretrained/default.
python3 "$REPO/scripts/build_default_weights.py" --pretrained "$WORK" --name candidate --overwrite \
  --autovc "$AUTOVC" --content "$WORK/runs/content_finetune/best/content_branch" \
  --speaker "$WORK/runs/speaker/best/speaker_branch" $(cat "$CONFIGS/animation_args.txt")
makeittalk eval "$DATA/talking" --split-from "$WORK/datasets/talking" --weights "$WORK/candidate" \
  --json "$WORK/eval_val.json" --overwrite
python3 "$REPO/scripts/build_default_weights.py" --overwrite --eval "$WORK/eval_val.json" \
  --autovc "$AUTOVC" --content "$WORK/runs/content_finetune/best/content_branch" \
  --speaker "$WORK/runs/speaker/best/speaker_branch" $(cat "$CONFIGS/animation_args.txt")
