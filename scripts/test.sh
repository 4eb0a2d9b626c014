#!/usr/bin/env bash
# The test command: set up (venv, package, Graphviz) and run the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k plan -x
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "$GRAPHENGINE_VENV/bin/python" -m pytest -q "$@"
