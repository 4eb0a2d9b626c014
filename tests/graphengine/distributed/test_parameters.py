"""Flat buffers and broadcast_parameters / parameters_in_sync in one process (the
2-rank behaviour is checked by the MPI job of test_training.py)."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.distributed import DistributedError, FlatBuffers, broadcast_parameters, parameters_checksum
from graphengine.distributed.parameters import state_nodes


def test_flat_buffers_one_buffer_per_dtype_with_views():
    flat = FlatBuffers(np, [(2, 3), (3,), (4,)], ["float32", "float64", "float32"], ["a", "b", "c"])
    assert [b.dtype for b in flat.buffers] == [np.float32, np.float64] and [b.size for b in flat.buffers] == [10, 3]
    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(3), np.full(4, 7, dtype=np.float32)]
    assert flat.matches(arrays) and not flat.matches(arrays[:2]) and not flat.matches([a.T for a in arrays])
    flat.pack(arrays)
    assert flat.buffers[0].tolist() == [0, 1, 2, 3, 4, 5, 7, 7, 7, 7] and flat.buffers[1].tolist() == [1, 1, 1]
    flat.buffers[0] *= 2  # the views see changes of the buffer
    assert flat.views[0].tolist() == [[0, 2, 4], [6, 8, 10]] and flat.views[2].tolist() == [14] * 4
    assert flat.nbytes == 10 * 4 + 3 * 8
    assert flat.description() == "a float32[2, 3]; b float64[3]; c float32[4]"


def _model():
    model = ge.nn.Sequential(ge.nn.Dense(3, 4), ge.nn.BatchNorm(4), "relu", ge.nn.Dense(4, 2), seed=0)
    g = ge.Graph("m")
    model(g.input("x", shape=(None, 3)))
    return model, g


def test_what_is_broadcast():
    model, g = _model()
    names = [n.name for n in state_nodes(model)]
    assert names[:6] == [p.name for p in model.params()] and "running_mean" in names[-2]
    assert [n.name for n in state_nodes(g)][:6] == names[:6]
    assert state_nodes(g.params()[:1]) == g.params()[:1]
    with pytest.raises(DistributedError, match="is not built yet"):
        state_nodes(ge.nn.Dense(2, 2))
    with pytest.raises(DistributedError, match="takes a ge.nn.Module, a Graph"):
        state_nodes("model")
    with pytest.raises(DistributedError, match="pass param"):
        state_nodes([g.input("z", shape=(2,))])


def test_broadcast_in_one_process_keeps_the_params_and_checksum_sees_every_bit():
    model, g = _model()
    comm = ge.distributed.init("single")
    before = parameters_checksum(model)
    values = [p.value.copy() for p in model.params()]
    assert broadcast_parameters(model, comm) == state_nodes(model)
    assert all(np.array_equal(v, p.value) for v, p in zip(values, model.params()))
    assert parameters_checksum(model) == before and ge.distributed.parameters_in_sync(model, comm)
    W = model.params()[0]
    W.value = np.nextafter(W.value, np.float32(np.inf))  # one ulp
    assert parameters_checksum(model) != before
    with pytest.raises(DistributedError, match="root must be a rank between 0 and 0"):
        broadcast_parameters(model, comm, root=1)
    with pytest.raises(DistributedError, match="no params"):
        broadcast_parameters(ge.Graph("empty"), comm)
