#!/usr/bin/env bash
# Reproduce the shipped default weights (pretrained/default) from the development data.
#
#   bash scripts/train_default_weights.sh [SHARED_DATA_DIR] [WORK_DIR] [PRETRAINED_DIR]
#
# SHARED_DATA_DIR defaults to ../shared/data, WORK_DIR (prepared datasets, runs, eval) to
# ./work-defaults, PRETRAINED_DIR (which receives the finished set as PRETRAINED_DIR/default) to
# ./pretrained. Every step resumes when run again. Add --device cuda by exporting
# MAKEITTALK_TRAIN_ARGS="--device cuda"; under torchrun, replace 'makeittalk train' by
# 'torchrun --standalone --nproc_per_node N -m makeittalk train'. The shipped set was trained on
# a 2-core CPU with the two halves side by side: about 2 h 10 min from start to the built set
# (data 12 min, then landmark half 1 h 54 min beside translator half 1 h 57 min; the translator's
# three frame evals, 16 min of it, were timed in a second sitting). One half after the other
# would take about 2 h 35 min (its first steps measured, the rest from one-thread timings).
#
# After the data preparation come two halves that do not need each other: the landmark networks
# with their fits and evals, and the mouth translator with its frame eval. With two or more cores
# they run at once, half the cores each (logs in WORK/logs/<half>.log), and the half still running
# takes every core when the other is done. That is faster on the 2-core CPU: the content branch's
# small LSTM batches train only 1.3-1.6x faster on two threads than on one (AutoVC 1.7x, the
# translator 1.8x), so a second core does more as a second trainer. Export
# MAKEITTALK_RECIPE_SEQUENTIAL=1 to run one half after the other with every core. Every step's
# wall time goes to WORK/timings.tsv (a resumed run appends its own rows).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DATA="${1:-$REPO/../shared/data}"
WORK="${2:-$REPO/work-defaults}"
CONFIGS="$REPO/makeittalk/training/configs"
EXTRA=${MAKEITTALK_TRAIN_ARGS:-}
PRETRAINED="${3:-$REPO/pretrained}"
mkdir -p "$WORK/logs"
TIMINGS="$WORK/timings.tsv"
CORES="$(getconf _NPROCESSORS_ONLN)"  # not nproc: it reports OMP_NUM_THREADS when that is set
[ -f "$TIMINGS" ] || printf 'step\tstarted\tseconds\n' > "$TIMINGS"

# step NAME COMMAND...: run COMMAND and append its wall time to timings.tsv. It passes a failure
# on, so a failing step stops its half even where it follows || (set -e). In the side-by-side run
# each half has half the cores until the other half is done, then every core.
step() {
  local name="$1" started
  shift
  if [ -n "${OTHER_HALF_DONE:-}" ] && [ -f "$OTHER_HALF_DONE" ]; then
    export OMP_NUM_THREADS="$CORES" MKL_NUM_THREADS="$CORES"
  fi
  started=$(date +%s)
  "$@" || return
  printf '%s\t%s\t%s\n' "$name" "$(date -u -d "@$started" +%FT%TZ)" "$(( $(date +%s) - started ))" >> "$TIMINGS"
}

# Held-out speakers, never trained on, used for validation and eval (figures per group):
# - talking/: the six speakers of the first rounds;
# - talking_ar/: after merging the five small face clusters that are the same person as a large
#   one (shared/data README), every 7th speaker id in sorted order from the 3rd: 5 of 35 speakers,
#   309 of 2,004 clips;
# - talking_grid_s1/: one speaker, so the last 50 sentences (sorted) are a same-speaker check only.
VAL_SPEAKERS="styletalk_KristiNoem styletalk_reagan vretalking_2 pcavs_00098 pcavs_00373 pcavs_796100172"
AR_MERGES="ar_spk035=ar_spk002 ar_spk038=ar_spk002 ar_spk033=ar_spk007 ar_spk037=ar_spk007 ar_spk040=ar_spk001"
AR_VAL_SPEAKERS="ar_spk003 ar_spk010 ar_spk017 ar_spk024 ar_spk031"

# Where each half leaves its networks.
AUTOVC="$WORK/runs/autovc/best/autovc"
CONTENT="$WORK/runs/content_v2_finetune/best/content_branch"
SPEAKER="$WORK/runs/speaker/best/speaker_branch"
MOUTH="$WORK/runs/mouth_gan/weights/mouth_translator"
NETWORKS="--autovc $AUTOVC --content $CONTENT --speaker $SPEAKER"
ANIMATION="$(cat "$CONFIGS/animation_args.txt")"
EVAL_GROUPS="talking talking_ar talking_grid_s1"

# The data preparation: both halves read these.
step prepare_talking makeittalk data prepare "$DATA/talking" -o "$WORK/datasets/talking" --workers 2 --val-speakers $VAL_SPEAKERS
step prepare_talking_ar makeittalk data prepare "$DATA/talking_ar" -o "$WORK/datasets/talking_ar" --workers 2 --merge-speakers $AR_MERGES --val-speakers $AR_VAL_SPEAKERS
step prepare_talking_grid_s1 makeittalk data prepare "$DATA/talking_grid_s1" -o "$WORK/datasets/talking_grid_s1" --workers 2 --val-last 50
step prepare_lips makeittalk data prepare "$DATA/lips" -o "$WORK/datasets/lips" --workers 2
step prepare_speech makeittalk data prepare "$DATA/speech" -o "$WORK/datasets/speech" --workers 2

landmark_half() {
  step train_autovc makeittalk train autovc --config "$CONFIGS/autovc.yaml" $EXTRA \
    --data "$WORK/datasets/speech" "$WORK/datasets/talking" "$WORK/datasets/lips" --out "$WORK/runs/autovc"
  step train_content makeittalk train content --config "$CONFIGS/content.yaml" $EXTRA --set "autovc_weights=$AUTOVC" \
    --data "$WORK/datasets/talking" "$WORK/datasets/lips" --out "$WORK/runs/content"
  step train_content_finetune makeittalk train content --config "$CONFIGS/content_finetune.yaml" $EXTRA --set "autovc_weights=$AUTOVC" \
    --set "init_from=$WORK/runs/content/best/content_branch" \
    --data "$WORK/datasets/talking" "$WORK/datasets/lips" --out "$WORK/runs/content_finetune"
  # v2: all the talking faces, 8 frames of past audio per window, motion terms (content_v2.yaml).
  FACES="$WORK/datasets/talking $WORK/datasets/talking_ar $WORK/datasets/talking_grid_s1 $WORK/datasets/lips"
  step train_content_v2 makeittalk train content --config "$CONFIGS/content_v2.yaml" $EXTRA --set "autovc_weights=$AUTOVC" \
    --set "init_from=$WORK/runs/content_finetune/best/content_branch" --data $FACES --out "$WORK/runs/content_v2"
  step train_content_v2_finetune makeittalk train content --config "$CONFIGS/content_v2_finetune.yaml" $EXTRA --set "autovc_weights=$AUTOVC" \
    --set "init_from=$WORK/runs/content_v2/best/content_branch" --data $FACES --out "$WORK/runs/content_v2_finetune"
  step train_speaker makeittalk train speaker --config "$CONFIGS/speaker.yaml" $EXTRA --set "autovc_weights=$AUTOVC" \
    --data "$WORK/datasets/talking" --out "$WORK/runs/speaker"


  # Fit the lip gain on TRAINING clips (every 10th talking_ar clip, every 10th GRID sentence, every
  # talking clip), so the predicted mouth opens as much as real ones; each group counts once (the
  # geometric mean of the group medians). --gain-model adds the per-recording lip gain from the
  # speech spectrum (lip_gain_model, which gains.json carries to the builds below).
  step build_uncalibrated python3 "$REPO/scripts/build_default_weights.py" --pretrained "$WORK" --name uncalibrated \
    --overwrite $NETWORKS $ANIMATION --amp-lip 1.0
  step fit_lip_gains python3 "$REPO/scripts/fit_animation_gains.py" --weights "$WORK/uncalibrated" --json "$WORK/gains.json" --gain-model \
    --data "$DATA/talking" --split-from "$WORK/datasets/talking" --every 1 \
    --data "$DATA/talking_ar" --split-from "$WORK/datasets/talking_ar" --every 10 \
    --data "$DATA/talking_grid_s1" --split-from "$WORK/datasets/talking_grid_s1" --every 10 | tail -n 1 > "$WORK/gains.args"
  GAINS="$(cat "$WORK/gains.args")"

  # Then the head motion's style (size, sway band, drift) on training clips of every group (every
  # talking clip, every 10th talking_ar clip, every 5th GRID sentence; no networks run).
  step build_calibrated python3 "$REPO/scripts/build_default_weights.py" --pretrained "$WORK" --name calibrated \
    --overwrite $NETWORKS $ANIMATION $GAINS --gains "$WORK/gains.json"
  step fit_head_motion python3 "$REPO/scripts/fit_head_motion.py" --weights "$WORK/calibrated" --json "$WORK/head_motion.json" --size-model \
    --data "$DATA/talking" --split-from "$WORK/datasets/talking" --every 1 \
    --data "$DATA/talking_ar" --split-from "$WORK/datasets/talking_ar" --every 10 \
    --data "$DATA/talking_grid_s1" --split-from "$WORK/datasets/talking_grid_s1" --every 5 > /dev/null

  # Evaluate the calibrated candidate on the held-out clips of every group, then assemble
  # pretrained/default with the figures per group.
  step build_candidate python3 "$REPO/scripts/build_default_weights.py" --pretrained "$WORK" --name candidate \
    --overwrite $NETWORKS $ANIMATION $GAINS --gains "$WORK/gains.json" --head-motion "$WORK/head_motion.json"
  for GROUP in $EVAL_GROUPS; do
    step "eval_$GROUP" makeittalk eval "$DATA/$GROUP" --split-from "$WORK/datasets/$GROUP" --weights "$WORK/candidate" \
      --summary --json "$WORK/eval_$GROUP.json" --overwrite
  done
}

translator_half() {
  # The photo renderer: the mouth translator, on every talking face with landmarks (talking_ro has
  # none), then its self-reenactment eval on the held-out clips.
  step train_mouth_translator makeittalk train mouth-translator --config "$CONFIGS/mouth_translator.yaml" $EXTRA \
    --data "$WORK/datasets/talking" "$WORK/datasets/talking_ar" "$WORK/datasets/talking_grid_s1" --out "$WORK/runs/mouth"
  # PatchGAN fine-tune of that network (reuses its cached crops); the final epoch ships.
  step train_mouth_translator_gan makeittalk train mouth-translator --config "$CONFIGS/mouth_translator_gan.yaml" $EXTRA \
    --data "$WORK/datasets/talking" "$WORK/datasets/talking_ar" "$WORK/datasets/talking_grid_s1" --out "$WORK/runs/mouth_gan" \
    --set "init_from=$WORK/runs/mouth/best/mouth_translator" --set "frames_cache=$WORK/runs/mouth"
  for GROUP in $EVAL_GROUPS; do
    [ -f "$WORK/eval_frames_$GROUP.json" ] || step "eval_frames_$GROUP" makeittalk eval "$DATA/$GROUP" --frames --frames-per-clip 8 --translator "$MOUTH" \
      --split-from "$WORK/datasets/$GROUP" --json "$WORK/eval_frames_$GROUP.json"
  done
  python3 "$REPO/scripts/merge_frame_evals.py" --out "$WORK/eval_frames.json" --overwrite \
    talking="$WORK/eval_frames_talking.json" talking_ar="$WORK/eval_frames_talking_ar.json" \
    talking_grid_s1="$WORK/eval_frames_talking_grid_s1.json"
}

if [ -n "${MAKEITTALK_RECIPE_SEQUENTIAL:-}" ] || [ "$CORES" -lt 2 ]; then
  landmark_half
  translator_half
else
  # Half the cores per half (torch and BLAS read these), so the two do not fight over them; a
  # half that is done leaves a marker, and the other's next steps take every core.
  HALF_CORES=$(( CORES / 2 ))
  rm -f "$WORK/logs/landmarks.done" "$WORK/logs/translator.done"
  (export OMP_NUM_THREADS=$HALF_CORES MKL_NUM_THREADS=$HALF_CORES OTHER_HALF_DONE="$WORK/logs/translator.done"
   landmark_half; touch "$WORK/logs/landmarks.done") > "$WORK/logs/landmarks.log" 2>&1 &
  LANDMARKS_PID=$!
  (export OMP_NUM_THREADS=$HALF_CORES MKL_NUM_THREADS=$HALF_CORES OTHER_HALF_DONE="$WORK/logs/landmarks.done"
   translator_half; touch "$WORK/logs/translator.done") > "$WORK/logs/translator.log" 2>&1 &
  TRANSLATOR_PID=$!
  echo "training both halves side by side; logs: $WORK/logs/landmarks.log and $WORK/logs/translator.log"
  FAILED=""
  wait "$LANDMARKS_PID" || FAILED="landmarks"
  wait "$TRANSLATOR_PID" || FAILED="$FAILED translator"
  if [ -n "$FAILED" ]; then
    echo "error: the$FAILED half failed; see $WORK/logs/ and run this script again to resume" >&2
    exit 1
  fi
fi

# The shipped set: every network, the fitted gains and head motion, and the figures per group.
EVALS=""
for GROUP in $EVAL_GROUPS; do EVALS="$EVALS --eval $GROUP=$WORK/eval_$GROUP.json"; done
step build_default python3 "$REPO/scripts/build_default_weights.py" --pretrained "$PRETRAINED" --overwrite $EVALS \
  --gains "$WORK/gains.json" --head-motion "$WORK/head_motion.json" $NETWORKS $ANIMATION $(cat "$WORK/gains.args") \
  --mouth-translator "$MOUTH" --translator-eval "$WORK/eval_frames.json"
echo "done: $PRETRAINED/default; wall time of every step in $TIMINGS"
