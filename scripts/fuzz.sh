#!/usr/bin/env bash
# Fuzzes what a person can hand the model, one target after another, at the lowest priority:
#   decode_image     any bytes as an image file, and as canvas pixels
#   load_model       any bytes as model.safetensors, config.json or tokenizer.json
#   tokenize_prompt  any text as a prompt
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 600 s each, every target
#
# Installs the nightly toolchain and cargo-fuzz if missing. Seeds are fuzz/seeds/TARGET
# (committed); what the fuzzer finds grows fuzz/corpus/TARGET; a crash is saved in
# fuzz/artifacts/TARGET and stops the run. Each run's log, with libFuzzer's final counts
# (stat::number_of_executed_units, stat::average_exec_per_sec), is fuzz/logs/TARGET.log.
# Builds go to $CARGO_TARGET_DIR (default fuzz/target).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode_image load_model tokenize_prompt)

log() { echo "[fuzz] $*"; }
if ! rustup toolchain list | grep -q '^nightly'; then
  log "rustup toolchain install nightly (cargo-fuzz needs it)"
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null; then
  log "cargo install cargo-fuzz (a few minutes)"
  cargo install -q cargo-fuzz --locked
fi

target_dir=${CARGO_TARGET_DIR:-fuzz/target}
mkdir -p fuzz/logs
log "building the targets (the first build compiles candle with coverage and AddressSanitizer: 15-30 min on 2 cores)"
nice -n 19 cargo +nightly fuzz build --target-dir "$target_dir"
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  log "$target for ${seconds} s (log: fuzz/logs/$target.log)"
  start=$(date +%s)
  nice -n 19 cargo +nightly fuzz run --target-dir "$target_dir" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=30 -rss_limit_mb=3072 >"fuzz/logs/$target.log" 2>&1 \
    || { log "$target FAILED after $(( $(date +%s) - start )) s: see fuzz/logs/$target.log and fuzz/artifacts/$target"; exit 1; }
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "fuzz/logs/$target.log" | grep -o '[0-9]*$' || echo '?')
  log "$target: $(( $(date +%s) - start )) s, $runs inputs, no crash"
done
