"""MPI job (``mpiexec -n 2 python -m mpi4py.futures search_pool.py OUT``): rank 0 runs a
random search on an MPIPoolExecutor (rank 1 is its worker) and sequentially, and writes
both result tables to OUT/search.json."""

import json
import sys

from mpi4py.futures import MPIPoolExecutor

import graphengine as ge


def build(hidden=4):
    return ge.nn.Sequential(ge.nn.Dense(2, hidden), "tanh", ge.nn.Dense(hidden, 2))


SEARCH = dict(space={"lr": ge.search.LogUniform(1e-3, 1.0), "hidden": [2, 6]}, n_trials=3, seed=7,
              validation_split=0.25, epochs=3, optimizer="adam", batch_size=16)

if __name__ == "__main__":
    X, y = ge.data.two_moons(120, noise=0.15, seed=0)
    with MPIPoolExecutor() as pool:
        on_mpi = ge.search.random_search(build, X, y, executor=pool, **SEARCH)
    sequential = ge.search.random_search(build, X, y, **SEARCH)

    def rows(results):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in results]

    with open(f"{sys.argv[1]}/search.json", "w") as f:
        json.dump({"mpi": rows(on_mpi), "sequential": rows(sequential)}, f)
