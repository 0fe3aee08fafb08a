#!/usr/bin/env bash
# kiln train vs PyTorch + transformers (bench/summarizer/torch_recipe.py) on the summarizer
# recipe's training stages (examples/summarizer/recipe.sh, issue 12): the same data, config,
# batches, options and initial weights, the first STEPS updates of each stage, one system after
# the other (kiln first), then the loss curves side by side with tokens/s, wall time and peak RSS.
#   bench/summarizer/run.sh [pretrain|finetune|pick|all|lockstep] [THREADS=2]
# pretrain: the denoising pre-training (RUN/denoise_train.jsonl, config.json from random weights:
#   AdamW 5e-4, warm-up 5%, decay 0.01, batch 16, sources/targets 256, --bf16, seed 1), the
#   first STEPS updates of its one-epoch schedule (kiln train --stop-after-steps).
# finetune: the fine-tuning (RUN/data/finetune_train.jsonl: lr 2e-4, 5 epochs' schedule, label
#   smoothing 0.1, batch 8, sources 512, targets 256) for FT_STEPS updates, both systems starting
#   from kiln's pre-trained weights after the pretrain stage's STEPS updates (exported by
#   torch_recipe.py --export-hf, converted by kiln convert). Needs pretrain's output.
# pick: a pick-and-copy stage (RUN/pick240_train.jsonl, the recipe's 240-word windows: lr 7e-4,
#   warm-up 2%, batch 16, sources 352, targets 200), the first STEPS updates of its one-epoch
#   schedule from config.json's random init (the recipe starts it from the 120-word stage's
#   model; the training path is the same).
# all: pretrain then finetune. lockstep: both stages' options on the first rows of their data with
#   dropout 0, one log per update: loss and gradient norm must agree (checks that the two
#   pipelines are the same: order, ids, batches, loss, AdamW, schedule, clipping); ~2 min.
# Initial weights: kiln's own random init, taken from a `kiln train ... --stop-after-steps 1` run
#   with the same options: its one update runs at lr 0 (linear warm-up from 0), so its checkpoint
#   holds the untouched init, which torch loads; the kiln run itself starts from the same seed.
# Not in the measured runs (no training work): the recipe's --eval and generation options (kiln
#   evaluates at epoch ends only, never reached) and --save-steps (checkpoint writes).
# Environment:
#   KILN=path     kiln binary (default build/tools/kiln)
#   RUN=dir       a recipe output directory (recipe.sh SCALE DIR) holding denoise_train.jsonl and
#                 data/finetune_train.jsonl (default runs/summarizer-medium)
#   STEPS=150     pre-training updates; FT_STEPS=60 fine-tuning updates (multiples of 10: kiln
#                 logs every 10 updates)
#   PY=python     Python with torch + transformers (default /work/venv-bench/bin/python)
#   TORCH_WAIT    OMP_WAIT_POLICY for torch (default PASSIVE: spinning OpenMP workers starve
#                 each other on a shared machine, see bench/train/run.sh)
# Outputs: bench/.scratch/summarizer/<stage>/ (git-ignored): kiln-init/, kiln-run/ (metrics.jsonl),
# torch.json, {kiln,torch}.time (/usr/bin/time -v), logs, table.md (printed at the end).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SHARED="$(cd "$ROOT/../shared" && pwd)"
HERE="$ROOT/bench/summarizer"
WHAT="${1:-all}"
THREADS="${2:-2}"
KILN="$(realpath "${KILN:-$ROOT/build/tools/kiln}")"
RUN="$(realpath -m "${RUN:-$ROOT/runs/summarizer-medium}")"
STEPS="${STEPS:-150}"
FT_STEPS="${FT_STEPS:-60}"
PY="${PY:-/work/venv-bench/bin/python}"
TOK="$SHARED/tokenizers/bart-large-cnn"
CONFIG="$ROOT/examples/summarizer/config.json"
SCRATCH="$ROOT/bench/.scratch/summarizer"
[[ -x "$KILN" ]] || { echo "run.sh: no kiln binary at $KILN (set KILN=...)" >&2; exit 1; }
"$PY" -c 'import torch, transformers' 2>/dev/null ||
  { echo "run.sh: $PY lacks torch or transformers (set PY=...)" >&2; exit 1; }
for n in "$STEPS" "$FT_STEPS"; do
  [[ "$n" =~ ^[1-9][0-9]*$ && $((n % 10)) == 0 ]] ||
    { echo "run.sh: STEPS and FT_STEPS must be positive multiples of 10, got $n" >&2; exit 2; }
done

PRE_OPTS=(--epochs 1 --learning-rate 5e-4 --warmup-ratio 0.05 --weight-decay 0.01
  --per-device-batch-size 16 --max-source-length 256 --max-target-length 256 --bf16 --seed 1)
FT_OPTS=(--epochs 5 --learning-rate 2e-4 --warmup-ratio 0.05 --weight-decay 0.01
  --label-smoothing 0.1 --per-device-batch-size 8 --max-source-length 512
  --max-target-length 256 --bf16 --seed 1)
PICK_OPTS=(--epochs 1 --learning-rate 7e-4 --warmup-ratio 0.02 --weight-decay 0.01
  --per-device-batch-size 16 --max-source-length 352 --max-target-length 200 --bf16 --seed 1)
TENV=(env -u OPENBLAS_CORETYPE OMP_WAIT_POLICY="${TORCH_WAIT:-PASSIVE}" OMP_NUM_THREADS="$THREADS")
load() { cut -d' ' -f1-3 /proc/loadavg; }

# kiln_init OUT KILN_TRAIN_ARGS...: OUT/kiln-init/checkpoint holds kiln's initial weights
kiln_init() {
  local out=$1
  shift
  rm -rf "$out/kiln-init"
  "$KILN" train --task summarization "$@" --stop-after-steps 1 --logging-steps 1 \
    -o "$out/kiln-init" --threads "$THREADS" >"$out/kiln-init.log" 2>&1 ||
    { tail -n 20 "$out/kiln-init.log" >&2; exit 1; }
  "$PY" -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][0]
sys.exit(0 if r["step"] == 1 and r["lr"] == 0 else "init run: update 1 had lr %r" % r["lr"])' \
    "$out/kiln-init/metrics.jsonl" || exit 1
}

# stage NAME STEPS LOGGING MODEL_ARGS -- TRAIN_FILE OPTS...: kiln, then torch, then the table
stage() {
  local name=$1 steps=$2 logging=$3 mode=$4 out="$SCRATCH/$1"
  shift 4
  local model=() train opts
  while [[ $1 != -- ]]; do model+=("$1"); shift; done
  shift
  train=$1
  shift
  opts=("$@")
  mkdir -p "$out"
  echo "# $name: $(date -u +%FT%TZ) threads=$THREADS steps=$steps load: $(load)" >"$out/load.txt"
  local init
  if [[ ${model[0]} == --model ]]; then
    init=${model[1]}  # fine-tuning: the given model file is the start of both systems
  else
    kiln_init "$out" "${model[@]}" --train "$train" "${opts[@]}"
    init="$out/kiln-init/checkpoint/checkpoint.safetensors"
  fi
  rm -rf "$out/kiln-run"
  /usr/bin/time -v -o "$out/kiln.time" "$KILN" train --task summarization "${model[@]}" \
    --train "$train" "${opts[@]}" --stop-after-steps "$steps" --logging-steps "$logging" \
    -o "$out/kiln-run" --threads "$THREADS" >"$out/kiln.log" 2>&1 ||
    { tail -n 20 "$out/kiln.log" >&2; exit 1; }
  echo "# $name kiln end: $(date -u +%FT%TZ) load: $(load)" >>"$out/load.txt"
  /usr/bin/time -v -o "$out/torch.time" "${TENV[@]}" "$PY" "$HERE/torch_recipe.py" \
    --init-from "$init" --tokenizer "$TOK" --train "$train" "${opts[@]}" --max-steps "$steps" \
    --logging-steps "$logging" --threads "$THREADS" --kiln "$KILN" --summary "$out/torch.json" \
    >/dev/null 2>"$out/torch.log" || { tail -n 20 "$out/torch.log" >&2; exit 1; }
  echo "# $name torch end: $(date -u +%FT%TZ) load: $(load)" >>"$out/load.txt"
  "$PY" "$HERE/report.py" "$mode" "$out" | tee "$out/table.md"
}

pretrain() {
  [[ -f "$RUN/denoise_train.jsonl" ]] ||
    { echo "run.sh: no $RUN/denoise_train.jsonl (RUN=...)" >&2; exit 1; }
  stage pretrain "$STEPS" 10 curves --config "$CONFIG" --tokenizer "$TOK" -- \
    "$RUN/denoise_train.jsonl" "${PRE_OPTS[@]}"
}

pick() {
  [[ -f "$RUN/pick240_train.jsonl" ]] ||
    { echo "run.sh: no $RUN/pick240_train.jsonl (RUN=...)" >&2; exit 1; }
  stage pick "$STEPS" 10 curves --config "$CONFIG" --tokenizer "$TOK" -- \
    "$RUN/pick240_train.jsonl" "${PICK_OPTS[@]}"
}

finetune() {
  local ck="$SCRATCH/pretrain/kiln-run/checkpoint/checkpoint.safetensors" out="$SCRATCH/finetune"
  [[ -f "$ck" ]] || { echo "run.sh: run the pretrain stage first (no $ck)" >&2; exit 1; }
  [[ -f "$RUN/data/finetune_train.jsonl" ]] ||
    { echo "run.sh: no $RUN/data/finetune_train.jsonl (RUN=...)" >&2; exit 1; }
  rm -rf "$out"
  mkdir -p "$out"
  "$PY" "$HERE/torch_recipe.py" --init-from "$ck" --tokenizer "$TOK" --export-hf "$out/start-hf"
  "$KILN" convert "$out/start-hf" -o "$out/start.kiln" >"$out/convert.log" 2>&1 ||
    { cat "$out/convert.log" >&2; exit 1; }
  stage finetune "$FT_STEPS" 10 curves --model "$out/start.kiln" -- \
    "$RUN/data/finetune_train.jsonl" "${FT_OPTS[@]}"
}

# Both stages' options with dropout 0 on a few rows: the first 64 denoising pieces (4 updates of
# 16) and the first 40 fine-tuning rows (5 updates of 8; two are FewSum review groups: sources
# joined with document separators), each from kiln's random init.
lockstep() {
  local out="$SCRATCH/lockstep" rc=0
  rm -rf "$out"
  mkdir -p "$out"
  "$PY" -c 'import json, sys
c = json.load(open(sys.argv[1]))
c["dropout"] = c["attention_dropout"] = c["activation_dropout"] = 0.0
json.dump(c, open(sys.argv[2], "w"), indent=1)' "$CONFIG" "$out/config-nodropout.json"
  head -n 64 "$RUN/denoise_train.jsonl" >"$out/pretrain.jsonl"
  head -n 40 "$RUN/data/finetune_train.jsonl" >"$out/finetune.jsonl"
  local model=(--config "$out/config-nodropout.json" --tokenizer "$TOK")
  SCRATCH="$out" stage pretrain 4 1 lockstep "${model[@]}" -- "$out/pretrain.jsonl" \
    "${PRE_OPTS[@]}" || rc=1
  local ft=("${FT_OPTS[@]}")
  ft[1]=1  # --epochs 1: the schedule of these few rows reaches its decay
  SCRATCH="$out" stage finetune 10 1 lockstep "${model[@]}" -- "$out/finetune.jsonl" \
    "${ft[@]}" || rc=1
  return $rc
}

case "$WHAT" in
  pretrain) pretrain ;;
  finetune) finetune ;;
  pick) pick ;;
  all) pretrain && finetune ;;
  lockstep) lockstep ;;
  *) echo "run.sh: unknown stage '$WHAT' (pretrain, finetune, pick, all or lockstep)" >&2; exit 2 ;;
esac
