#!/usr/bin/env bash
# The main job: set up (venv, the package with its `train` extra, Graphviz), then build, run, differentiate, draw and
# train the worked examples. Extra arguments go to `graphengine demo`
# (e.g. --out DIR, --quick).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GRAPHENGINE_EXTRAS="${GRAPHENGINE_EXTRAS:-train}" source "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "$GRAPHENGINE_VENV/bin/graphengine" demo "$@"
