#!/usr/bin/env bash
# Decode speed per backend, original against compressed: `dbf generate` (greedy, 128 tokens from BOS-started
# prompt "The"), 3 runs each, alternating models so that load drifts hit both alike. Writes
# benchmarks/results/decode.jsonl (one line per model × backend with the median tokens/s).
# Usage: benchmarks/pipeline/decode.sh NAME ORIGINAL COMPRESSED [BACKEND...]   (default backends: cpu wasm)
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1 original=$2 compressed=$3
shift 3
backends=("${@:-cpu wasm}")
[[ $# -eq 0 ]] && backends=(cpu wasm)
out=benchmarks/results/decode.jsonl
speed() { node apps/cli/bin/dbf.js generate "$1" --prompt "The" -n 128 --temperature 0 --backend "$2" 2>&1 >/dev/null | grep -o 'decode [0-9.]* tokens/s' | grep -o '[0-9.]*'; }
for backend in "${backends[@]}"; do
  a=() b=()
  for _ in 1 2 3; do a+=("$(speed "$original" "$backend")"); b+=("$(speed "$compressed" "$backend")"); done
  median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
  echo "{\"model\":\"$name\",\"backend\":\"$backend\",\"original_tps\":$(median "${a[@]}"),\"compressed_tps\":$(median "${b[@]}"),\"runs\":{\"original\":[$(IFS=,; echo "${a[*]}")],\"compressed\":[$(IFS=,; echo "${b[*]}")]}}" >>"$out"
done
