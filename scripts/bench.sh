#!/usr/bin/env bash
# The benchmark (benches/lambda/): the release function run as Lambda runs it, through a Runtime
# API emulator on loopback, against DynamoDB Local, beside its floors (raw DynamoDB requests, the
# no-op function, the bare SDK client's UpdateItem), a Python peer (boto3 under awslambdaric,
# bench/peer/peer.py), three sizes of log and its goals. Prints the tables and
# writes bench/results.json, bench/results.md and bench/latency.svg. Not part of the test suite:
# a missed goal prints MISS and never fails the run. About five minutes after the builds on 2
# cores. BENCH_RUNS, BENCH_WARM, BENCH_LONG and BENCH_LOGS (e.g. every-field) shrink it for a
# quick look (results use the defaults).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require rust arm64 python node java
cd "$ROOT"

ensure_dynamodb_local
ensure_venv local bench # cargo-lambda for the arm64 zip; the peer's awslambdaric and boto3

log "building the release function, the no-op function and the bare SDK client"
cargo build --locked --release --bin update-log-by-ref --example noop-function --example bare-update
# Measure these exact builds, whatever another build leaves in target/release meanwhile.
mkdir -p target/bench
cp target/release/update-log-by-ref target/release/examples/noop-function \
  target/release/examples/bare-update target/bench/

log "building the arm64 deployment zip"
cargo lambda build --release --arm64 --output-format zip --bin update-log-by-ref
zip="$ROOT/target/lambda/update-log-by-ref/bootstrap.zip"
[ -f "$zip" ] || { echo "cargo lambda did not produce $zip" >&2; exit 1; }

log "cargo bench --bench lambda"
BENCH_FUNCTION_BIN="$ROOT/target/bench/update-log-by-ref" \
  BENCH_NOOP_BIN="$ROOT/target/bench/noop-function" \
  BENCH_BARE_BIN="$ROOT/target/bench/bare-update" \
  BENCH_ZIP="$zip" \
  BENCH_PYTHON="$VENV/bench/bin/python" \
  cargo bench --locked --bench lambda
