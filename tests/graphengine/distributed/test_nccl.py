"""The NCCL path for CuPy graphs. Without CuPy or a GPU only the parts that need neither
run (the id's bytes, the dtype table, the error that names the install); the NCCL
collectives themselves run where CuPy sees a GPU, and are skipped elsewhere."""

import types

import numpy as np
import pytest

import graphengine as ge
from graphengine.distributed import DistributedError
from graphengine.distributed import nccl as nccl_module


def _gpu_or_skip():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed (the NCCL path needs CuPy and a GPU)")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver
        pytest.skip(f"no usable CUDA GPU: {exc}")
    if count < 1:
        pytest.skip("no CUDA GPU")
    return cupy


@pytest.mark.parametrize("unique_id", [bytes(range(128)), tuple(((i * 37) % 256) - 128 for i in range(128))])
def test_the_unique_id_travels_as_128_bytes_and_comes_back_as_it_was(unique_id):
    data = nccl_module._id_to_bytes(unique_id)
    assert data.dtype == np.uint8 and data.shape == (128,)
    assert nccl_module._bytes_to_id(data, unique_id) == unique_id
    with pytest.raises(DistributedError, match="unexpected NCCL unique id of 3 bytes"):
        nccl_module._id_to_bytes(b"abc")


def test_dtypes_and_ops_map_to_nccl_constants():
    fake = types.SimpleNamespace(NCCL_FLOAT16=6, NCCL_FLOAT32=7, NCCL_FLOAT64=8, NCCL_INT32=2, NCCL_INT64=4,
                                 NCCL_SUM=0, NCCL_MIN=3, NCCL_MAX=2)
    assert nccl_module._nccl_dtype(fake, np.float32) == 7 and nccl_module._nccl_dtype(fake, "float64") == 8
    assert nccl_module._nccl_op(fake, "sum") == 0 and nccl_module._nccl_op(fake, "max") == 2
    with pytest.raises(DistributedError, match="float16/32/64 or int32/64"):
        nccl_module._nccl_dtype(fake, np.complex64)
    with pytest.raises(DistributedError, match="reduction op must be one of"):
        nccl_module._nccl_op(fake, "prod")


def test_without_cupy_the_error_names_the_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(ge.BackendUnavailableError, match=r'graphengine-nn\[cupy\]'):
        nccl_module._nccl_module()
    with pytest.raises(ge.BackendUnavailableError):
        ge.distributed.select_gpu(ge.distributed.init("single"))


@pytest.mark.cupy
def test_nccl_allreduce_and_broadcast_on_one_gpu():
    cupy = _gpu_or_skip()
    comm = ge.distributed.init("single")
    ge.distributed.select_gpu(comm)
    nccl = nccl_module.NcclCommunicator.from_communicator(comm)
    a = cupy.arange(6, dtype=cupy.float32)
    assert nccl.allreduce_(a) is a
    cupy.cuda.get_current_stream().synchronize()
    assert a.get().tolist() == [0, 1, 2, 3, 4, 5]  # one rank: the sum is itself
    b = cupy.ones(3, dtype=cupy.float64)
    nccl.broadcast_(b, root=0)
    assert b.get().tolist() == [1, 1, 1]
    with pytest.raises(DistributedError, match="C-contiguous CuPy array"):
        nccl.allreduce_(np.zeros(3, dtype=np.float32))


@pytest.mark.cupy
def test_distributed_optimizer_on_a_cupy_graph():
    cupy = _gpu_or_skip()
    comm = ge.distributed.init("single")
    ge.distributed.select_gpu(comm)
    g = ge.Graph("gpu")
    x = g.input("x", shape=(None, 3))
    W = g.param("W", np.random.default_rng(0).normal(size=(3, 2)).astype(np.float32))
    loss = ge.ops.mean((x @ W) ** 2)
    g.to("cupy")
    opt = ge.distributed.DistributedOptimizer(ge.optimizers.create("sgd", g.params(), lr=0.1), comm)
    step = ge.compile_step(loss, opt, before_update=[opt.allreduce_gradients])
    step({"x": cupy.ones((4, 3), dtype=cupy.float32)})
    assert isinstance(W.value, cupy.ndarray) and opt.steps == 1
