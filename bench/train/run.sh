#!/usr/bin/env bash
# kiln train vs a PyTorch peer (bench/train/torch_train.py) training the same mini BERT with the
# same recipe on the same data and threads, one after the other (kiln first), then both best
# models scored on the test split by the same scorer (bench/train/score.py). Issue #4.
#   bench/train/run.sh [inspec|sst2|all|lockstep] [THREADS=2]
# Environment:
#   KILN=path        kiln binary (default build/tools/kiln)
#   SUBSET=N         first N lines of train, eval and test (smoke test); EPOCHS=E overrides epochs
#   VERIFY=0         skip the cross-checks (default 1: torch scores kiln's best.kiln on the eval and
#                    test splits, and kiln tags/classifies torch's exported best model; a few s)
#   TORCH_WAIT       OMP_WAIT_POLICY for torch (default PASSIVE, see below)
#   TORCH_CORETYPE   OPENBLAS_CORETYPE for torch (default: unset, OpenBLAS autodetects)
#   TORCH_ATTN_DROPOUT  attention-probability dropout of the torch model (default "config": the
#                    config's attention_probs_dropout_prob, 0.1, as kiln and Hugging Face apply)
# Busy-waiting: on a shared machine PyTorch's OpenMP workers spin between ops and starve each other
# (bench/bert/run.sh measured 2817 ms vs 230 ms for one BERT-base forward at load 6), so torch runs
# with OMP_WAIT_POLICY=PASSIVE; on an idle machine TORCH_WAIT=ACTIVE gives it its default back.
# OPENBLAS_CORETYPE=Haswell (set in this environment) makes Debian's torch (fp32 GEMM through
# OpenBLAS) 1.5-1.9x slower than OpenBLAS's own choice (bench/results/bert.md), so it is unset.
# Outputs go to bench/.scratch/train/<task>/ (git-ignored); the table is printed at the end and
# saved as bench/.scratch/train/<task>/table.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SHARED="$(cd "$ROOT/../shared" && pwd)"
WHAT="${1:-all}"
THREADS="${2:-2}"
KILN="$(realpath "${KILN:-$ROOT/build/tools/kiln}")"
PY=/usr/bin/python3  # Debian's python3 carries python3-torch; a pyenv shim may shadow it
HERE="$ROOT/bench/train"
SUBSET="${SUBSET:-}"
VERIFY="${VERIFY:-1}"
TOK="$SHARED/tokenizers/bert-base-cased"
[[ -x "$KILN" ]] || { echo "no kiln binary at $KILN (ninja -C build kiln)" >&2; exit 1; }

load() { cut -d' ' -f1-3 /proc/loadavg; }

# recipe <task>: sets TASK_FLAG CONFIG TRAIN EVAL TEST BS MAXLEN RECIPE (kiln train's options)
recipe() {
  case "$1" in
    inspec)
      TASK_FLAG=token-classification
      CONFIG="$ROOT/examples/keyphrase-bert-mini.config.json"
      TRAIN="$SHARED/data/inspec/inspec_train.jsonl"
      EVAL="$SHARED/data/inspec/inspec_validation.jsonl"
      TEST="$SHARED/data/inspec/inspec_test.jsonl"
      BS=16 MAXLEN=256
      RECIPE=(--epochs "${EPOCHS:-20}" --learning-rate 5e-4 --per-device-batch-size $BS
        --max-length $MAXLEN --warmup-ratio 0.1 --weight-decay 0.01 --class-weights auto
        --patience 5 --seed 1)
      ;;
    sst2)
      TASK_FLAG=sequence-classification
      CONFIG="$HERE/sst2-bert-mini.config.json"
      TRAIN="$SHARED/data/sst2/train.jsonl"
      EVAL="$SHARED/data/sst2/dev.jsonl"
      TEST="$SHARED/data/sst2/test.jsonl"
      BS=32 MAXLEN=64
      # 2 epochs: kiln ran ~7k tokens/s at load ~4 (SUBSET=4000), 846k tokens per full epoch
      RECIPE=(--epochs "${EPOCHS:-2}" --learning-rate 5e-4 --per-device-batch-size $BS
        --max-length $MAXLEN --warmup-ratio 0.1 --weight-decay 0.01 --seed 1)
      ;;
    *)
      echo "unknown task '$1' (inspec, sst2 or all)" >&2
      exit 2
      ;;
  esac
}

run_task() {
  local task="$1" out="$ROOT/bench/.scratch/train/$1"
  recipe "$task"
  rm -rf "$out"
  mkdir -p "$out/data"
  if [[ -n "$SUBSET" ]]; then
    head -n "$SUBSET" "$TRAIN" >"$out/data/train.jsonl"
    head -n "$SUBSET" "$EVAL" >"$out/data/eval.jsonl"
    head -n "$SUBSET" "$TEST" >"$out/data/test.jsonl"
    TRAIN="$out/data/train.jsonl" EVAL="$out/data/eval.jsonl" TEST="$out/data/test.jsonl"
  fi
  local common=(--task "$TASK_FLAG" --config "$CONFIG" --tokenizer "$TOK" --train "$TRAIN"
    --eval "$EVAL" "${RECIPE[@]}")
  echo "# $task: $(date -u +%FT%TZ) threads=$THREADS subset=${SUBSET:-full}" \
    "epochs=${EPOCHS:-recipe} load: $(load)" >"$out/load_start.txt"

  # ---- kiln: train, then tag/classify the test split with the best model ----
  /usr/bin/time -v -o "$out/kiln.time" "$KILN" train "${common[@]}" -o "$out/kiln-run" \
    --threads "$THREADS" 2>"$out/kiln.log" || { tail -n 20 "$out/kiln.log" >&2; exit 1; }
  if [[ "$task" == inspec ]]; then
    "$PY" "$HERE/score.py" tag-input "$TEST" >"$out/data/test_words.jsonl"
    /usr/bin/time -v -o "$out/kiln_test.time" "$KILN" tag -m "$out/kiln-run/best.kiln" \
      --input "$out/data/test_words.jsonl" --threads "$THREADS" >"$out/kiln_test_pred.jsonl"
    "$PY" "$HERE/score.py" tag "$TEST" "$out/kiln_test_pred.jsonl" >"$out/kiln_test.json"
  else
    /usr/bin/time -v -o "$out/kiln_test.time" "$KILN" classify -m "$out/kiln-run/best.kiln" \
      --input "$TEST" --threads "$THREADS" >"$out/kiln_test_pred.jsonl"
    "$PY" "$HERE/score.py" classify "$TEST" "$out/kiln_test_pred.jsonl" >"$out/kiln_test.json"
  fi
  "$KILN" inspect --summary "$out/kiln-run/best.kiln" >"$out/kiln_inspect.txt"

  # ---- torch: same recipe, same threads ----
  local tenv=(env -u OPENBLAS_CORETYPE OMP_WAIT_POLICY="${TORCH_WAIT:-PASSIVE}"
    OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS")
  [[ -z "${TORCH_CORETYPE:-}" ]] || tenv+=(OPENBLAS_CORETYPE="$TORCH_CORETYPE")
  /usr/bin/time -v -o "$out/torch.time" "${tenv[@]}" "$PY" "$HERE/torch_train.py" "${common[@]}" \
    --test "$TEST" --threads "$THREADS" --kiln "$KILN" --attention-dropout "${TORCH_ATTN_DROPOUT:-config}" \
    --save-dir "$out/torch-run" --export-hf "$out/torch-hf" --summary "$out/torch.json" \
    >/dev/null 2>"$out/torch.log" || { tail -n 20 "$out/torch.log" >&2; exit 1; }
  echo "# $task end: $(date -u +%FT%TZ) load: $(load)" >"$out/load_end.txt"

  # ---- cross-checks (not timed) ----
  if [[ "$VERIFY" == 1 ]]; then
    # torch's forward + data path scoring kiln's best model: must reproduce kiln's eval/test scores
    "${tenv[@]}" "$PY" "$HERE/torch_train.py" --task "$TASK_FLAG" --tokenizer "$TOK" \
      --init-from "$out/kiln-run/best.kiln" --eval "$EVAL" --test "$TEST" --eval-only \
      --max-length "$MAXLEN" --per-device-batch-size "$BS" --threads "$THREADS" \
      --kiln "$KILN" --summary "$out/verify_torch_on_kiln.json" >/dev/null
    # kiln scoring torch's best model (HF checkpoint -> kiln convert -> tag/classify)
    "$KILN" convert "$out/torch-hf" -o "$out/torch-hf/torch.kiln" 2>"$out/convert.log" ||
      { cat "$out/convert.log" >&2; exit 1; }
    if [[ "$task" == inspec ]]; then
      "$KILN" tag -m "$out/torch-hf/torch.kiln" --input "$out/data/test_words.jsonl" \
        --threads "$THREADS" >"$out/verify_kiln_on_torch_pred.jsonl"
      "$PY" "$HERE/score.py" tag "$TEST" "$out/verify_kiln_on_torch_pred.jsonl" \
        >"$out/verify_kiln_on_torch.json"
    else
      "$KILN" classify -m "$out/torch-hf/torch.kiln" --input "$TEST" --threads "$THREADS" \
        >"$out/verify_kiln_on_torch_pred.jsonl"
      "$PY" "$HERE/score.py" classify "$TEST" "$out/verify_kiln_on_torch_pred.jsonl" \
        >"$out/verify_kiln_on_torch.json"
    fi
  fi
  "$PY" "$HERE/score.py" report "$out" | tee "$out/table.md" || FAILED=1  # a check failed
}

# lockstep: both systems train from the same initial weights (torch's init, exported and
# converted) with dropout off, on one micro-batch of examples for 4 epochs (one update each, so
# the differing shuffle streams cannot matter): loss, gradient norm (clipping), lr and eval metric
# of every update/epoch must agree. Checks the loss, class weights, AdamW + decay filter, clipping,
# schedule and eval of the two implementations against each other; ~30 s.
lockstep() {
  local out="$ROOT/bench/.scratch/train/lockstep" task tenv rc=0
  rm -rf "$out"
  mkdir -p "$out"
  tenv=(env -u OPENBLAS_CORETYPE OMP_WAIT_POLICY="${TORCH_WAIT:-PASSIVE}")
  for task in inspec sst2; do
    EPOCHS=4 recipe "$task"
    "$PY" -c 'import json, sys
c = json.load(open(sys.argv[1]))
c["hidden_dropout_prob"] = c["attention_probs_dropout_prob"] = 0.0
json.dump(c, open(sys.argv[2], "w"), indent=1)' "$CONFIG" "$out/$task.config.json"
    head -n "$BS" "$TRAIN" >"$out/$task.jsonl"
    "${tenv[@]}" "$PY" "$HERE/torch_train.py" --task "$TASK_FLAG" --config "$out/$task.config.json" \
      --tokenizer "$TOK" --train "$out/$task.jsonl" --eval "$out/$task.jsonl" --kiln "$KILN" \
      --seed 1 --export-init "$out/$task-hf"
    "$KILN" convert "$out/$task-hf" -o "$out/$task-start.kiln" >/dev/null 2>&1
    "$KILN" train --task "$TASK_FLAG" --model "$out/$task-start.kiln" --train "$out/$task.jsonl" \
      --eval "$out/$task.jsonl" -o "$out/$task-kiln" "${RECIPE[@]}" --logging-steps 1 \
      --threads "$THREADS" 2>/dev/null
    "${tenv[@]}" "$PY" "$HERE/torch_train.py" --task "$TASK_FLAG" --init-from "$out/$task-start.kiln" \
      --tokenizer "$TOK" --train "$out/$task.jsonl" --eval "$out/$task.jsonl" "${RECIPE[@]}" \
      --logging-steps 1 --threads "$THREADS" --kiln "$KILN" --summary "$out/$task-torch.json" \
      >/dev/null 2>&1
    echo "## lockstep $task ($BS examples, ${RECIPE[*]})"
    "$PY" "$HERE/score.py" lockstep "$out/$task-kiln" "$out/$task-torch.json" || rc=1
  done
  return $rc
}

FAILED=0
case "$WHAT" in
  all) for t in inspec sst2; do run_task "$t"; done ;;
  lockstep) lockstep || FAILED=1 ;;
  *) run_task "$WHAT" ;;
esac
exit "$FAILED"
