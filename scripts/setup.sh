#!/usr/bin/env bash
# Set up everything graphengine needs on a Debian/Ubuntu machine with Python 3.10+:
# a virtual environment (.venv), the package with its extras (MPI from pip included), Graphviz `dot`
# and Chromium for the browser tests.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (it skips what is done).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GRAPHENGINE_VENV:-$ROOT/.venv}"
EXTRAS="${GRAPHENGINE_EXTRAS:-test}"

say() { printf 'graphengine setup: %s\n' "$*" >&2; }

find_python() {
    for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11 python3.10; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

apt_install() {
    # apt_install PACKAGE...: install with apt where apt is there, as root or through sudo.
    if ! command -v apt-get >/dev/null 2>&1; then
        return 1
    fi
    local runner=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            runner=(sudo -n)
        else
            say "need root to run: apt-get install -y $*  (run it with sudo, then try again)"
            return 1
        fi
    fi
    say "installing $* with apt"
    "${runner[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    "${runner[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

PY="$(find_python)" || {
    say "Python 3.10 or newer is required; install it (e.g. apt-get install python3 python3-venv) and try again"
    exit 1
}

if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV with $PY"
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        ver="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        apt_install "python${ver}-venv" || apt_install python3-venv || {
            say "cannot create a virtual environment: install the venv module (apt-get install python3-venv)"
            exit 1
        }
        "$PY" -m venv "$VENV"
    fi
fi

# (Re)install the package when pyproject.toml changed since the last install.
stamp="$VENV/.graphengine-installed"
hash="$(sha256sum < "$ROOT/pyproject.toml" | cut -d' ' -f1)"
want="$hash $EXTRAS"
have="$(cat "$stamp" 2>/dev/null || true)"
# the test extra holds the train extra: a venv set up for the tests also runs the demo
if [ "$have" != "$want" ] && ! { [ "$EXTRAS" = train ] && [ "$have" = "$hash test" ]; }; then
    # The distribution was called `graphengine` before it became `graphengine-nn` (that name on the
    # public index belongs to another project): drop an old editable install of this checkout.
    if "$VENV/bin/python" -m pip show graphengine 2>/dev/null | grep -q "^Editable project location: $ROOT\$"; then
        "$VENV/bin/python" -m pip uninstall -q -y graphengine
    fi
    say "installing graphengine-nn[$EXTRAS] (editable; imported as graphengine) into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[$EXTRAS]"
    echo "$want" > "$stamp"
fi

if ! command -v dot >/dev/null 2>&1; then
    apt_install graphviz || say "Graphviz 'dot' is missing and could not be installed here; install it with your
  package manager (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz). Diagrams need it."
fi

# Chromium for the browser tests (Debian's package; Playwright drives it, its own download is not used).
if [[ ",$EXTRAS," == *,test,* || ",$EXTRAS," == *,browser,* ]] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    apt_install chromium || say "Chromium is missing and could not be installed here; the browser tests of the
  backprop explorer skip (Debian/Ubuntu: apt-get install chromium)."
fi

export GRAPHENGINE_VENV="$VENV"
