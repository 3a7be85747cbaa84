#!/usr/bin/env bash
# The stack's and the dependencies' security checks, offline:
#   - checkov on template.yaml: zero failed checks (each skip sits beside its resource in the
#     template, with its reason);
#   - cargo-deny on the dependency graph (deny.toml): every license one the project accepts, no
#     banned crate, every crate from crates.io.
# Both are pinned and live inside the project: checkov in .venv/checkov (scripts/requirements/
# checkov.txt), cargo-deny in .tools (git-ignored), built from crates.io on first use.
#
# `--advisories` also checks the RustSec advisory database, which cargo-deny clones from GitHub
# into .tools/advisory-dbs: it needs access to github.com (see docs/security.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require rust python
cd "$ROOT"

CARGO_DENY_VERSION="0.20.2"
TOOLS="$ROOT/.tools"

checks=(licenses bans sources)
case "${1:-}" in
  "") ;;
  --advisories) checks+=(advisories) ;;
  *) echo "usage: $0 [--advisories]" >&2; exit 2 ;;
esac

# cargo-deny from crates.io, built into .tools (not on PATH: `cargo --list` stays as it was).
ensure_cargo_deny() {
  if [ "$("$TOOLS/bin/cargo-deny" --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
    log "installing cargo-deny $CARGO_DENY_VERSION into .tools (first run: a few minutes)"
    cargo install --locked --quiet --root "$TOOLS" "cargo-deny@$CARGO_DENY_VERSION"
  fi
}

ensure_venv checkov
log "checkov on template.yaml (checkov $(checkov --version))"
checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

ensure_cargo_deny
log "cargo-deny: ${checks[*]}"
# Where advisories are cloned (deny.toml's db-path reads it): inside the project.
export CARGO_DENY_ADVISORY_DB="$TOOLS/advisory-dbs"
"$TOOLS/bin/cargo-deny" --locked check --hide-inclusion-graph --show-stats "${checks[@]}"
