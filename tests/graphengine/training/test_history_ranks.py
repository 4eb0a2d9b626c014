"""History.plot in data-parallel training: the rank is recorded in ``params`` and only
rank 0 draws and writes files."""

import pytest

import graphengine as ge
from graphengine.distributed.communicator import Communicator
from graphengine.training import History


def test_plot_on_a_non_root_rank_writes_nothing_and_returns_none(tmp_path):
    pytest.importorskip("matplotlib")
    history = History({"epochs": 2, "rank": 1})
    history.append(1, {"loss": 1.0})
    history.append(2, {"loss": 0.5})
    path = tmp_path / "curves.png"
    assert history.plot(path) is None and not path.exists()
    history.params["rank"] = 0
    assert history.plot(path) is not None and path.exists()


def test_fit_with_comm_records_the_rank(tmp_path):
    pytest.importorskip("matplotlib")
    X, y = ge.data.two_moons(40, seed=0)
    comm = Communicator(None)
    comm.rank = 1  # one process that calls itself rank 1: collectives over one rank are copies
    model = ge.nn.Sequential(ge.nn.Dense(2, 4), "tanh", ge.nn.Dense(4, 2), seed=0)
    history = ge.training.fit(model, X, y, epochs=1, seed=0, comm=comm, progress=False)
    assert history.params["rank"] == 1 and history.params["ranks"] == 1
    assert history.plot(tmp_path / "rank1.png") is None and not (tmp_path / "rank1.png").exists()
    plain = ge.training.fit(ge.nn.Sequential(ge.nn.Dense(2, 2), seed=0), X, y, epochs=1, progress=False)
    assert "rank" not in plain.params
    assert plain.plot(tmp_path / "plain.png") is not None and (tmp_path / "plain.png").exists()
