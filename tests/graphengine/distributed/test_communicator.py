"""ge.distributed.init and the Communicator: one process without MPI, the message when
MPI is asked for and missing, collectives in a 2-rank job, and a failing rank that ends
the job instead of hanging it."""

import json
import sys

import numpy as np
import pytest

import graphengine as ge
from graphengine.distributed import Communicator, DistributedError, MPIUnavailableError, launched_by_mpi

LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK",
                      "PMIX_SIZE", "MPI_LOCALNRANKS")


@pytest.fixture
def no_launcher(monkeypatch):
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def no_mpi4py(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # `import mpi4py` now raises ImportError
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)


def test_one_process_without_mpi(no_launcher, no_mpi4py):
    comm = ge.distributed.init()
    assert (comm.rank, comm.size, comm.is_root, comm.backend) == (0, 1, True, "single")
    assert repr(comm) == "<Communicator single: rank 0 of 1>"
    a = np.arange(3.0)
    assert comm.allreduce_(a) is a and a.tolist() == [0.0, 1.0, 2.0]
    assert comm.broadcast_(a, root=0) is a
    assert comm.sum_values([1, 2]).tolist() == [1.0, 2.0]
    comm.agree([1, 2], "anything")
    comm.barrier()
    assert comm.local_rank == 0
    assert ge.distributed.init("single").size == 1


def test_asking_for_mpi_without_mpi4py_names_the_extra(no_launcher, no_mpi4py):
    with pytest.raises(MPIUnavailableError, match=r'pip install "graphengine-nn\[mpi\]"') as info:
        ge.distributed.init("mpi")
    assert "init('mpi') asks for MPI" in str(info.value) and "mpi4py is not installed" in str(info.value)
    assert isinstance(info.value, ImportError) and isinstance(info.value, ge.GraphEngineError)


def test_started_by_a_launcher_without_mpi4py_is_an_error_not_n_lonely_copies(monkeypatch, no_mpi4py):
    monkeypatch.setenv("PMI_SIZE", "4")
    assert launched_by_mpi()
    with pytest.raises(MPIUnavailableError, match="started by an MPI launcher"):
        ge.distributed.init()


def test_launcher_detection(monkeypatch, no_launcher):
    assert not launched_by_mpi()
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "1")
    assert not launched_by_mpi()  # one rank: nothing to connect
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    assert launched_by_mpi()


def test_bad_arguments():
    with pytest.raises(DistributedError, match="backend must be 'auto', 'mpi' or 'single'"):
        ge.distributed.init("nccl")
    with pytest.raises(DistributedError, match="comm must be an mpi4py communicator"):
        ge.distributed.init(comm=object())
    comm = ge.distributed.init("single")
    assert ge.distributed.init(comm=comm) is comm
    with pytest.raises(DistributedError, match="root must be a rank between 0 and 0"):
        comm.broadcast_(np.zeros(2), root=1)
    with pytest.raises(SystemExit):
        comm.abort(3)


def test_two_rank_collectives(two_rank_job):
    reports = [json.loads((two_rank_job / f"rank{r}.json").read_text())["collectives"] for r in range(2)]
    for r, report in enumerate(reports):
        assert (report["backend"], report["launched"]) == ("mpi", True)
        assert report["local_rank"] == r  # both ranks on this machine
        assert report["sum"] == [0.0, 3.0, 6.0, 9.0, 12.0]
        assert report["max"] == [4.0]
        assert report["bcast_from_1"] == [1, 1, 1]
        assert report["sum_values"] == [2.0, 1.0]
        assert "ranks disagree on the rank" in report["agree_error"]
        assert f"this rank ({r} of 2) has [{r}]" in report["agree_error"]
        assert "C-contiguous" in report["buffer_error"]


def test_a_rank_that_raises_ends_the_job_with_its_error(mpi_job):
    # plain `python script.py`: the hook ge.distributed.init() installs aborts the job
    # (`python -m mpi4py script.py` adds mpi4py's own abort; the same hook prints first)
    result = mpi_job("rank_raises.py", ranks=2, module=None, timeout=60)
    assert result.returncode != 0, result.output
    assert "graphengine.distributed: rank 1 of 2 raised RuntimeError: rank 1 fails on purpose at batch 2; " \
           "aborting the MPI job" in result.output
    assert "finished training" not in result.output  # rank 0 did not go on alone
    assert result.seconds < 50
