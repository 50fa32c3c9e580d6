#!/usr/bin/env bash
# Builds the browser module (wasm-pack, release, ES module for the web) twice:
#   pkg/          one thread, stable Rust: runs everywhere;
#   pkg-threads/  threads (wasm-bindgen-rayon): nightly Rust, std rebuilt with atomics; the page
#                 uses it where it is cross-origin isolated (scripts/serve.py's headers).
# If the threaded build fails, pkg-threads/ is removed and the page runs on one thread, unless
# VLM_REQUIRE_THREADS=1 (the test command), where it is an error. VLM_FEATURES=bench adds the
# speed benchmark's entry (scripts/bench.sh); the page's module does not carry it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# The page's module without its function names (scripts/strip_wasm_names.py keeps them beside it).
size() {
  python3 scripts/strip_wasm_names.py "$1/vlm_explainer_bg.wasm"
  ls -l "$1/vlm_explainer_bg.wasm" | awk -v d="$1" '{printf "[build] %s/vlm_explainer_bg.wasm: %.1f MB\n", d, $5 / 1e6}'
}

# Link-time optimisation across all crates, one codegen unit: measured with bench/ab_stages.mjs
# (tiny, Chromium): vision encoder 0.87x, prefill 0.86x, decode 0.83x the time; 0.6-1.3 MB less
# wasm (seed moved both ways within the noise). For the browser builds only (the native tests'
# release builds stay quick to link).
export CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
# candle-core optimised for size: its CPU backend is generic over a dozen dtypes, and the browser's
# hot loops are this crate's kernels and gemm's. pkg/ 5.24 -> 4.46 MB (candle-core's code 2.75 ->
# 1.77 MB), so less to download and compile as the page opens; bench/ab_stages.mjs (Chromium, one
# thread, `tiny` and `seed`) found every stage within the noise of the -O3 build.
SIZE=(--config 'profile.release.package.candle-core.opt-level="s"')

FEATURES=(); [ -n "${VLM_FEATURES:-}" ] && FEATURES=(--features "$VLM_FEATURES")
wasm-pack build --target web --release --no-pack --out-dir pkg -- "${FEATURES[@]}" "${SIZE[@]}"
size pkg

# RUSTFLAGS replaces .cargo/config.toml's flags for the target, so they are all here. The memory
# is shared, so its maximum is fixed at link time: 4 GiB, wasm32's whole address space. Relaxed
# SIMD (Chrome 114+, Firefox 146+) gives simd_matmul its fused multiply-add; a browser without it
# fails to compile this module and the page runs pkg/ instead.
threaded() {
  RUSTFLAGS='--cfg getrandom_backend="wasm_js" -C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128,+relaxed-simd -C link-arg=--max-memory=4294967296' \
    rustup run nightly wasm-pack build --target web --release --no-pack --out-dir pkg-threads \
    -- --features "threads${VLM_FEATURES:+,$VLM_FEATURES}" -Z build-std=panic_abort,std "${SIZE[@]}"
}
if threaded; then
  size pkg-threads
elif [ "${VLM_REQUIRE_THREADS:-0}" = 1 ]; then
  echo "[build] the threaded build failed" >&2
  exit 1
else
  rm -rf pkg-threads
  echo "[build] the threaded build failed: the page will run on one thread (scripts/setup.sh installs nightly and rust-src)" >&2
fi
