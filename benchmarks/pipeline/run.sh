#!/usr/bin/env bash
# Compresses a model in every configuration of docs/results.md and measures each result.
# Usage: benchmarks/pipeline/run.sh MODEL_NAME MODEL_PATH ITERS [CONFIG...]
#   CONFIG: fp32 | dbf:BPW | mdbf:L:BPW | svid | rtn:BITS | nonuniform:BPW, or refit-<dbf|mdbf|nonuniform config>
# Appends one JSON object per configuration to benchmarks/results/pipeline.jsonl.
# Environment: EVAL_TOKENS (default 16384), WORK (default /tmp/dbf-pipeline), SHARED (default ../shared).
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1 model=$2 iters=$3
shift 3
shared=${SHARED:-../shared}
work=${WORK:-/tmp/dbf-pipeline}/$name
tokens=${EVAL_TOKENS:-16384}
texts=("$shared/data/sotu/sotu-2001-2021.txt" "$shared/data/wikitext-2/wiki.test.raw")
out_json=benchmarks/results/pipeline.jsonl
dbf() { node apps/cli/bin/dbf.js "$@"; }
mkdir -p "$work"
for config in "$@"; do
  IFS=: read -r method a b <<<"$config"
  dir=$work/$config
  args=()
  # refit-<config>: the same with --refit-outputs.
  if [[ $method == refit-* ]]; then method=${method#refit-}; args=(--refit-outputs); fi
  case $method in
    fp32) dir=$model ;;
    dbf) args+=(--method dbf --bpw "$a") ;;
    mdbf) args+=(--method mdbf --envelope-rank "$a" --bpw "$b") ;;
    svid) args=(--method svid) ;;
    rtn) args=(--method rtn --bpw "$a") ;;
    nonuniform) args+=(--method dbf --allocation nonuniform --bpw "$a") ;;
    *) echo "unknown config $config" >&2; exit 2 ;;
  esac
  compress='null'
  if [[ $method != fp32 ]]; then
    if ! compress=$(dbf compress "$model" --out "$dir" --iters "$iters" --force --json "${args[@]}" 2>"$work/$config.log"); then
      echo "{\"model\":\"$name\",\"config\":\"$config\",\"error\":$(tail -1 "$work/$config.log" | node -e 'process.stdout.write(JSON.stringify(require("fs").readFileSync(0,"utf8").trim()))')}" >>"$out_json"
      continue
    fi
  fi
  evals=()
  for text in "${texts[@]}"; do
    evals+=("$(dbf eval "$dir" --text "$text" --max-tokens "$tokens" --json)")
  done
  decode=$(dbf generate "$dir" --prompt "The" -n 64 --temperature 0 --backend wasm 2>&1 >/dev/null | grep -o 'decode [0-9.]* tokens/s' | grep -o '[0-9.]*' || echo null)
  decode_cpu=$(dbf generate "$dir" --prompt "The" -n 64 --temperature 0 --backend cpu 2>&1 >/dev/null | grep -o 'decode [0-9.]* tokens/s' | grep -o '[0-9.]*' || echo null)
  echo "{\"model\":\"$name\",\"config\":\"$config\",\"iters\":$iters,\"compress\":$compress,\"sotu\":${evals[0]},\"wiki\":${evals[1]},\"decode_tps\":{\"wasm\":$decode,\"cpu\":$decode_cpu}}" >>"$out_json"
  echo "done $name $config" >&2
done
