#!/usr/bin/env bash
# The CuPy checks, on a machine with an NVIDIA GPU and CuPy installed:
#   1. the whole test suite with the cupy backend enabled (every op's conformance check
#      compares CuPy with NumPy; the end-to-end tests train on the GPU);
#   2. the GPU benchmarks (python -m benchmarks.run --only gpu);
#   3. the MNIST examples trained on CuPy and on NumPy, accuracies side by side.
#
#   bash scripts/gpu_check.sh [OUT_DIR]          # logs and results go to OUT_DIR (default gpu-check/)
#
# Environment: PYTHON (default python3, which must import cupy), GRAPHENGINE_DATA (the MNIST
# folder, see docs/training.md), JOBS (pytest-xdist workers, default 8; 0 runs the tests in one
# process), STAGES (default "tests bench examples"), EXAMPLE_EPOCHS (default 2), FIGURES (where
# the examples' figures go, default OUT_DIR/figures), STAGE_TIMEOUT (seconds for each test, benchmark
# or example run; default none), EXAMPLE_BACKENDS (default "cupy numpy").
# graphengine must be importable: installed (pip install -e ".[test]") or on PYTHONPATH.
set -u
out=${1:-gpu-check}
python=${PYTHON:-python3}
jobs=${JOBS:-8}
stages=${STAGES:-tests bench examples}
epochs=${EXAMPLE_EPOCHS:-2}
mkdir -p "$out"
cd "$(dirname "$0")/.."
status=0

limited() {  # a command under STAGE_TIMEOUT, where it is set
  if [ -n "${STAGE_TIMEOUT:-}" ]; then timeout "$STAGE_TIMEOUT" "$@"; else "$@"; fi
}

echo "== machine" | tee "$out/summary.txt"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  "$python" -c "import cupy, numpy, graphengine; print('cupy', cupy.__version__, '| numpy', numpy.__version__,
'| graphengine', graphengine.__version__, '| GPU', cupy.cuda.runtime.getDeviceProperties(0)['name'].decode())"
} 2>&1 | tee -a "$out/summary.txt"
"$python" -c "import graphengine as ge, sys; sys.exit(0 if ge.cupy_available() else 1)" || {
  echo "CuPy sees no usable GPU here: nothing to check" | tee -a "$out/summary.txt"; exit 2; }

# the pytest plugin (ge_backend fixtures) comes from the package's entry point when it is installed
plugin=$("$python" -c "from importlib import metadata
try: metadata.distribution('graphengine-nn'); print('')
except metadata.PackageNotFoundError: print('-p graphengine.testing.pytest_plugin')")

if [[ " $stages " == *" tests "* ]]; then
  echo "== tests (cupy enabled)" | tee -a "$out/summary.txt"
  parallel=()
  [ "$jobs" != 0 ] && parallel=(-n "$jobs")
  # left out: tests that install packages with pip or need a browser or notebook kernel
  # (they do not touch the GPU)
  limited "$python" -m pytest -q -p no:randomly -p no:cacheprovider $plugin "${parallel[@]}" -rfEs \
    --junitxml="$out/tests.xml" tests \
    --ignore=tests/plugins_e2e --ignore=tests/graphengine/test_packaging.py \
    --ignore=tests/examples/test_notebooks.py --ignore=tests/visualize/test_explore_browser.py \
    --ignore=tests/benchmarks >"$out/tests.log" 2>&1 || status=1
  tail -n 3 "$out/tests.log" | tee -a "$out/summary.txt"
  "$python" - "$out/tests.xml" <<'EOF' | tee -a "$out/summary.txt"
import sys, xml.etree.ElementTree as ET
cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
ran = [c for c in cases if "cupy" in c.get("name", "") or "cupy" in c.get("classname", "")]
failed = [c for c in ran if c.find("failure") is not None or c.find("error") is not None]
skipped = [c for c in ran if c.find("skipped") is not None]
print(f"tests with 'cupy' in their id: {len(ran)}, failed {len(failed)}, skipped {len(skipped)}")
EOF
fi

if [[ " $stages " == *" bench "* ]]; then
  echo "== benchmarks (GPU)" | tee -a "$out/summary.txt"
  limited "$python" -m benchmarks.run --only gpu >"$out/bench.log" 2>&1 || status=1
  cat "$out/bench.log" >>"$out/summary.txt"
fi

if [[ " $stages " == *" examples "* ]]; then
  echo "== examples, $epochs epochs, on ${EXAMPLE_BACKENDS:-cupy numpy}" | tee -a "$out/summary.txt"
  for example in mnist_mlp cnn_mnist; do
    for backend in ${EXAMPLE_BACKENDS:-cupy numpy}; do
      start=$(date +%s)
      limited "$python" "examples/$example.py" --backend "$backend" --epochs "$epochs" --out "${FIGURES:-$out/figures}" \
        >"$out/$example-$backend.log" 2>&1 || status=1
      echo "-- $example on $backend ($(( $(date +%s) - start )) s):" | tee -a "$out/summary.txt"
      grep -E "accuracy|per epoch|Error|error" "$out/$example-$backend.log" | head -n 6 | tee -a "$out/summary.txt"
    done
  done
fi
exit $status
