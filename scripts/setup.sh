#!/usr/bin/env bash
# Installs what building and testing need, and skips what is already there.
#   scripts/setup.sh            wasm toolchain only (enough to build and serve the page)
#   scripts/setup.sh --test     also the browsers and their drivers
# Facts behind each step: the README's "Set-up" section.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

log() { echo "[setup] $*"; }
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The threaded browser build (pkg-threads/) rebuilds std with atomics: nightly and its sources.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  log "installing the nightly toolchain (for the threaded wasm build)"
  rustup toolchain install nightly --profile minimal --component rust-src
elif ! rustup +nightly component list --installed 2>/dev/null | grep -q '^rust-src'; then
  log "adding rust-src to the nightly toolchain"
  rustup component add rust-src --toolchain nightly
fi

apt_pkgs=()
command -v wasm-opt >/dev/null || apt_pkgs+=(binaryen)
if [ "$want_test" = 1 ]; then
  command -v chromium >/dev/null || apt_pkgs+=(chromium)
  command -v chromedriver >/dev/null || apt_pkgs+=(chromium-driver)
  command -v firefox >/dev/null || command -v firefox-esr >/dev/null || apt_pkgs+=(firefox-esr)
  # The page tests' Chinese screenshots need a CJK font, or every character is a box.
  [ -d /usr/share/fonts/opentype/noto ] && ls /usr/share/fonts/opentype/noto | grep -q CJK || apt_pkgs+=(fonts-noto-cjk)
fi
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  log "apt-get install ${apt_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
fi

# wasm-bindgen-cli must be exactly the wasm-bindgen version in Cargo.lock.
bindgen_version=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$bindgen_version" ]; then
  log "cargo install wasm-bindgen-cli $bindgen_version (a few minutes)"
  # No --locked: one locked dependency of the CLI is missing from the registry.
  cargo install -q wasm-bindgen-cli --version "$bindgen_version" --force
fi
if ! command -v wasm-pack >/dev/null; then
  log "cargo install wasm-pack (a few minutes)"
  cargo install -q wasm-pack
fi
if [ "$want_test" = 1 ] && ! command -v geckodriver >/dev/null; then
  log "cargo install geckodriver"
  cargo install -q geckodriver
fi
if [ "$want_test" = 1 ] && [ -f tests/page/package.json ] && [ ! -d tests/page/node_modules ]; then
  log "npm ci (playwright-core, no browser download)"
  (cd tests/page && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent)
fi
log "ready"
