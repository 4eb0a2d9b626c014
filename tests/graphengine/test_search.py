"""Hyper-parameter search: distributions, random and grid search, the results table."""

import math

import numpy as np
import pytest

import graphengine as ge
from graphengine.search import Choice, IntUniform, LogUniform, SearchError, Uniform, log_uniform


def test_log_uniform_is_the_decks_ten_to_the_uniform():
    rng = np.random.default_rng(0)
    d = log_uniform(-6, 1)
    assert (d.low, d.high) == (1e-6, 10.0)
    samples = np.array([d.sample(rng) for _ in range(4000)])
    assert samples.min() >= 1e-6 and samples.max() <= 10
    exponents = np.log10(samples)
    # uniform exponents: each decade gets about 1/7 of the draws
    counts = np.histogram(exponents, bins=7, range=(-6, 1))[0]
    assert counts.min() > 0.8 * 4000 / 7 and counts.max() < 1.2 * 4000 / 7
    rng1, rng2 = np.random.default_rng(5), np.random.default_rng(5)
    assert d.sample(rng1) == 10 ** rng2.uniform(-6, 1)


def test_other_distributions():
    rng = np.random.default_rng(0)
    assert all(2 <= IntUniform(2, 4).sample(rng) <= 4 for _ in range(50))
    assert {IntUniform(2, 4).sample(rng) for _ in range(200)} == {2, 3, 4}
    assert 0.0 <= Uniform(0, 1).sample(rng) <= 1.0
    assert Choice(["a"]).sample(rng) == "a"
    for bad in (lambda: LogUniform(0, 1), lambda: Uniform(1, 1), lambda: Choice([]), lambda: IntUniform(3, 2)):
        with pytest.raises(SearchError):
            bad()


def build(hidden=4):
    return ge.nn.Sequential(ge.nn.Dense(2, hidden), "tanh", ge.nn.Dense(hidden, 2))


@pytest.fixture
def moons():
    return ge.data.two_moons(120, noise=0.15, seed=0)


def test_random_search_is_seeded_sorted_and_routes_arguments(moons):
    X, y = moons
    space = {"lr": LogUniform(1e-4, 1.0), "hidden": [2, 8], "batch_size": [8, 32]}
    a = ge.search.random_search(build, X, y, space, n_trials=5, seed=3, validation_split=0.25, epochs=4,
                                optimizer="adam")
    b = ge.search.random_search(build, X, y, space, n_trials=5, seed=3, validation_split=0.25, epochs=4,
                                optimizer="adam")
    assert [r["lr"] for r in a] == [r["lr"] for r in b] and [r["score"] for r in a] == [r["score"] for r in b]
    scores = [r["score"] for r in a]
    assert scores == sorted(scores, reverse=True) and a.score_key == "val_accuracy"
    assert a.best == a.rows[0] and sorted(r["trial"] for r in a) == [1, 2, 3, 4, 5]
    for row in a:
        history = a.histories[row["trial"]]
        assert history.params["batch_size"] == row["batch_size"]  # fit argument
        assert history.trainer.model[0].out_features == row["hidden"]  # build argument
        assert history.best("val_accuracy") == (row["best_epoch"], row["score"])
    table = a.table()
    assert table.splitlines()[0].split() == ["rank", "lr", "hidden", "batch_size", "val_accuracy", "best", "epoch",
                                             "seconds"]
    assert len(table.splitlines()) == 2 + 5


def test_grid_search_tries_every_combination_and_scores_by_loss(moons):
    X, y = moons
    results = ge.search.grid_search(build, X, y, {"lr": [0.01, 0.1], "momentum": [0.0, 0.9]}, score="val_loss",
                                    validation_split=0.25, epochs=2, optimizer="momentum")
    assert len(results) == 4
    assert {(r["lr"], r["momentum"]) for r in results} == {(0.01, 0.0), (0.01, 0.9), (0.1, 0.0), (0.1, 0.9)}
    losses = [r["score"] for r in results]
    assert losses == sorted(losses) and results.mode == "min"
    assert all(math.isfinite(v) for v in losses)


def test_search_errors(moons):
    X, y = moons
    with pytest.raises(SearchError, match="validation_split"):
        ge.search.random_search(build, X, y, {"lr": [0.1]}, n_trials=1, epochs=1)
    with pytest.raises(SearchError, match="grid takes lists"):
        ge.search.grid_search(build, X, y, {"lr": LogUniform(1e-3, 1)}, validation_split=0.2)
    with pytest.raises(SearchError, match="both searched and fixed"):
        ge.search.random_search(build, X, y, {"lr": [0.1]}, n_trials=1, validation_split=0.2, lr=0.5)
    with pytest.raises(SearchError, match="must be a distribution"):
        ge.search.random_search(build, X, y, {"lr": 0.1}, validation_split=0.2)
    with pytest.raises(TypeError, match="unknown (hyper-parameter|keyword argument)"):
        ge.search.random_search(build, X, y, {"learning_rate": [0.1]}, n_trials=1, validation_split=0.2, epochs=1)


# -- trials on executors ------------------------------------------------------------------------

EXECUTOR_SEARCH = dict(space={"lr": LogUniform(1e-3, 1.0), "hidden": [2, 6]}, n_trials=3, seed=7,
                       validation_split=0.25, epochs=3, optimizer="adam", batch_size=16)


def _rows(results):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in results]


def _histories(results):
    return {t: (h.epochs, dict(h.history), h.params) for t, h in results.histories.items()}


def _without_time(histories):
    return {t: (e, {k: v for k, v in h.items() if k != "time"}, p) for t, (e, h, p) in histories.items()}


def test_a_process_pool_gives_the_sequential_results(moons):
    import concurrent.futures
    import multiprocessing

    X, y = moons
    sequential = ge.search.random_search(build, X, y, **EXECUTOR_SEARCH)
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("fork")) as pool:
        pooled = ge.search.random_search(build, X, y, executor=pool, **EXECUTOR_SEARCH)
        grid = ge.search.grid_search(build, X, y, {"hidden": [2, 6]}, executor=pool, validation_split=0.25, epochs=2)
    assert _rows(pooled) == _rows(sequential)
    assert _without_time(_histories(pooled)) == _without_time(_histories(sequential))
    assert all(h.trainer is None for h in pooled.histories.values())  # the model stayed in the worker
    assert _rows(grid) == _rows(ge.search.grid_search(build, X, y, {"hidden": [2, 6]}, validation_split=0.25,
                                                      epochs=2))


def test_a_dask_cluster_on_loopback_gives_the_sequential_results(moons):
    distributed = pytest.importorskip("distributed", reason='Dask is not installed: pip install "graphengine-nn[dask]"')
    import sys

    import cloudpickle

    X, y = moons
    sequential = ge.search.random_search(build, X, y, **EXECUTOR_SEARCH)
    module = sys.modules[build.__module__]
    cloudpickle.register_pickle_by_value(module)  # the workers cannot import this test file by name
    try:
        with distributed.LocalCluster(host="127.0.0.1", n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None, memory_limit="1GiB") as cluster, \
                distributed.Client(cluster, timeout=60) as client:
            assert all(address.startswith("tcp://127.0.0.1:") for address in client.scheduler_info()["workers"])
            on_dask = ge.search.random_search(build, X, y, executor=client.get_executor(), **EXECUTOR_SEARCH)
    finally:
        cloudpickle.unregister_pickle_by_value(module)
    assert _rows(on_dask) == _rows(sequential)


def test_executor_errors_name_the_trial(moons):
    import concurrent.futures

    X, y = moons
    with pytest.raises(SearchError, match="executor must be a concurrent.futures.Executor"):
        ge.search.random_search(build, X, y, {"lr": [0.1]}, n_trials=1, validation_split=0.2, executor="pool")
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        with pytest.raises(ge.GraphEngineError) as info:
            ge.search.grid_search(build, X, y, {"hidden": [2, -1]}, validation_split=0.2, epochs=1, executor=pool)
    assert "(in search trial 2: hidden=-1)" in "\n".join(getattr(info.value, "__notes__", []))


# -- Optuna -------------------------------------------------------------------------------------


def test_optuna_objective_checks_its_arguments_without_optuna(moons):
    X, y = moons
    objective = ge.search.optuna_objective(build, X, y, {"lr": LogUniform(1e-3, 1.0)}, validation_split=0.25)
    assert objective.direction == "maximize" and objective.score == "val_accuracy"
    by_loss = ge.search.optuna_objective(build, X, y, {"lr": [0.1]}, score="val_loss", validation_split=0.25)
    assert by_loss.direction == "minimize"
    with pytest.raises(SearchError, match="validation_split"):
        ge.search.optuna_objective(build, X, y, {"lr": [0.1]})
    with pytest.raises(SearchError, match="both searched and fixed"):
        ge.search.optuna_objective(build, X, y, {"lr": [0.1]}, validation_split=0.2, lr=0.5)

    class Beta(ge.search.Distribution):
        def sample(self, rng):
            return float(rng.beta(2, 2))

    with pytest.raises(SearchError, match="Optuna cannot sample a Beta"):
        ge.search.optuna_objective(build, X, y, {"dropout": Beta()}, validation_split=0.2)


def test_optuna_study_scores_trials_as_fit_does(moons):
    optuna = pytest.importorskip("optuna", reason="Optuna is not installed (pip install optuna)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y = moons
    space = {"lr": LogUniform(1e-3, 1.0), "hidden": IntUniform(2, 6), "batch_size": [16, 32]}
    objective = ge.search.optuna_objective(build, X, y, space, validation_split=0.25, epochs=3, optimizer="adam")
    study = optuna.create_study(direction=objective.direction, sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=3)
    assert len(study.trials) == 3
    for trial in study.trials:
        again = ge.search.grid_search(build, X, y, {k: [v] for k, v in trial.params.items()}, validation_split=0.25,
                                      epochs=3, optimizer="adam")
        assert trial.value == again.best["score"] and trial.user_attrs["best_epoch"] == again.best["best_epoch"]
    assert study.best_value == max(t.value for t in study.trials)


def test_optuna_pruning_stops_a_trial_after_an_epoch(moons):
    optuna = pytest.importorskip("optuna", reason="Optuna is not installed (pip install optuna)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y = moons
    objective = ge.search.optuna_objective(build, X, y, {"lr": [1e-6]}, validation_split=0.25, epochs=5, prune=True)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.999))
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [1]  # reported after epoch 1, then stopped
