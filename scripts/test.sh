#!/usr/bin/env bash
# Runs every test: native (cargo test), the crate in headless Chrome and Firefox (wasm-pack
# test), and the page end to end in headless Chromium (Playwright). Installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PATH="$HOME/.cargo/bin:$PATH"

step() { echo; echo "=== $* ==="; }

step "native: cargo test --release --features cli"
cargo test --release --features cli

step "browser: wasm-pack test --headless --chrome"
CHROMEDRIVER="$(command -v chromedriver)" wasm-pack test --release --headless --chrome -- --test web

step "browser: wasm-pack test --headless --firefox"
GECKODRIVER="$(command -v geckodriver)" wasm-pack test --release --headless --firefox -- --test web

# The threaded build's kernels (simd_matmul's fused multiply-add tile) need relaxed SIMD; the
# same tests again, built with it. RUSTFLAGS replaces .cargo/config.toml's, so they are all here.
relaxed='--cfg getrandom_backend="wasm_js" -C target-feature=+simd128,+relaxed-simd'
step "browser: wasm-pack test --headless --chrome, built with relaxed SIMD"
RUSTFLAGS="$relaxed" CHROMEDRIVER="$(command -v chromedriver)" wasm-pack test --release --headless --chrome -- --test web
step "browser: wasm-pack test --headless --firefox, built with relaxed SIMD"
RUSTFLAGS="$relaxed" GECKODRIVER="$(command -v geckodriver)" wasm-pack test --release --headless --firefox -- --test web

step "page: build pkg/ and pkg-threads/ and drive the page in headless Chromium"
VLM_REQUIRE_THREADS=1 scripts/build.sh
(cd tests/page && node --test)
