#!/usr/bin/env bash
# Where a warm invocation's instructions go, for one size of log: the benchmark (benches/lambda/)
# runs the release build with symbols (`--profile profiling`) under valgrind's callgrind, and
# scripts/profile_diff.py subtracts a 201-invocation start from a 401-invocation start, leaving 200
# warm invocations. Instruction counts repeat to about 0.5 % between runs, where times on this
# machine move by 20 %: this is how levers are compared (docs/performance.md).
#
#   scripts/profile.sh [seed|every-field|chat]     (default every-field; about 5 minutes)
#   PROFILE_BIN=path/to/another/build scripts/profile.sh every-field    (a lever's build, A/B)
#
# Under valgrind, sha2 cannot use the CPU's SHA instructions and runs its portable code, so SHA-256
# counts for more here than on a real CPU. Writes target/profile/<log>/ (callgrind files, report).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require rust python node java valgrind
cd "$ROOT"

logs="${1:-every-field}"
out="$ROOT/target/profile/$logs"
ensure_dynamodb_local
ensure_venv bench # the benchmark's peer runs beside it; its figures are not used here

log "building the function with symbols, the no-op function and the bare SDK client"
cargo build --locked --profile profiling --bin update-log-by-ref --example noop-function \
  --example bare-update
bin="${PROFILE_BIN:-$ROOT/target/profiling/update-log-by-ref}"
[ -x "$bin" ] || { echo "PROFILE_BIN=$bin is not an executable" >&2; exit 1; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
rm -rf "$out" && mkdir -p "$out"

# The benchmark kills a start with SIGKILL, which leaves callgrind no chance to write its file. The
# wrapper keeps valgrind as its child and, once it is itself gone, ends it with SIGTERM, on which
# callgrind does write. Valgrind's own output goes to a file, so the benchmark's pipes close.
cat >"$out/function.sh" <<EOF
#!/bin/sh
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.%p" \\
  "$bin" >>"$out/valgrind.log" 2>&1 &
vg=\$!
wrapper=\$\$
( while kill -0 "\$wrapper" 2>/dev/null; do sleep 0.2; done; kill -TERM "\$vg" ) >/dev/null 2>&1 &
wait "\$vg"
EOF
chmod +x "$out/function.sh"

log "cargo bench --bench lambda, the function under callgrind, the $logs log"
# One start of each kind: 201 invocations (the warm-up start), 401 (the measured start), 201 (the
# counted start). The benchmark's own figures are meaningless under valgrind: they go to $out.
BENCH_FUNCTION_BIN="$out/function.sh" \
  BENCH_NOOP_BIN="$ROOT/target/profiling/examples/noop-function" \
  BENCH_BARE_BIN="$ROOT/target/profiling/examples/bare-update" \
  BENCH_PYTHON="$VENV/bench/bin/python" \
  BENCH_OUT="$out" BENCH_LOGS="$logs" BENCH_RUNS=1 BENCH_WARM=400 BENCH_LONG=401 \
  cargo bench --locked --bench lambda >"$out/bench.log" 2>&1 ||
  { tail -20 "$out/bench.log" >&2; exit 1; }
# The last start's callgrind writes its file once the wrapper has ended it: wait for it (30 s at most).
for _ in $(seq 150); do
  pgrep -f -- "--callgrind-out-file=$out/" >/dev/null || break
  sleep 0.2
done
python3 scripts/profile_diff.py "$out" | tee "$out/report.txt"
log "wrote $out/report.txt"
