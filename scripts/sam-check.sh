#!/usr/bin/env bash
# Checks the SAM deployment offline: validates, lints and tests template.yaml (both ApiType values),
# runs `sam build`, and asserts the built bootstrap is an arm64 (aarch64) ELF executable. SAM CLI
# and cfn-lint come from .venv/test, cargo-lambda and its zig from .venv/local.
# Needs no AWS account or credentials.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require rust arm64 python
cd "$ROOT"

export SAM_CLI_TELEMETRY=0
# `sam validate` wants a region even though --lint runs offline; any region will do.
export AWS_REGION="${AWS_REGION:-us-east-1}"

ensure_venv local test

log "sam validate --lint"
sam validate --lint --region "$AWS_REGION"
# cfn-lint checks every combination of the template's conditions (both ApiType values among them).
log "cfn-lint template.yaml"
cfn-lint template.yaml
log "template tests (both ApiType values; alarms and dashboard against src/metrics.rs)"
"$VENV/test/bin/python" scripts/template_test.py

log "sam build (cargo lambda, release, arm64)"
build_log="$(mktemp)"
trap 'rm -f "$build_log"' EXIT
started=$SECONDS
if ! sam build >"$build_log" 2>&1; then
  tail -n 40 "$build_log" >&2
  echo "sam build failed" >&2
  exit 1
fi
log "sam build: $((SECONDS - started)) s"

bootstrap=.aws-sam/build/UpdateLogByRefFunction/bootstrap
if [ ! -f "$bootstrap" ] || [ ! -x "$bootstrap" ]; then
  echo "$bootstrap is missing or not executable" >&2
  exit 1
fi
# ELF header: magic, class 2 (64-bit), data 1 (little-endian), e_type 2 or 3 (executable or PIE),
# e_machine 183 (AArch64).
read -r -a header <<<"$(od -An -tu1 -N20 "$bootstrap" | tr '\n' ' ')"
if [ "${header[0]:-}" != 127 ] || [ "${header[1]:-}" != 69 ] || [ "${header[2]:-}" != 76 ] ||
  [ "${header[3]:-}" != 70 ] || [ "${header[4]:-}" != 2 ] || [ "${header[5]:-}" != 1 ] ||
  { [ "${header[16]:-}" != 2 ] && [ "${header[16]:-}" != 3 ]; } ||
  [ "${header[18]:-}" != 183 ] || [ "${header[19]:-}" != 0 ]; then
  echo "$bootstrap is not an aarch64 ELF executable" >&2
  command -v file >/dev/null && file "$bootstrap" >&2
  exit 1
fi
if command -v file >/dev/null; then
  log "$(file -b "$bootstrap" | cut -d, -f1-2)"
fi
log "ok: $bootstrap is an aarch64 ELF executable ($(du -k "$bootstrap" | cut -f1) KiB)"
