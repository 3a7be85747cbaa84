#!/usr/bin/env bash
# Draws docs/dashboard.svg from template.yaml's dashboard (scripts/dashboard.py) with the tools of
# .venv/dashboard (matplotlib, cfn-lint).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require python
cd "$ROOT"
ensure_venv dashboard
exec "$VENV/dashboard/bin/python" scripts/dashboard.py "$@"
