#!/usr/bin/env bash
# The project's test command: installs the real servers the integration tests
# use (if missing), checks formatting and clippy, builds the release binary,
# runs every test target in
# release mode, and ends with one summary line over all test binaries.
#
# Environment:
#   CI=true        a test whose server is missing FAILS instead of printing
#                  "SKIPPED: ..." and passing (passed through to the tests).
#   RRDPIPE_BIN    binary the integration tests run; defaults to the one
#                  cargo builds (CARGO_BIN_EXE_rrdpipe).
# Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-deps.sh

# The house rules: formatted, and no clippy warning in any target.
cargo fmt --check
cargo clippy --release --all-targets -- -D warnings

cargo build --release

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# `cargo test` prints one "test result:" line per test binary; keep its exit
# status through the tee.
status=0
cargo test --release --all-targets --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?

grep 'SKIPPED: ' "$log" | sed 's/^/   /' || true

# Totals over all test binaries, in cargo's own format so the last line reads
# like any other "test result:" line.
awk -v status="$status" '
  /^test result: / {
    bins++
    for (i = 1; i < NF; i++) {
      if ($(i+1) ~ /^passed;?$/)  passed  += $i
      if ($(i+1) ~ /^failed;?$/)  failed  += $i
      if ($(i+1) ~ /^ignored;?$/) ignored += $i
    }
  }
  /SKIPPED: / { skipped++ }
  END {
    verdict = (status == 0 && failed == 0) ? "ok" : "FAILED"
    printf "\ntest result: %s. %d passed; %d failed; %d ignored; %d skipped for missing servers (totals over %d test binaries)\n",
      verdict, passed, failed, ignored, skipped, bins
  }' "$log"

exit "$status"
