#!/usr/bin/env bash
# CPU decode benchmark: rewoo vs llama.cpp on random models of the same shape.
#
#   tests/bench/bench_cpu_decode.sh [SHAPE=1b] [THREADS=all] [TOKENS=32]
#
# Builds rewoo's bench, makes a random GPTQ 4-bit g128 act-order model
# (`rewoo model random`), builds llama.cpp's CPU llama-bench from a fetched
# copy in .peers/llama.cpp (never committed; fetch it first), writes a random
# Q4_0 GGUF of the same shape (tests/bench/make_gguf_q4_0.py, needs numpy),
# then runs rewoo (default int8-activation path, and --exact) and llama.cpp
# alternately (ROUNDS times, best of each) and prints decode tok/s, weight
# GB/s and the measured memory read bandwidth (the first round measures it).
set -euo pipefail
cd "$(dirname "$0")/../.."
SHAPE=${1:-1b}
THREADS=${2:-$(nproc)}
TOKENS=${3:-32}
ROUNDS=${ROUNDS:-3}
WORK=${WORK:-/tmp/rewoo-bench-cpu}
LLAMA=${LLAMA:-.peers/llama.cpp}
mkdir -p "$WORK"

cmake --build build --target rewoo bench_cpu_decode -j2 >&2
MODEL="$WORK/$SHAPE-gptq4-g128"
[ -f "$MODEL/model.safetensors" ] || build/rewoo model random "$MODEL" --shape "$SHAPE" --bits 4 --group-size 128 --act-order --seed 1 --force >&2
if [ ! -x "$LLAMA/build/bin/llama-bench" ]; then
  [ -d "$LLAMA" ] || { echo "fetch ggerganov/llama.cpp into $LLAMA first" >&2; exit 2; }
  cmake -S "$LLAMA" -B "$LLAMA/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
        -DGGML_CUDA=OFF -DLLAMA_BUILD_TESTS=OFF >&2
  cmake --build "$LLAMA/build" --target llama-bench -j2 >&2
fi
GGUF="$WORK/$SHAPE-q4_0.gguf"
[ -f "$GGUF" ] || /usr/bin/python3 tests/bench/make_gguf_q4_0.py "$GGUF" --shape "$SHAPE" --gguf-py "$LLAMA/gguf-py" >&2

PY=/usr/bin/python3
tok_s() { $PY -c 'import json,sys; print(json.loads(sys.argv[1])["decode_tok_s"])' "$1"; }
best_exact=0; best_int8=0; best_llama=0; rewoo_json=""
for r in $(seq "$ROUNDS"); do
  j=$(build/tests/bench/bench_cpu_decode --model "$MODEL" --threads "$THREADS" --tokens "$TOKENS" --prompt 16 --json \
      $([ "$r" -gt 1 ] && echo --no-bandwidth))
  [ "$r" -eq 1 ] && rewoo_json=$j
  t8=$(tok_s "$j")
  t=$(tok_s "$(build/tests/bench/bench_cpu_decode --model "$MODEL" --threads "$THREADS" --tokens "$TOKENS" --prompt 16 --json --no-bandwidth --exact)")
  l=$("$LLAMA/build/bin/llama-bench" -m "$GGUF" -p 0 -n "$TOKENS" -t "$THREADS" -r 1 -o json 2>/dev/null)
  lt=$($PY -c 'import json,sys; print([x["avg_ts"] for x in json.loads(sys.argv[1]) if x["n_gen"] > 0][0])' "$l")
  best_exact=$($PY -c "print(max($best_exact, $t))")
  best_int8=$($PY -c "print(max($best_int8, $t8))")
  best_llama=$($PY -c "print(max($best_llama, $lt))")
  echo "round $r: rewoo default (int8) $t8, rewoo --exact $t, llama.cpp $lt tok/s" >&2
done
GGUF_BYTES=$($PY - "$GGUF" "$LLAMA/gguf-py" <<'PYEOF'
import sys; sys.path.insert(0, sys.argv[2])
import gguf
r = gguf.GGUFReader(sys.argv[1])
print(sum(int(t.n_bytes) for t in r.tensors if t.name != "token_embd.weight"))
PYEOF
)
$PY - "$rewoo_json" "$best_exact" "$best_int8" "$best_llama" "$GGUF_BYTES" "$THREADS" "$(uname -n)" "$(uptime)" <<'PYEOF'
import json, sys
j = json.loads(sys.argv[1])
ex, i8, ll, gb, th = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
bw = j["read_bandwidth_gb_s"]
print(f"machine: {sys.argv[7]}, {th} threads; load: {sys.argv[8].strip()}")
print(f"measured read bandwidth: {bw:.1f} GB/s; model: {j['config']}")
print(f"{'engine':<58}{'tok/s':>8}{'MB/token':>10}{'GB/s':>8}{'% bw':>7}")
mb = j["weight_bytes_per_token"] / 1e6
for name, t in ((f"rewoo {j['quant']} (default, int8 act.)", i8), (f"rewoo {j['quant']} (--exact)", ex)):
    print(f"{name:<58}{t:8.2f}{mb:10.1f}{t * mb / 1e3:8.2f}{100 * t * mb / 1e3 / bw:7.0f}")
print(f"{'llama.cpp Q4_0 (F16 output)':<58}{ll:8.2f}{gb / 1e6:10.1f}{ll * gb / 1e9:8.2f}{100 * ll * gb / 1e9 / bw:7.0f}")
print(f"rewoo / llama.cpp: default {i8 / ll:.2f}x, --exact {ex / ll:.2f}x")
PYEOF
