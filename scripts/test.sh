#!/usr/bin/env bash
# The test command: set up (venv, package, Graphviz) and run the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k plan -x
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
# One BLAS thread per process: the suite's small matrices gain nothing from more, and on a
# shared 2-core machine extra threads oversubscribe (a 32x784 matmul: 0.2 ms against 8-50 ms).
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "$GRAPHENGINE_VENV/bin/python" -m pytest -q "$@"
