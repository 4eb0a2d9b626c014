"""scatter_dataset and shard_indices: equal shards, the remainder dropped or repeated."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.distributed import DistributedError, scatter_dataset, shard_indices


@pytest.mark.parametrize("n,size", [(10, 3), (12, 4), (7, 7), (100, 8)])
def test_drop_gives_equal_disjoint_shards_and_leaves_fewer_than_size_out(n, size):
    shards = [shard_indices(n, size, r, shuffle=True, seed=2) for r in range(size)]
    assert {len(s) for s in shards} == {n // size}
    used = np.concatenate(shards)
    assert len(set(used.tolist())) == len(used)  # disjoint
    assert n - len(used) == n % size < size


@pytest.mark.parametrize("n,size", [(10, 3), (12, 4), (5, 2)])
def test_repeat_uses_every_example_and_repeats_only_the_few_needed(n, size):
    shards = [shard_indices(n, size, r, shuffle=True, seed=2, remainder="repeat") for r in range(size)]
    per = -(-n // size)
    assert {len(s) for s in shards} == {per}
    used = np.concatenate(shards)
    assert set(used.tolist()) == set(range(n))
    assert len(used) - n == per * size - n


def test_the_split_follows_the_seed_and_shuffle():
    a = shard_indices(20, 2, 0, seed=1)
    assert np.array_equal(a, shard_indices(20, 2, 0, seed=1)) and not np.array_equal(a, shard_indices(20, 2, 0, seed=2))
    assert shard_indices(20, 2, 1, shuffle=False).tolist() == list(range(10, 20))


def test_scatter_in_one_process_is_the_permuted_dataset():
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    comm = ge.distributed.init("single")
    Xs, ys = scatter_dataset(X, y, comm, shuffle=True, seed=4)
    order = np.random.default_rng(4).permutation(10)
    assert np.array_equal(Xs, X[order]) and np.array_equal(ys, y[order])
    Xs, none = scatter_dataset(X, None, comm, shuffle=False)
    assert np.array_equal(Xs, X) and none is None


def test_scatter_errors():
    comm = ge.distributed.init("single")
    with pytest.raises(DistributedError, match="X has 3 examples but y has 2"):
        scatter_dataset(np.zeros((3, 1)), np.zeros(2), comm)
    with pytest.raises(DistributedError, match="remainder must be 'drop' or 'repeat'"):
        scatter_dataset(np.zeros((3, 1)), None, comm, remainder="pad")
    with pytest.raises(DistributedError, match="X=None on every rank"):
        scatter_dataset(None, None, comm)
    with pytest.raises(DistributedError, match="cannot give 4 ranks one example each from 3 examples"):
        shard_indices(3, 4, 0)
    with pytest.raises(DistributedError, match="examples axis"):
        scatter_dataset(np.float64(1.0), None, comm)


@pytest.mark.parametrize("size, rank, message", [(0, 0, "size .* at least 1"), (2, 5, r"rank must be in 0\.\.1"),
                                                 (2, -1, r"rank must be in 0\.\.1"), (2.0, 0, "size must be an int"),
                                                 (2, True, "rank must be an int")])
def test_shard_indices_refuses_impossible_ranks(size, rank, message):
    with pytest.raises(DistributedError, match=message):
        shard_indices(10, size, rank)
