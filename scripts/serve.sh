#!/usr/bin/env bash
# Installs what is missing, builds the wasm, and serves the page on 127.0.0.1 (default port 8080).
#   scripts/serve.sh [--port N] [--model DIR]   (DIR: a downloaded model folder the page opens with)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec python3 scripts/serve.py "$@"
