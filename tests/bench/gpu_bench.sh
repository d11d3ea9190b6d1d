#!/usr/bin/env bash
# The GPU benchmark table of the CUDA issue, in one run on the GPU machine:
# rewoo (random-weight GPTQ models of Llama-2-7B and CodeLlama-34B shape:
# 4-bit act-order no groups, 4-bit g128, 3-bit g128) next to llama.cpp
# (random Q4_0 GGUF models of the same shapes), same card, same run.
#
#   tests/bench/gpu_bench.sh [--bin DIR] [--llama DIR] [--work DIR] [--shapes "7b 34b"]
#
#   --bin DIR    folder with bench_cuda_engine (default: build/tests/bench; built
#                with cmake -DREWOO_CUDA=ON if missing)
#   --llama DIR  a llama.cpp checkout (fetched, never committed); built here
#                with CUDA into DIR/build unless DIR/build/bin/llama-bench exists
#   --work DIR   scratch for GGUF files (default: /tmp/rewoo-gpu-bench)
#   --seed-layout-only  rewoo: only 4-bit act-order without groups
#
# Prints the table last (markdown), with rewoo / llama.cpp ratios and the
# fraction of the measured device-to-device copy bandwidth (or fp16 GEMM rate
# for prefill).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=build/tests/bench
LLAMA=""
WORK=/tmp/rewoo-gpu-bench
SHAPES="7b 34b"
QUANTS=("4 -1" "4 128 --quick" "3 128 --quick")
while (($#)); do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --llama) LLAMA=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --shapes) SHAPES=$2; shift 2 ;;
    --seed-layout-only) QUANTS=("4 -1"); shift ;;
    *) echo "usage: $0 [--bin DIR] [--llama DIR] [--work DIR] [--shapes \"7b 34b\"]" >&2; exit 2 ;;
  esac
done
mkdir -p "$WORK"
LOG=$WORK/results.txt
: > "$LOG"

if [ ! -x "$BIN/bench_cuda_engine" ]; then
  cmake -S . -B build -G Ninja -DREWOO_CUDA=ON -DREWOO_CUDA_ARCH=90a >&2
  cmake --build build --target bench_cuda_engine -j"$(nproc)" >&2
  BIN=build/tests/bench
fi

# ---- llama.cpp build and GGUF models, in the background ---------------------
prep_llama() {
  # GGUF files (CPU, numpy) while llama.cpp compiles.
  (
    for shape in $SHAPES; do
      g=$WORK/$shape-q4_0.gguf
      [ -f "$g" ] || python3 tests/bench/make_gguf_q4_0.py "$g" --shape "$shape" --q4-output \
        --gguf-py "$LLAMA/gguf-py"
    done
  ) > "$WORK/gguf.log" 2>&1 &
  local gguf=$!
  if [ ! -x "$LLAMA/build/bin/llama-bench" ]; then
    cmake -S "$LLAMA" -B "$LLAMA/build" -G Ninja -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
      -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF \
      -DLLAMA_BUILD_SERVER=OFF -DCMAKE_BUILD_TYPE=Release > "$WORK/llama_build.log" 2>&1
    cmake --build "$LLAMA/build" --target llama-bench llama-batched-bench \
      -j"$(( $(nproc) > 4 ? $(nproc) - 3 : 1 ))" >> "$WORK/llama_build.log" 2>&1 || { wait $gguf; return 1; }
  fi
  wait $gguf
}
if [ -n "$LLAMA" ]; then
  prep_llama &
  PREP=$!
fi

# ---- rewoo ---------------------------------------------------------------
# The seed's layout (4-bit act-order, no groups) gets every figure; the other
# quantizations batch-1 decode @512 and prefill (--quick).
for shape in $SHAPES; do
  for q in "${QUANTS[@]}"; do
    set -- $q
    echo "== rewoo $shape $1-bit g$2" >&2
    "$BIN/bench_cuda_engine" --shape "$shape" --bits "$1" --group "$2" ${3:-} 2>&1 | tee -a "$WORK/rewoo.log" |
      grep '^RESULT' >> "$LOG" || echo "RESULT shape=$shape bits=$1 group=$2 failed=1" >> "$LOG"
  done
done

# ---- llama.cpp -----------------------------------------------------------
if [ -n "$LLAMA" ]; then
  if ! wait "$PREP"; then
    echo "llama.cpp build or GGUF generation failed:" >&2
    tail -20 "$WORK/llama_build.log" >&2
    SHAPES_L=""
  else
    SHAPES_L=$SHAPES
  fi
  for shape in $SHAPES_L; do
    g=$WORK/$shape-q4_0.gguf
    echo "== llama.cpp $shape Q4_0" >&2
    lb=$("$LLAMA/build/bin/llama-bench" -m "$g" -ngl 99 -fa 1 -p 512 -n 128 -r 3 -o csv 2>>"$WORK/llama.err" | tee -a "$WORK/llama.log" || true)
    pre=$(echo "$lb" | awk -F, 'NR>1 && $0 ~ /"512","0"/ {gsub(/"/,"",$(NF-1)); print $(NF-1)}' | head -1)
    dec=$(echo "$lb" | awk -F, 'NR>1 && $0 ~ /"0","128"/ {gsub(/"/,"",$(NF-1)); print $(NF-1)}' | head -1)
    bb() {  # llama-batched-bench: S_TG t/s (column 8 of its table) for one -npl
      "$LLAMA/build/bin/llama-batched-bench" -m "$g" -ngl 99 -fa -c "$1" -b 2048 -ub 512 \
        -npp "$2" -ntg "$3" -npl "$4" 2>>"$WORK/llama.err" | tee -a "$WORK/llama.log" |
        awk -F'|' '$2 ~ /^ *[0-9]+ *$/ {gsub(/ /,"",$9); v=$9} END {print v}' || true
    }
    d4096=$(bb 4300 4032 64 1)
    a4=$(bb 1100 128 128 4)
    a16=$(bb 4200 128 128 16)
    a32=$(bb 8300 128 128 32)
    echo "LLAMA shape=$shape pre512=$pre dec512=$dec dec4096=$d4096 agg4=$a4 agg16=$a16 agg32=$a32" >> "$LOG"
  done
fi

# ---- table ---------------------------------------------------------------
python3 - "$LOG" <<'PY'
import re, sys, datetime
res, llama = [], {}
for line in open(sys.argv[1]):
    kv = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
    kv = {k: v.strip('"') for k, v in kv.items()}
    if line.startswith("RESULT") and "failed" not in kv: res.append(kv)
    elif line.startswith("LLAMA"): llama[kv["shape"]] = kv
if not res:
    print("no rewoo results"); sys.exit(1)
f = lambda x: float(x) if x not in (None, "", "None") else None
print(f"\nGPU: {res[0]['device']}; measured copy bandwidth {res[0]['bw']} GB/s (read+write), "
      f"fp16 cuBLAS GEMM {res[0]['tflops']} TFLOP/s; {datetime.date.today()}")
print("| model | quant | metric | rewoo tok/s | llama.cpp Q4_0 tok/s | ratio | of bandwidth / GEMM rate |")
print("|---|---|---|---|---|---|---|")
for r in res:
    q = f"{r['bits']}-bit " + ("no group" if r['group'] == "-1" else f"g{r['group']}")
    L = llama.get(r['shape'], {}) if r['bits'] == "4" and r['group'] == "-1" else {}
    bw, by, tf, pa = f(r['bw']), f(r['bytes']), f(r['tflops']), f(r['params'])
    for key, name in [("dec512", "batch-1 decode @512"), ("dec4096", "batch-1 decode @4096"),
                      ("pre512", "prefill 512"), ("agg4", "4 seqs aggregate"),
                      ("agg16", "16 seqs aggregate"), ("agg32", "32 seqs aggregate")]:
        v, l = f(r.get(key)), f(L.get(key))
        if not v: continue
        ratio = f"{v / l:.2f}x" if v and l else "-"
        if key == "pre512": frac = f"{100 * 2 * pa * v / 1e12 / tf:.0f}% of GEMM"
        elif key.startswith("dec"): frac = f"{100 * v * by / 1e9 / bw:.1f}%"
        else: frac = ""
        print(f"| {r['shape']} | {q} | {name} | {v:.1f} | {l if l else '-'} | {ratio} | {frac} |")
PY
