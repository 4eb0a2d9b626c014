"""Hyper-parameter search: random search and grid search over ``fit`` arguments, trials run
one after another or fanned out on any ``concurrent.futures.Executor``.

Search on a log scale, ``learning_rate = 10 ** uniform(-6, 1)``::

    def build(hidden=30):
        return ge.nn.Sequential(ge.nn.Dense(784, hidden), "sigmoid", ge.nn.Dense(hidden, 10))

    results = ge.search.random_search(
        build, X, y,
        space={"lr": ge.search.LogUniform(1e-6, 10), "hidden": [30, 100], "batch_size": [16, 64]},
        n_trials=20, seed=0, validation_split=0.2, epochs=3)
    print(results.table())          # sorted by validation score, best first
    results.best                    # {'lr': ..., 'hidden': ..., 'score': ...}

Keys of ``space`` (or ``grid``) that ``build`` takes as parameters go to ``build``; every
other key must be a ``fit`` argument (``lr``, ``batch_size``, ``epochs``, ``optimizer``,
``l2``, ``momentum``, ...) and goes to ``fit``; fixed ``fit`` arguments are passed as
keywords. Each trial builds a fresh model and trains it with the same ``seed`` (same
initialization and shuffling), so trials differ only by their hyper-parameters.

The score is the best value of ``score`` (default ``val_accuracy``, or ``val_loss``
when the model has no accuracy) over the trial's epochs.

With Optuna: :func:`optuna_objective` turns the same space and ``fit`` arguments into an
objective for ``optuna.create_study(...).optimize``.

Fanning out: ``executor=`` takes any ``concurrent.futures.Executor`` and runs the trials
on it: ``concurrent.futures.ProcessPoolExecutor`` on one machine, a Dask cluster through
``distributed.Client(...).get_executor()``, or MPI ranks through
``mpi4py.futures.MPIPoolExecutor`` (launch with ``mpiexec -n N python -m mpi4py.futures
search.py``). The configurations are drawn here, before any trial starts, and every trial
is trained with the same ``seed``, so the rows (hyper-parameters, scores, best epochs)
are the same as those of the sequential search; only ``seconds`` differ. ``build`` and
the data must be picklable (``build`` a module-level function). Histories come back
without ``history.trainer`` (the trained model stays in the worker).
"""

from __future__ import annotations

import inspect
import itertools
import math
import time

import numpy as np

from .errors import GraphEngineError, did_you_mean


class SearchError(GraphEngineError, ValueError):
    """A search space or option is malformed (unknown argument, empty grid, bad range)."""


class Distribution:
    """A distribution to sample one hyper-parameter from: ``sample(rng) -> value``."""

    def sample(self, rng):  # pragma: no cover - abstract
        raise NotImplementedError


class Uniform(Distribution):
    """Uniform on [low, high]."""

    def __init__(self, low: float, high: float):
        low, high = float(low), float(high)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise SearchError(f"Uniform needs finite low < high, got {low}, {high}")
        self.low, self.high = low, high

    def sample(self, rng):
        return float(rng.uniform(self.low, self.high))

    def __repr__(self) -> str:
        return f"Uniform({self.low:g}, {self.high:g})"


class LogUniform(Distribution):
    """Log-uniform on [low, high]: ``10 ** uniform(log10 low, log10 high)``.

    ``LogUniform(1e-6, 10)`` is ``learning_rate = 10 ** uniform(-6, 1)``.
    """

    def __init__(self, low: float, high: float):
        low, high = float(low), float(high)
        if not (low > 0 and high > low and math.isfinite(high)):
            raise SearchError(f"LogUniform needs 0 < low < high (finite), got {low}, {high}")
        self.low, self.high = low, high

    def sample(self, rng):
        return float(10 ** rng.uniform(math.log10(self.low), math.log10(self.high)))

    def __repr__(self) -> str:
        return f"LogUniform({self.low:g}, {self.high:g})"


class IntUniform(Distribution):
    """A whole number in [low, high], each equally likely."""

    def __init__(self, low: int, high: int):
        if int(low) != low or int(high) != high or low > high:
            raise SearchError(f"IntUniform needs integers low <= high, got {low}, {high}")
        self.low, self.high = int(low), int(high)

    def sample(self, rng):
        return int(rng.integers(self.low, self.high + 1))

    def __repr__(self) -> str:
        return f"IntUniform({self.low}, {self.high})"


class Choice(Distribution):
    """One of ``options``, each equally likely (a plain list in a space means the same)."""

    def __init__(self, options):
        self.options = list(options)
        if not self.options:
            raise SearchError("Choice needs at least one option")

    def sample(self, rng):
        return self.options[int(rng.integers(len(self.options)))]

    def __repr__(self) -> str:
        return f"Choice({self.options!r})"


def log_uniform(low_exponent: float, high_exponent: float) -> LogUniform:
    """``10 ** uniform(low_exponent, high_exponent)``: ``log_uniform(-6, 1)`` draws learning rates
    from 1e-6 to 10, each decade equally likely."""
    return LogUniform(10.0 ** low_exponent, 10.0 ** high_exponent)


def _as_distribution(key, spec):
    if isinstance(spec, Distribution):
        return spec
    if isinstance(spec, (list, tuple)):
        return Choice(spec)
    raise SearchError(
        f"search space entry {key!r} must be a distribution (LogUniform, Uniform, IntUniform, Choice) or a list "
        f"of values, got {type(spec).__name__} {spec!r}"
    )


class SearchResults:
    """Trials of a search, best first. ``rows`` are dicts: the hyper-parameters, ``score``,
    ``best_epoch``, ``seconds`` and the trial number ``trial``; ``histories`` maps the trial
    number to its History."""

    def __init__(self, rows, score_key: str, mode: str, keys, histories):
        self.score_key = score_key
        self.mode = mode
        self.keys = list(keys)
        self.histories = histories

        def order(row):
            s = row["score"]
            if s is None or (isinstance(s, float) and math.isnan(s)):
                return (1, 0.0, row["trial"])
            return (0, -s if mode == "max" else s, row["trial"])

        self.rows = sorted(rows, key=order)

    @property
    def best(self) -> dict:
        if not self.rows:
            raise SearchError("the search ran no trials")
        return dict(self.rows[0])

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def table(self, limit: int | None = None) -> str:
        """A text table, best first: rank, hyper-parameters, score, best epoch, seconds."""
        rows = self.rows if limit is None else self.rows[:limit]
        header = ["rank"] + self.keys + [self.score_key, "best epoch", "seconds"]
        lines = []
        for rank, row in enumerate(rows, 1):
            cells = [str(rank)] + [_fmt(row[k]) for k in self.keys]
            cells += [_fmt(row["score"]), str(row["best_epoch"]), f"{row['seconds']:.1f}"]
            lines.append(cells)
        widths = [max(len(h), *(len(c[i]) for c in lines)) if lines else len(h) for i, h in enumerate(header)]
        fmt = "  ".join(f"{{:>{w}}}" for w in widths)
        out = [fmt.format(*header), "  ".join("-" * w for w in widths)]
        out += [fmt.format(*c) for c in lines]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        if not self.rows:
            return "<SearchResults: no trials>"
        return f"<SearchResults: {len(self.rows)} trials, best {self.score_key}={_fmt(self.rows[0]['score'])}>"


def _fmt(value) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4):
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


def _split_keys(build, keys):
    from .training.trainer import FIT_ARGUMENTS

    try:
        signature = inspect.signature(build)
    except (TypeError, ValueError):
        signature = None
    build_params = set()
    accepts_kwargs = False
    if signature is not None:
        for p in signature.parameters.values():
            if p.kind == p.VAR_KEYWORD:
                accepts_kwargs = True
            elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                build_params.add(p.name)
    to_build, to_fit = [], []
    for key in keys:
        if key in build_params:
            to_build.append(key)
        elif key in FIT_ARGUMENTS:
            to_fit.append(key)
        elif accepts_kwargs:
            to_build.append(key)
        else:
            to_fit.append(key)  # optimizer hyper-parameters (momentum, beta1, ...) go through fit's **options
    return to_build, to_fit


def _train_trial(build, X, y, build_args, fit_args, seed, fit_kwargs):
    """One trial: a fresh model from ``build``, trained by ``fit``; (History, seconds)."""
    from .training.trainer import fit

    model = build(**build_args)
    start = time.perf_counter()
    history = fit(model, X, y, seed=seed, **fit_kwargs, **fit_args)
    return history, time.perf_counter() - start


def _train_trial_remote(build, X, y, build_args, fit_args, seed, fit_kwargs):
    """A trial on an executor's worker: what comes back is plain data (the History's
    records, not its trainer and graph)."""
    history, seconds = _train_trial(build, X, y, build_args, fit_args, seed, fit_kwargs)
    return history.as_dict(), dict(history.params), seconds


def _history_from_remote(result):
    from .training.history import History

    records, params, seconds = result
    history = History(params)
    for k, epoch in enumerate(records["epochs"]):
        history.append(epoch, {key: column[k] for key, column in records["history"].items()})
    history.stopped_epoch, history.best_epoch = records["stopped_epoch"], records["best_epoch"]
    return history, seconds


def _noting_trial(outcomes, configurations, keys):
    """The outcomes, with an exception of trial k noted with its number and configuration."""
    iterator = iter(outcomes)
    for trial, config in enumerate(configurations, 1):
        try:
            yield next(iterator)
        except StopIteration:
            return
        except Exception as exc:
            if hasattr(exc, "add_note"):
                shown = ", ".join(f"{k}={config[k]!r}" for k in keys)
                exc.add_note(f"(in search trial {trial}: {shown})")
            raise


def _run_trials(build, X, y, configurations, keys, seed, score, fit_kwargs, verbose, executor=None):
    from .training.history import resolve_mode

    if not callable(build):
        raise SearchError(f"build must be a function returning a fresh ge.nn.Module, got {type(build).__name__}")
    if "validation_split" not in fit_kwargs and "validation_data" not in fit_kwargs \
            and not any("validation" in k for k in keys):
        raise SearchError("a search scores trials on validation data: pass validation_split=0.2 (or validation_data=)")
    fit_kwargs = dict(fit_kwargs)
    fit_kwargs.setdefault("progress", False)
    to_build, to_fit = _split_keys(build, keys)
    overlap = sorted(set(to_fit) & set(fit_kwargs))
    if overlap:
        raise SearchError(f"{', '.join(overlap)} is both searched and fixed; remove it from the fixed fit arguments")
    rows, histories = [], {}
    score_key = score
    mode = None
    jobs = [({k: config[k] for k in to_build}, {k: config[k] for k in to_fit}) for config in configurations]
    if executor is None:
        outcomes = (_train_trial(build, X, y, b, f, seed, fit_kwargs) for b, f in jobs)
    else:
        if not hasattr(executor, "submit"):
            raise SearchError(f"executor must be a concurrent.futures.Executor (ProcessPoolExecutor, a Dask "
                              f"client's get_executor(), MPIPoolExecutor), got {type(executor).__name__}")
        futures = [executor.submit(_train_trial_remote, build, X, y, b, f, seed, fit_kwargs) for b, f in jobs]
        outcomes = (_history_from_remote(future.result()) for future in futures)
    for trial, (config, outcome) in enumerate(zip(configurations, _noting_trial(outcomes, configurations, keys)), 1):
        history, seconds = outcome
        if score_key is None:
            score_key = "val_accuracy" if "val_accuracy" in history else "val_loss"
        if mode is None:
            mode = resolve_mode(score_key)
        if score_key not in history:
            raise SearchError(f"trials record {', '.join(history.keys())}, not the score {score_key!r}."
                              + did_you_mean(score_key, list(history.keys())))
        values = history[score_key]
        finite = [(e, v) for e, v in zip(history.epochs, values) if not math.isnan(v)]
        if finite:
            best_epoch, best_value = (min if mode == "min" else max)(finite, key=lambda ev: ev[1])
        else:
            best_epoch, best_value = None, float("nan")
        row = dict(config)
        row.update(score=float(best_value), best_epoch=best_epoch, seconds=seconds, trial=trial)
        rows.append(row)
        histories[trial] = history
        if verbose:
            shown = ", ".join(f"{k}={_fmt(config[k])}" for k in keys)
            print(f"trial {trial}: {shown} -> {score_key} {_fmt(float(best_value))}", flush=True)
    return SearchResults(rows, score_key or "score", mode or "max", keys, histories)


def random_search(build, X, y, space: dict, n_trials: int = 10, seed=0, score: str | None = None,
                  verbose: bool = False, executor=None, **fit_kwargs) -> SearchResults:
    """``n_trials`` configurations drawn from ``space`` (seeded by ``seed``), each trained with
    ``fit(build(...), X, y, seed=seed, **fit_kwargs, **drawn)``; results sorted by score.
    ``executor``: a ``concurrent.futures.Executor`` to run the trials on (see the module docs)."""
    if not isinstance(space, dict) or not space:
        raise SearchError("space must be a non-empty dict {argument: distribution or list}")
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise SearchError(f"n_trials must be an int >= 1, got {n_trials!r}")
    distributions = {k: _as_distribution(k, v) for k, v in space.items()}
    rng = np.random.default_rng(seed)
    configurations = [{k: d.sample(rng) for k, d in distributions.items()} for _ in range(n_trials)]
    return _run_trials(build, X, y, configurations, list(space), seed, score, fit_kwargs, verbose, executor)


def grid_search(build, X, y, grid: dict, seed=0, score: str | None = None, verbose: bool = False,
                executor=None, **fit_kwargs) -> SearchResults:
    """Every combination of the lists in ``grid`` (in order), trained like :func:`random_search`
    (on ``executor`` when given)."""
    if not isinstance(grid, dict) or not grid:
        raise SearchError("grid must be a non-empty dict {argument: list of values}")
    for key, values in grid.items():
        if isinstance(values, Distribution) and not isinstance(values, Choice):
            raise SearchError(f"grid entry {key!r} is a {type(values).__name__}; a grid takes lists of values "
                              "(use random_search for distributions)")
        if not isinstance(values, (list, tuple, Choice)) or not len(getattr(values, "options", values)):
            raise SearchError(f"grid entry {key!r} must be a non-empty list of values, got {values!r}")
    keys = list(grid)
    lists = [list(getattr(grid[k], "options", grid[k])) for k in keys]
    configurations = [dict(zip(keys, combo)) for combo in itertools.product(*lists)]
    return _run_trials(build, X, y, configurations, keys, seed, score, fit_kwargs, verbose, executor)


def _suggest(trial, key, distribution):
    """One Optuna suggestion for a search-space entry."""
    if isinstance(distribution, LogUniform):
        return trial.suggest_float(key, distribution.low, distribution.high, log=True)
    if isinstance(distribution, Uniform):
        return trial.suggest_float(key, distribution.low, distribution.high)
    if isinstance(distribution, IntUniform):
        return trial.suggest_int(key, distribution.low, distribution.high)
    if isinstance(distribution, Choice):
        return trial.suggest_categorical(key, distribution.options)
    raise SearchError(f"search space entry {key!r}: Optuna cannot sample a {type(distribution).__name__}; use "
                      "LogUniform, Uniform, IntUniform, Choice or a list")


def optuna_objective(build, X, y, space: dict, *, score: str = "val_accuracy", seed=0, prune: bool = False,
                     **fit_kwargs):
    """A graphengine training as an Optuna objective: ``objective(trial)`` samples ``space``
    (the distributions of :func:`random_search`, as ``trial.suggest_float(..., log=True)``,
    ``suggest_float``, ``suggest_int``, ``suggest_categorical``), trains
    ``fit(build(...), X, y, seed=seed, **fit_kwargs, **sampled)`` and returns the best
    ``score`` over the epochs. ``objective.direction`` ("maximize" for accuracies,
    "minimize" for losses) is the study's direction. ``prune=True`` reports ``score`` after
    every epoch (``trial.report``) and stops a trial the study's pruner gives up on
    (``optuna.TrialPruned``)::

        objective = ge.search.optuna_objective(build, X, y, {"lr": ge.search.LogUniform(1e-4, 1)},
                                               validation_split=0.2, epochs=5)
        study = optuna.create_study(direction=objective.direction)
        study.optimize(objective, n_trials=20)      # study.best_params, study.best_value

    Optuna is not a dependency of graphengine: install it to use this (``pip install optuna``).
    """
    from .training.history import resolve_mode

    if not isinstance(space, dict) or not space:
        raise SearchError("space must be a non-empty dict {argument: distribution or list}")
    if not callable(build):
        raise SearchError(f"build must be a function returning a fresh ge.nn.Module, got {type(build).__name__}")
    if "validation_split" not in fit_kwargs and "validation_data" not in fit_kwargs:
        raise SearchError("the objective scores trials on validation data: pass validation_split=0.2 "
                          "(or validation_data=)")
    distributions = {k: _as_distribution(k, v) for k, v in space.items()}
    for key, distribution in distributions.items():
        if not isinstance(distribution, (LogUniform, Uniform, IntUniform, Choice)):
            _suggest(None, key, distribution)  # refused now, not at the first trial
    fit_kwargs = dict(fit_kwargs)
    fit_kwargs.setdefault("progress", False)
    to_build, to_fit = _split_keys(build, list(space))
    overlap = sorted(set(to_fit) & set(fit_kwargs))
    if overlap:
        raise SearchError(f"{', '.join(overlap)} is both searched and fixed; remove it from the fixed fit arguments")
    mode = resolve_mode(score)

    def objective(trial):
        config = {k: _suggest(trial, k, d) for k, d in distributions.items()}
        kwargs = dict(fit_kwargs)
        if prune:
            kwargs["callbacks"] = list(kwargs.get("callbacks", ())) + [_pruning_callback(trial, score)]
        history, _ = _train_trial(build, X, y, {k: config[k] for k in to_build}, {k: config[k] for k in to_fit},
                                  seed, kwargs)
        if score not in history:
            raise SearchError(f"trials record {', '.join(history.keys())}, not the score {score!r}."
                              + did_you_mean(score, list(history.keys())))
        finite = [(e, v) for e, v in zip(history.epochs, history[score]) if not math.isnan(v)]
        if not finite:
            return float("nan")
        best_epoch, best_value = (min if mode == "min" else max)(finite, key=lambda ev: ev[1])
        trial.set_user_attr("best_epoch", int(best_epoch))
        return float(best_value)

    objective.direction = "minimize" if mode == "min" else "maximize"
    objective.score = score
    return objective


def _pruning_callback(trial, score):
    from .training.callbacks import Callback

    class _OptunaPruning(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if score in (logs or {}):
                trial.report(float(logs[score]), step=int(epoch))
                if trial.should_prune():
                    import optuna

                    raise optuna.TrialPruned(f"pruned after epoch {epoch}: {score} {logs[score]:.4g}")

    return _OptunaPruning()


__all__ = ["random_search", "grid_search", "optuna_objective", "SearchResults", "Uniform", "LogUniform", "IntUniform",
           "Choice", "log_uniform", "Distribution", "SearchError"]
