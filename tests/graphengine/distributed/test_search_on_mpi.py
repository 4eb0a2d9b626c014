"""A search fanned out on MPI ranks through mpi4py's MPIPoolExecutor gives the
sequential results (the process pool and Dask are tested in tests/graphengine/test_search.py)."""

import json


def test_mpi_pool_executor_gives_the_sequential_results(mpi_job, tmp_path):
    result = mpi_job("search_pool.py", tmp_path, ranks=2, module="mpi4py.futures", timeout=60)
    assert result.returncode == 0, result.output
    tables = json.loads((tmp_path / "search.json").read_text())
    assert len(tables["mpi"]) == 3 and tables["mpi"] == tables["sequential"]
