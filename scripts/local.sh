#!/usr/bin/env bash
# Runs the function locally: DynamoDB Local, tables, a dev API key and a sample log, and
# `cargo lambda watch`. Prints a curl that updates the sample log. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require rust python node java
cd "$ROOT"

ensure_dynamodb_local
ensure_venv local

DYNAMODB_PORT="${DYNAMODB_PORT:-$(free_port)}"
WATCH_PORT="${WATCH_PORT:-9000}"

GROUP_PID=""
cleanup() {
  trap - EXIT INT TERM
  log "stopping"
  # cargo lambda watch leads its own process group: stop the group, the function included.
  [ -n "$GROUP_PID" ] && stop_group "$GROUP_PID"
  [ -n "${DYNAMODB_LOCAL_PID:-}" ] && { kill -TERM "$DYNAMODB_LOCAL_PID" 2>/dev/null || true; }
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_local_stack "$DYNAMODB_PORT"
API_KEY="$("$ADMIN" create-api-key --organization dev-org 2>/dev/null)"
"$ADMIN" put-log --organization dev-org >/dev/null <<'JSON'
{
  "reference_id": "sample-1",
  "project": "local-demo",
  "inputs": {"question": "What is 2 + 2?"},
  "messages": [{"role": "user", "content": "What is 2 + 2?"}],
  "observability_status": "pending"
}
JSON

log "starting cargo lambda watch on port $WATCH_PORT"
start_group cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" --bin update-log-by-ref
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
