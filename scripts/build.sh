#!/usr/bin/env bash
# Builds the browser module into pkg/ (wasm-pack, release, ES module for the web).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
wasm-pack build --target web --release --no-pack --out-dir pkg
ls -l pkg/vlm_explainer_bg.wasm | awk '{printf "[build] pkg/vlm_explainer_bg.wasm: %.1f MB\n", $5 / 1e6}'
