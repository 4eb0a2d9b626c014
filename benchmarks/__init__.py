"""graphengine's benchmark suite: ``python -m benchmarks.run`` (see docs/benchmarks.md).

Importing the package pins the BLAS and OpenMP libraries to one thread (before NumPy is
imported by anything in the suite): the benchmark machines have two shared, noisy cores,
and the engine, its NumPy references and PyTorch (``torch.set_num_threads(1)`` in its child
processes, which inherit these variables) must all run on the same single thread. Set
``GRAPHENGINE_BENCH_THREADS`` to choose another count.
"""

import os as _os

THREADS = _os.environ.get("GRAPHENGINE_BENCH_THREADS", "1")
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    _os.environ[_var] = THREADS
