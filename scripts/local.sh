#!/usr/bin/env bash
# Runs the function locally: DynamoDB Local, tables, a dev API key and a sample log, and
# `cargo lambda watch`. Prints a curl that updates the sample log. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_dynamodb_local
ensure_cargo_lambda

DYNAMODB_PORT="${DYNAMODB_PORT:-$(free_port)}"
WATCH_PORT="${WATCH_PORT:-9000}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNAMODB_PORT"
export LOGS_TABLE_NAME="${LOGS_TABLE_NAME:-logs}"
export API_KEYS_TABLE_NAME="${API_KEYS_TABLE_NAME:-api_keys}"

pids=()
cleanup() {
  trap - EXIT INT TERM
  log "stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

log "starting DynamoDB Local on port $DYNAMODB_PORT"
start_dynamodb_local "$DYNAMODB_PORT"
pids+=("$DYNAMODB_LOCAL_PID")

log "building"
cargo build --quiet --bins
admin=target/debug/logs-admin
"$admin" create-tables
API_KEY="$("$admin" create-api-key --organization dev-org 2>/dev/null)"
"$admin" put-log --organization dev-org >/dev/null <<'JSON'
{
  "reference_id": "sample-1",
  "project": "local-demo",
  "inputs": {"question": "What is 2 + 2?"},
  "messages": [{"role": "user", "content": "What is 2 + 2?"}],
  "observability_status": "pending"
}
JSON

log "starting cargo lambda watch on port $WATCH_PORT"
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" --bin update-log-by-ref &
pids+=("$!")
wait_for_port "$WATCH_PORT" 300

URL="http://127.0.0.1:$WATCH_PORT/lambda-url/update-log-by-ref/logs?reference_id=sample-1"
cat <<MSG

Ready. DynamoDB Local: $AWS_ENDPOINT_URL_DYNAMODB  (tables $LOGS_TABLE_NAME, $API_KEYS_TABLE_NAME)
Development API key (organization dev-org): $API_KEY
Sample log: reference_id sample-1. Update it with:

curl -sS -X PATCH '$URL' \\
  -H 'X-API-KEY: $API_KEY' -H 'Content-Type: application/json' \\
  -d '{"output": "4", "duration": 0.42}'

Press Ctrl-C to stop.
MSG
wait
