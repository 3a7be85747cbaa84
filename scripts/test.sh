#!/usr/bin/env bash
# The whole suite: installs what is missing, checks formatting and lints, runs every test,
# fuzzes the served function against openapi.yaml, then checks the SAM template and build.
# The tests start their own DynamoDB Local on a free port.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_dynamodb_local

log "cargo fmt --check"
cargo fmt --check
log "cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
log "cargo test"
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
cargo test --locked 2>&1 | tee "$results"
log "schemathesis against openapi.yaml"
bash scripts/schemathesis.sh
log "SAM: validate, lint, build"
bash scripts/sam-check.sh

# One closing line for the whole suite: the Rust tests' totals (schemathesis and SAM passed above).
total() { grep -E '^test result:' "$results" | grep -oE "[0-9]+ $1" | awk '{n += $1} END {print n + 0}'; }
echo "tests: $(total passed) passed, $(total failed) failed"
