#!/usr/bin/env bash
# Quantized inference speed (issue 14's speed table): kiln f32 / int8 (/ q4_0) against PyTorch
# f32 / dynamic int8 and ONNX Runtime f32 / dynamic int8, 2 threads everywhere, in ONE run with
# the configurations interleaved (round r runs every configuration once, in an order rotated by r)
# so that the host's load hits all alike; one process per configuration, so each peak RSS is its
# own. Models are made here from configs with seeded random weights (nothing is downloaded):
#   BERT-base  transformers' BertForSequenceClassification (bench/bert/torch_bert.py hf_model),
#              save_pretrained -> kiln convert -> kiln quantize --scheme int8; the same weights
#              exported to ONNX and fused by onnxruntime's transformer optimizer
#              (bench/bert/ort_bert.py --export), then onnxruntime.quantization.quantize_dynamic
#              with s8 and u8 weights, per tensor and per channel (bench/quant/make_models.py);
#              PyTorch: torch.ao.quantization.quantize_dynamic(qint8) on every nn.Linear, on each
#              quantized engine (x86, fbgemm, onednn). Forward at 1x128 and 8x128.
#   BART-base  BartForConditionalGeneration (bench/bart/torch_bart.py base_config), converted and
#              quantized int8 / q4_0, each with the LM head (tied to the embedding) kept float
#              (kiln quantize's default) and quantized (--include-head); greedy decoding of exactly
#              NEW_TOKENS tokens (min = max) from a SRC-token input, batch 1, ms/token after the
#              encoder (bench_bart_bench, no tokenizer in the loop); transformers' generate() on
#              PyTorch f32 and dynamic int8 beside it.
#   GEMM       bench_qgemm_bench at BERT-base shapes: int8 Gop/s against the vpdpbusd peak loop it
#              measures on the same thread count.
#
#   bench/quant/run.sh [ROUNDS=3] [PARTS="bert bart gemm"]
# Env: BUILD (default build; configured with -DKILN_BUILD_BENCH=ON if missing), PY (the Python
# with torch, transformers, onnxruntime, onnx: /work/venv-bench/bin/python), WORK (models and raw
# lines: bench/.scratch/quant), RUNS (timed forwards per BERT process, 10), BART_RUNS (3),
# SRC (128), NEW_TOKENS (64), ORT_SPIN (0: intra-op workers do not busy-wait, the better choice on
# a shared host; 1 is ORT's default), TORCH_WAIT (OMP_WAIT_POLICY for torch, PASSIVE),
# KILN_SPIN_US (kiln's pool polling, 0 here; kiln's default is 200), TORCH_QENGINES
# ("x86 onednn"; fbgemm is the other), ORT_VARIANTS ("s8_pt s8_pc u8_pc"; u8_pt is the other; u8
# weights measured 3x slower than s8 here). On an idle host set ORT_SPIN=1 TORCH_WAIT=ACTIVE
# KILN_SPIN_US=200 to give every peer its busy-waiting default back.
# Output: $WORK/run.txt (one line per process, with the load average) and the summary tables of
# bench/quant/summarize.py.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build}"
ROUNDS="${1:-3}"
PARTS="${2:-bert bart gemm}"
PY="${PY:-/work/venv-bench/bin/python}"
W="${WORK:-$ROOT/bench/.scratch/quant}"
OUT="$W/run.txt"
RUNS="${RUNS:-10}"
BART_RUNS="${BART_RUNS:-3}"
SRC="${SRC:-128}"
NEW_TOKENS="${NEW_TOKENS:-64}"
ORT_SPIN="${ORT_SPIN:-0}"
TORCH_QENGINES="${TORCH_QENGINES:-x86 onednn}"
ORT_VARIANTS="${ORT_VARIANTS:-s8_pt s8_pc u8_pc}"
export OMP_WAIT_POLICY="${TORCH_WAIT:-PASSIVE}"  # read by torch's libgomp only
# kiln's pool polls 200 us before sleeping (core/thread_pool.cpp); on a loaded host that polling
# starves the other thread as ORT's spinning does (measured 17:32 UTC at load 20, int8 1x128:
# 93-459 ms median with polling vs 55-330 ms without, CPU time per forward 92-105 vs 57-62 ms).
export KILN_SPIN_US="${KILN_SPIN_US:-0}"
KILN="$BUILD/tools/kiln"
ORT_DIR="$ROOT/bench/.scratch/ort"  # shared with bench/bert/run.sh: same export, same weights
mkdir -p "$W"

[[ -d "$BUILD" ]] || cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DKILN_BUILD_BENCH=ON >/dev/null
if ! log="$(ninja -C "$BUILD" kiln bench_bert_bench bench_bart_bench bench_qgemm_bench bench_membw_bench 2>&1)"; then
  echo "$log" | tail -30 >&2
  exit 1
fi

# Models, each made once (delete $WORK to start over).
has() { [[ " $PARTS " == *" $1 "* ]]; }
# Every eligible tensor in the format asked for: where kiln quantize times float against
# quantized GEMMs by default, that check would keep shapes in float by this host's (loaded) timing.
NO_SPEED_CHECK=()
if "$KILN" quantize --help 2>&1 | grep -- --no-speed-check >/dev/null; then NO_SPEED_CHECK=(--no-speed-check); fi
quantize() { "$KILN" quantize "$@" "${NO_SPEED_CHECK[@]}" | tail -2; }
if has bert; then
  [[ -f "$W/hf-bert/config.json" ]] || "$PY" "$ROOT/bench/quant/make_models.py" hf-bert "$W/hf-bert" 2>/dev/null
  [[ -f "$W/bert-f32.kiln" ]] || "$KILN" convert "$W/hf-bert" -o "$W/bert-f32.kiln" --no-tokenizer
  [[ -f "$W/bert-int8.kiln" ]] || quantize -m "$W/bert-f32.kiln" -o "$W/bert-int8.kiln" --scheme int8
  [[ -f "$ORT_DIR/bert_opt.onnx" ]] || "$PY" "$ROOT/bench/bert/ort_bert.py" --export "$ORT_DIR" 2>/dev/null
  [[ -f "$W/ort/bert_int8_s8_pc.onnx" ]] ||
    "$PY" "$ROOT/bench/quant/make_models.py" ort-int8 "$ORT_DIR/bert_opt.onnx" "$W/ort" 2>/dev/null
fi
if has bart; then
  [[ -f "$W/hf-bart/config.json" ]] || "$PY" "$ROOT/bench/quant/make_models.py" hf-bart "$W/hf-bart" 2>/dev/null
  [[ -f "$W/bart-f32.kiln" ]] || "$KILN" convert "$W/hf-bart" -o "$W/bart-f32.kiln" --no-tokenizer
  for s in int8 q4_0; do
    [[ -f "$W/bart-$s.kiln" ]] || quantize -m "$W/bart-f32.kiln" -o "$W/bart-$s.kiln" --scheme "$s"
    [[ -f "$W/bart-$s-head.kiln" ]] ||
      quantize -m "$W/bart-f32.kiln" -o "$W/bart-$s-head.kiln" --scheme "$s" --include-head
  done
fi

: >"$OUT"
note() { echo "$*" | tee -a "$OUT"; }
load() { cut -d' ' -f1 /proc/loadavg; }
note "# $(date -u +%FT%TZ) host load: $(cut -d' ' -f1-3 /proc/loadavg) nproc=$(nproc) rounds=$ROUNDS" \
  "OMP_WAIT_POLICY=$OMP_WAIT_POLICY ORT_SPIN=$ORT_SPIN KILN_SPIN_US=$KILN_SPIN_US $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
note "# busiest other processes: $(ps -eo pcpu=,comm= --sort=-pcpu | head -5 | awk '{printf "%s(%s%%) ", $2, $1}')"
size_mb() { stat -c %s "$1" | awk '{ printf "%.1f", $1 / 1048576 }'; }
for f in "$W"/*.kiln "$ORT_DIR/bert_opt.onnx" "$W"/ort/*.onnx; do
  if [[ -f "$f" ]]; then note "size $(basename "$f") file_mb=$(size_mb "$f")"; fi
done
[[ -f "$W/torch_sizes.txt" ]] || "$PY" "$ROOT/bench/quant/make_models.py" torch-sizes \
  2>/dev/null >"$W/torch_sizes.txt"
while read -r line; do note "$line"; done <"$W/torch_sizes.txt"

run() {  # run LABEL CMD...: appends "LABEL <the process's result line> load=X" to $OUT
  local label="$1" line
  shift
  line="$("$@" 2>/dev/null | grep -E '^(kiln|torch|ort) mode=' | tail -n 1)" || true
  note "$label ${line:-FAILED} load=$(load)"
}

# Configurations: "LABEL|command" per line; a round runs them all, rotated by the round number.
CONFIGS=()
if has bert; then
  for b in 1 8; do
    CONFIGS+=("kiln-f32/b$b|$BUILD/bench/bench_bert_bench --model $W/bert-f32.kiln --batch $b --runs $RUNS")
    CONFIGS+=("kiln-int8/b$b|$BUILD/bench/bench_bert_bench --model $W/bert-int8.kiln --batch $b --runs $RUNS")
    CONFIGS+=("torch-f32/b$b|$PY $ROOT/bench/bert/torch_bert.py --batch $b --runs $RUNS --attn sdpa")
    for e in $TORCH_QENGINES; do
      CONFIGS+=("torch-int8-$e/b$b|$PY $ROOT/bench/bert/torch_bert.py --batch $b --runs $RUNS --attn sdpa --int8 --qengine $e")
    done
    CONFIGS+=("ort-f32/b$b|$PY $ROOT/bench/bert/ort_bert.py $ORT_DIR/bert_opt.onnx --batch $b --runs $RUNS --spin $ORT_SPIN")
    for v in $ORT_VARIANTS; do
      CONFIGS+=("ort-int8-$v/b$b|$PY $ROOT/bench/bert/ort_bert.py $W/ort/bert_int8_$v.onnx --batch $b --runs $RUNS --spin $ORT_SPIN")
    done
  done
fi
if has bart; then
  gen="--mode greedy --src $SRC --new-tokens $NEW_TOKENS --runs $BART_RUNS --warmup 1"
  for m in f32 int8 int8-head q4_0 q4_0-head; do
    CONFIGS+=("kiln-$m/greedy|$BUILD/bench/bench_bart_bench $gen --model $W/bart-$m.kiln")
  done
  CONFIGS+=("torch-f32/greedy|$PY $ROOT/bench/bart/torch_bart.py $gen")
  CONFIGS+=("torch-int8-x86/greedy|$PY $ROOT/bench/bart/torch_bart.py $gen --int8 --qengine x86")
fi
# A decoder step reads every decoder weight and the LM head once: BART-base has 6 layers of
# 6 x 768^2 (self-attention q k v o, cross-attention q o; cross k v are computed once per input)
# + 2 x 768 x 3072 weights, and a 50,265 x 768 head, 88.1 M weights in all: 336 MiB in f32,
# 84 MiB in int8, 47 MiB in q4_0 (18 bytes per 32), and with the head in f32 (int8, q4_0
# without -head) 195 / 174 MiB. bench_membw_bench reads buffers of those sizes with the same
# threads each round (this VM's L3 serves part of a working set read again and again, so the
# bandwidth depends on the size); summarize.py divides to give each configuration's floor.
MEMBW_MB="336 84 47 195 174"
n=${#CONFIGS[@]}
for ((r = 0; r < ROUNDS; ++r)); do
  note "# round $((r + 1)) of $ROUNDS, $(date -u +%T), load $(cut -d' ' -f1-3 /proc/loadavg)"
  if has bart; then
    "$BUILD/bench/bench_membw_bench" --threads 2 --mb "$MEMBW_MB" 2>/dev/null | tee -a "$OUT"
  fi
  for ((i = 0; i < n; ++i)); do
    c="${CONFIGS[$(((i + r * 7) % n))]}"
    # shellcheck disable=SC2086  # the command is meant to split
    run "${c%%|*}" ${c#*|}
  done
done
if has gemm; then
  for t in 2 1; do
    note "# bench_qgemm_bench --threads $t --min-time 1 --skip-gemv, $(date -u +%T), load $(load)"
    "$BUILD/bench/bench_qgemm_bench" --threads "$t" --min-time 1 --skip-gemv | tee -a "$OUT"
  done
fi
note "# end $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" "$ROOT/bench/quant/summarize.py" "$OUT"
