#!/usr/bin/env bash
# The speed benchmark (not part of scripts/test.sh; 30-40 minutes on 2 cores with the defaults):
# the `tiny` and `seed` presets stage by stage in headless Chromium and Firefox (candle wasm),
# natively (candle, 1 thread and all cores), and the seed vision encoder in onnxruntime-web
# (1 thread and all cores), interleaved in sets; plus the real page with the shipped model.
# Writes bench/results.json and bench/results.md. Arguments go to bench/run.mjs:
#   scripts/bench.sh [--sets 3] [--runs 5] [--warmup 1] [--presets tiny,seed] [--browsers chromium,firefox]
# Installs what is missing and skips what is there: the browsers and drivers (scripts/setup.sh),
# a Python venv with numpy and onnx (bench/.venv), onnxruntime-web (bench/node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "[bench] $*"; }
scripts/setup.sh --test
export PATH="$HOME/.cargo/bin:$PATH"

log "release wasm (pkg/, with the bench entry) and the native stage_bench"
VLM_FEATURES=bench scripts/build.sh
cargo build --release --example stage_bench
native="${CARGO_TARGET_DIR:-target}/release/examples/stage_bench"
"$native" write-models bench/out/models

if ! bench/.venv/bin/python -c 'import numpy, onnx' 2>/dev/null; then
  log "Python venv bench/.venv (numpy, onnx)"
  if ! python3 -m venv bench/.venv; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv bench/.venv
  fi
  bench/.venv/bin/pip install -q numpy 'onnx==1.23.2'
fi
onnx=bench/out/seed_vision.onnx
weights=bench/out/models/seed/model.safetensors
if [ ! -f "$onnx" ] || [ "$weights" -nt "$onnx" ]; then
  bench/.venv/bin/python bench/export_onnx.py "$onnx" --config bench/out/models/seed/config.json --weights "$weights"
fi
if [ ! -d bench/node_modules/onnxruntime-web ]; then
  log "npm ci (onnxruntime-web)"
  (cd bench && npm ci --silent)
fi

exec node bench/run.mjs --native "$native" "$@"
