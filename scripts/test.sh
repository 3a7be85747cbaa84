#!/usr/bin/env bash
# The whole suite: checks that the repository stays inside itself, installs what is missing (into
# .venv/local, .venv/test, .venv/checkov, .tools and node_modules), checks formatting and lints,
# runs every test, fuzzes the served function against openapi.yaml, checks the SAM template and
# build, scans the template and the dependencies (checkov, cargo-deny), then checks that nothing
# outside the project changed. The tests start their own DynamoDB Local on a free port.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require rust rust-lints arm64 python node java curl
cd "$ROOT"

outside_before="$(outside_snapshot)"
log "the repository installs and reads nothing outside itself"
python3 scripts/check_hermetic.py

# Every tool a test needs, before the tests: DynamoDB Local, and cargo-lambda (.venv/local) for the
# fixture test that runs `cargo lambda watch` and `cargo lambda invoke`. That test's `cargo run`
# then finds the function built (`cargo test` builds it with the dev-dependencies' features, a
# different build).
ensure_dynamodb_local
ensure_venv local test
log "cargo build --bins"
cargo build --locked --bins

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
log "security: checkov on the template, cargo-deny on the dependencies"
bash scripts/security-check.sh

log "nothing changed outside the project (machine's Python packages, global npm, cargo commands)"
if ! diff <(echo "$outside_before") <(outside_snapshot) >&2; then
  echo "the suite changed the machine outside the project (above: < before, > after)" >&2
  exit 1
fi

# One closing line for the whole suite: the Rust tests' totals (schemathesis and SAM passed above).
total() { grep -E '^test result:' "$results" | grep -oE "[0-9]+ $1" | awk '{n += $1} END {print n + 0}'; }
echo "tests: $(total passed) passed, $(total failed) failed"
