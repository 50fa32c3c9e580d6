#!/usr/bin/env bash
# Soak test (not part of scripts/test.sh: 500 runs take 15-25 minutes on 2 cores): builds the
# page and captions the same dropped image RUNS times in one page, printing the wasm memory as
# it goes; fails if it grows more than 10% past its high-water mark after the first 10 runs.
#   scripts/soak.sh [RUNS]      (default 500)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/build.sh
exec node tests/page/soak.mjs "${1:-500}"
