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

# The threaded build (pkg-threads/'s flags: nightly, std rebuilt with atomics, relaxed SIMD) by
# value: training and inference on a pool of 2 Web Workers compute what one thread does
# (tests/web_threads.rs, run in a dedicated worker; the test server is cross-origin isolated).
threaded='--cfg getrandom_backend="wasm_js" -C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128,+relaxed-simd -C link-arg=--max-memory=4294967296'
threads=(--features threads -Z build-std=panic_abort,std --test web_threads)
step "browser, threaded build: wasm-pack test --headless --chrome (nightly, 2 threads)"
RUSTFLAGS="$threaded" CHROMEDRIVER="$(command -v chromedriver)" rustup run nightly wasm-pack test --release --headless --chrome -- "${threads[@]}"
step "browser, threaded build: wasm-pack test --headless --firefox (nightly, 2 threads)"
RUSTFLAGS="$threaded" GECKODRIVER="$(command -v geckodriver)" rustup run nightly wasm-pack test --release --headless --firefox -- "${threads[@]}"

# The commands as people type them (the dev profile, every test file and example built, for
# wasm32 too): they must keep working.
step "as typed: cargo test"
cargo test
step "as typed: wasm-pack test --headless --chrome"
CHROMEDRIVER="$(command -v chromedriver)" wasm-pack test --headless --chrome

step "page: build pkg/ and pkg-threads/ and drive the page in headless Chromium"
VLM_REQUIRE_THREADS=1 scripts/build.sh
(cd tests/page && node --test)
