"""The training loop: ``fit`` and the :class:`Trainer` behind it.

::

    model = ge.nn.Sequential(ge.nn.Dense(784, 30), "sigmoid", ge.nn.Dense(30, 10))
    history = ge.training.fit(model, X_train, y_train, loss="cross_entropy",
                              optimizer="sgd", lr=0.5, epochs=30, batch_size=10,
                              validation_split=0.1, seed=0)
    history.plot("mnist.png")
    history.trainer.evaluate(X_test, y_test)        # {'loss': ..., 'accuracy': ...}

Every training step is one call of a step compiled once with
:func:`graphengine.training_step.compile_step`, so the optimizer update runs inside it::

    step = compile_step(loss, optimizer, fetch=[loss, output, *state nodes],
                        before_update=[penalty gradients (L2, L1),       # ge.add_penalty_gradients
                                       clip by value (clip_value),       # ge.clip_grad_value
                                       clip by global norm (clip_norm)], # ge.clip_grad_norm
                        after_update=[decays, then constraints            # ge.apply_after_step
                                      (weight_decay, max_norm),
                                      BatchNorm running statistics])
    step({x: batch, y: targets})    # forward, backward, hooks in this order, update

The optimizer updates the params in place, inside the compiled step. Evaluation and prediction run ``g.forward(feeds, fetch=[...])``.
Optimizers and regularizers given by name are found through the plugin manager
(``ge.optimizers.create``, ``ge.regularizers.create``).

The graph. A :class:`~graphengine.nn.Module` is built into a graph on the first
``fit``: an input ``x`` shaped like one example (batch axis None), the training path
``model(x)``, for models with dropout or batch norm an evaluation path
``model(x, training=False)`` under the scope ``eval`` (sharing the params), an input
``y`` and the mean loss under the scope ``loss``. A graph built by hand is trained by
passing its output node instead of a module (``Trainer(output_node, loss=...)``; the
input is found upstream, or given with ``x=``).

Reproducibility: ``seed`` seeds the initialization of a module that is not built yet
(when the module has no seed of its own), the validation split, the shuffling and the
augmentation. Dropout and Gaussian-noise layers of a seeded model draw the masks of step
``k`` (the optimizer's update count) from their node's seed and ``k``
(:mod:`graphengine.training.noise_step`), so two runs of ``fit(..., seed=0)`` end
bit-identical.

Training again: ``fit`` on a model that ``fit`` trained before continues with its trainer
(``model.trainer``): the same graph paths, optimizer and state, and, without ``seed=``,
the data generator where it stopped. Arguments that change the loss, metrics,
regularization or clipping make a new trainer on the same forward path (the model's input
node and output): only the new loss parts are added to the graph.
Beside this module: :mod:`.arguments` (the keywords ``fit`` takes and the check that
refuses unknown ones), :mod:`.targets` (targets as the ``y`` input takes them, and the
errors about them), :mod:`.fit_again` (continuing with ``model.trainer`` or not),
:mod:`.graph_names` (free names for the nodes added), :mod:`.errors` (``TrainingError``).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time

import networkx as nx
import numpy as np

from ..clipping import clip_grad_norm, clip_grad_value
from ..node import INPUT, Node
from ..optimizer import Optimizer
from ..regularization import add_penalty_gradients, apply_after_step
from ..training_step import compile_step
from ..distributed.training import DataParallel
from . import targets
from .arguments import FIT_ARGUMENTS, UnknownArgumentError, check_keywords, is_dtype, make_regularizers, own_keywords
from .callbacks import CallbackList, ModelCheckpoint
from .errors import TrainingError
from .fit_again import continuing_changes, loaded_training, set_hyper
from .graph_names import free_name, free_scope, unique_nodes
from .history import History
from .metrics import resolve_metric, to_numpy
from .noise_step import noise_step
from .progress import make_progress
from .targets import CLASS_LOSSES, ELEMENT_LOSSES


DEFAULT_BATCH_SIZE = 32  # examples per step (per rank with comm=), where neither batch size is given


def _as_float(X, dtype, what):
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TrainingError(f"{what} must be a numeric array, got dtype {X.dtype}")
    return X.astype(dtype, copy=False) if X.dtype != np.dtype(dtype) else X


class Trainer:
    """Everything needed to train one model: its graph, loss, optimizer and metrics.

    ``model``: a :class:`~graphengine.nn.Module` (built into a graph on the first fit) or
    the output node of a graph built by hand. ``loss``: an op name (``cross_entropy`` on
    logits with integer or one-hot targets, ``nll``, ``hinge``, ``binary_cross_entropy``
    on probabilities, ``binary_cross_entropy_with_logits``, ``mse``, ``mae``) or a
    function ``loss(output_node, target_node) -> node`` (averaged if not scalar).
    ``optimizer``: a name for ``ge.optimizers.create`` (``lr`` and ``**optimizer_options``
    are its hyper-parameters, e.g. ``momentum=0.9``), or a function ``params -> optimizer``.
    ``regularizers``: ``ge.Regularizer`` instances, names, or ``{name: strength}``;
    ``l2=`` / ``l1=`` are shorthands. They act on ``regularize`` params: "weights"
    (params of two or more axes: not biases, not batch-norm scales), "all", or a list.
    ``clip_value`` then ``clip_norm`` clip the gradients (after the penalties are added)
    before the update (``ge.clip_grad_value``, ``ge.clip_grad_norm``). ``lr_schedule``: a
    function ``optimizer -> schedule`` (e.g. ``lambda opt: CosineLR(opt, total_steps=30)``)
    whose ``step()`` runs after every epoch. ``metrics`` default to ``["accuracy"]`` for
    classification losses.
    """

    def __init__(self, model, *, loss="cross_entropy", optimizer="sgd", lr=None, metrics=None, regularizers=None,
                 l2=None, l1=None, regularize="weights", clip_norm=None, clip_value=None, lr_schedule=None, x=None,
                 eval_output=None, dtype="float32", seed=None, **optimizer_options):
        from ..nn.module import Module

        check_keywords("Trainer()", own_keywords(Trainer.__init__), optimizer, optimizer_options)
        if not isinstance(model, (Module, Node)):
            raise TrainingError(
                f"Trainer takes a ge.nn.Module or the output node of a graph, got {type(model).__name__}"
            )
        if isinstance(loss, str):
            import graphengine as ge

            getattr(ge.ops, loss)  # unknown names raise here, with suggestions
        elif not callable(loss):
            raise TrainingError(f"loss must be an op name or a function (output, target) -> node, got {type(loss).__name__}")
        self.model = model if isinstance(model, Module) else None
        self._output_arg = model if isinstance(model, Node) else None
        # the arguments fit compares when the model is trained again (see fit)
        self._settings = {"loss": loss, "regularizers": regularizers, "l2": l2, "l1": l1, "regularize": regularize,
                          "clip_norm": clip_norm, "clip_value": clip_value, "lr_schedule": lr_schedule, "x": x,
                          "eval_output": eval_output, "dtype": np.dtype(dtype).name if is_dtype(dtype) else dtype,
                          "metrics": metrics}
        self._x_arg = x
        self._eval_output_arg = eval_output
        self.loss_spec = loss
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "loss")
        self.optimizer_spec = optimizer
        self.lr = lr
        self.optimizer_options = optimizer_options
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise TrainingError(f"dtype must be a floating dtype, got {self.dtype}")
        self.seed = seed
        threshold = 0.0 if loss == "binary_cross_entropy_with_logits" else 0.5
        if metrics is None:
            metrics = ["accuracy"] if loss in CLASS_LOSSES or loss in ("binary_cross_entropy",
                                                                        "binary_cross_entropy_with_logits") else []
        self.metrics = [resolve_metric(m, threshold) for m in metrics]
        names = [n for n, _ in self.metrics]
        if len(set(names)) != len(names) or "loss" in names:
            raise TrainingError(f"metric names must be unique and not 'loss': {names}")
        self.regularizers = make_regularizers(regularizers, l2, l1)
        self.regularize = regularize
        # bad thresholds are refused now (ClipError), not at the first step
        if clip_norm is not None:
            clip_grad_norm({}, clip_norm)
        if clip_value is not None:
            clip_grad_value({}, clip_value)
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.lr_schedule_factory = lr_schedule
        self.graph = None
        self.optimizer = None
        self.schedule = None
        self.history = None
        self.stop_training = False
        self.built = False
        self._position = (0, 0)  # (epoch, batch) of the step running, for error messages
        # what a training checkpoint records (see checkpoint.save_checkpoint): epochs done,
        # the data generator now and at the start of the fit, whether the schedule's
        # end-of-epoch step is still to come, and the fit's data layout
        self.epoch = 0
        self._rng = None
        self._rng_start = None
        self._schedule_pending = False
        self._in_epoch = False
        self._fit_info = None
        self._steps_done = 0  # training steps run, for optimizers without a ``steps`` count
        self._step_loss = None  # the loss the last step's check read on the host (float), None before
        self._loss_source = None  # fit(comm=): (callable giving the loss averaged over the ranks, description)
        self._continue_data = False  # fit: go on with the data generator of the model's earlier trainer
        if self._output_arg is not None:
            self._build_from_output()

    # -- building ---------------------------------------------------------------------
    def build(self, X, Y) -> "Trainer":
        """Build the graph (for a module) and the loss for data shaped like ``X`` and ``Y``.

        All or nothing: if anything fails (data of the wrong width, bad targets), the graph,
        the model and this trainer are left as they were (nodes added are removed, a model
        that was not built is not built)."""
        self._ensure_built(X, Y)
        return self

    def _build_module(self, X, Y, then=None):
        X = np.asarray(X)
        Y = np.asarray(Y)
        model = self.model
        previous = trainer_of(model)
        if previous is not None:  # the model's forward path, built by an earlier fit: not called again
            self._check_input_fits(X, previous.x, f"model {model.path or model.default_name!r}")
            if np.dtype(previous.x.dtype) != self.dtype:
                raise TrainingError(
                    f"model {model.path or model.default_name!r} was trained with dtype={previous.x.dtype} (its "
                    f"input {previous.x.name!r}); fit it with that dtype, not {self.dtype}, or build a new model")
            with self._all_or_nothing(previous.graph):
                self._finish_build(previous.graph, previous.x, previous.output, previous.eval_output, Y,
                                   reuse_y=previous.y)
                if then is not None:
                    then()
            return
        graph = model.graph if model.built else model.new_graph()
        with self._all_or_nothing(graph):
            if not model.built and model.seed is None and self.seed is not None:
                model.seed = self.seed
            x = graph.input(free_name(graph, "x"), shape=(None,) + tuple(X.shape[1:]), dtype=self.dtype)
            output = model(x, training=True)
            if model.is_mode_dependent:
                with graph.scope(free_scope(graph, "eval")):
                    eval_output = model(x, training=False)
            else:
                eval_output = output
            self._finish_build(graph, x, output, eval_output, Y)
            if then is not None:
                then()

    @contextlib.contextmanager
    def _all_or_nothing(self, graph):
        """Everything inside is kept, or on an exception undone: the graph's nodes and name
        counters (a graph transaction), the state of every module of the model (ge.nn's
        build records) and this trainer's attributes."""
        from ..nn.module import _Build

        build = _Build(graph)
        if self.model is not None:
            for module in self.model.modules():
                build.record(module)
        attrs = dict(self.__dict__)
        try:
            yield
        except BaseException:
            build.undo()
            self.__dict__.clear()
            self.__dict__.update(attrs)
            raise
        finally:
            build.close()

    def _build_from_output(self):
        output = self._output_arg
        graph = output.graph
        x = self._x_arg
        if x is None:
            upstream = nx.ancestors(graph.nx, output.id)
            inputs = [n for n in graph.inputs() if n.id in upstream]
            if len(inputs) != 1:
                raise TrainingError(
                    f"cannot tell which input of graph {graph.name!r} the data goes to: {output.name!r} depends on "
                    f"{', '.join(n.name for n in inputs) or 'no input'}; pass x=<input node>"
                )
            x = inputs[0]
        x = graph.node(x)
        if x.kind != INPUT:
            raise TrainingError(f"x must be an input node, got {x.kind} node {x.name!r}")
        eval_output = graph.node(self._eval_output_arg) if self._eval_output_arg is not None else output
        self._pending = (graph, x, output, eval_output)

    def _check_input_fits(self, X, x, what):
        """Refuse examples ``X`` whose shape is not that of the input node ``x``'s examples."""
        want = tuple(x.shape[1:]) if x.shape is not None else None
        if want is not None and (len(want) != X.ndim - 1
                                 or any(w is not None and w != d for w, d in zip(want, X.shape[1:]))):
            raise TrainingError(
                f"X holds examples of shape {tuple(X.shape[1:])} (X has shape {X.shape}), but {what} was built for "
                f"inputs of shape {x.shape} (input node {x.name!r}); pass examples of shape {want}, or build a "
                "new model for the new width")

    def _finish_build(self, graph, x, output, eval_output, Y, reuse_y=None):
        import graphengine as ge

        self.graph, self.x, self.output, self.eval_output = graph, x, output, eval_output
        if isinstance(self.loss_spec, str) and self.loss_spec in ("cross_entropy", "nll") and output.op == "softmax":
            raise TrainingError(
                f"the model ends with a softmax ({output.name!r}) but loss={self.loss_spec!r} applies its own: "
                "remove the final Softmax (cross_entropy takes logits), or end with LogSoftmax and use loss='nll'"
            )
        y_shape, y_dtype = self._target_spec(Y)
        if reuse_y is not None and tuple(reuse_y.shape or ()) == tuple(y_shape or ()) and reuse_y.dtype == y_dtype:
            y = reuse_y  # the same targets as the earlier trainer's: one input y in the graph
        else:
            y = graph.input(free_name(graph, "y"), shape=y_shape, dtype=y_dtype)
        self.y = y
        with graph.scope(free_scope(graph, "loss")):
            self.loss_node = self._loss(output, y)
        if eval_output is output:
            self.eval_loss_node = self.loss_node
        else:
            with graph.scope(free_scope(graph, "eval_loss")):
                self.eval_loss_node = self._loss(eval_output, y)
        needed = nx.ancestors(graph.nx, self.loss_node.id)
        self.params = [p for p in graph.params() if p.id in needed]
        if not self.params:
            raise TrainingError(f"the loss does not depend on any param of graph {graph.name!r}: nothing to train")
        if self.regularize == "weights":
            self.regularized_params = [p for p in self.params if len(p.shape) >= 2]
        elif self.regularize == "all":
            self.regularized_params = list(self.params)
        else:
            self.regularized_params = [graph.node(p) for p in self.regularize]
        from ..nn.module import graph_state_updates

        # state updates (BatchNorm running statistics) of the layers on the training path
        self.updates = [u for u in graph_state_updates(graph) if all(n.id in needed for n in u.nodes)]
        update_nodes = [n for u in self.updates for n in u.nodes]
        self._train_fetch = unique_nodes([self.loss_node] + ([output] if self.metrics else []) + update_nodes)
        self._eval_fetch = unique_nodes([self.eval_loss_node, eval_output])
        self.optimizer = self._make_optimizer(ge)
        self._compiled_step = self._compile_step()
        if self.lr_schedule_factory is not None:
            self.schedule = self.lr_schedule_factory(self.optimizer)
            if not hasattr(self.schedule, "step"):
                raise TrainingError("lr_schedule must return an object with step() (e.g. a graphengine.plugins."
                                    "optimizers schedule)")
        self.built = True

    def _make_optimizer(self, ge):
        spec = self.optimizer_spec
        hyper = dict(self.optimizer_options)
        if self.lr is not None:
            hyper["lr"] = self.lr
        if isinstance(spec, str):
            return ge.optimizers.create(spec, self.params, **hyper)
        if isinstance(spec, Optimizer):
            missing = [p.name for p in self.params if p not in spec.params]
            if missing:
                raise TrainingError(f"the optimizer given does not cover params {', '.join(missing)}")
            return spec
        if isinstance(spec, type) and issubclass(spec, Optimizer):
            return spec(self.params, **hyper)
        if callable(spec):
            return spec(self.params)
        raise TrainingError(f"optimizer must be a name ({', '.join(ge.optimizers.names())}), an Optimizer or a "
                            f"function params -> optimizer; got {type(spec).__name__}")

    def _target_spec(self, Y):
        return targets.target_spec(self, Y)

    def prepare_targets(self, Y) -> np.ndarray:
        """Targets as the ``y`` input takes them (integer labels for class losses; for
        element-wise losses, reshaped to the output, and one-hot when the output has
        several units and the labels are integers)."""
        return targets.prepare_targets(self, Y)

    def _loss(self, output, y):
        import graphengine as ge

        if isinstance(self.loss_spec, str):
            node = getattr(ge.ops, self.loss_spec)(output, y, reduction="mean")
        else:
            node = self.loss_spec(output, y)
            if not isinstance(node, Node):
                raise TrainingError(f"the loss function must return a graph node, got {type(node).__name__}")
            if node.shape is not None and node.shape != ():
                node = ge.ops.mean(node)
        return node

    # -- one step ---------------------------------------------------------------------
    def _compile_step(self):
        """The compiled training step: forward, backward, the ``before_update`` hooks
        (penalty gradients, then clip_value, then clip_norm), the optimizer update, and the
        ``after_update`` hooks (decays and constraints, then BatchNorm state updates)."""
        before, after = [self._check_loss], []
        if any(r.kind == "penalty" for r in self.regularizers):
            before.append(functools.partial(add_penalty_gradients, self.regularizers, self.regularized_params))
        if self.clip_value is not None:
            before.append(functools.partial(clip_grad_value, clip_value=self.clip_value))
        if self.clip_norm is not None:
            before.append(functools.partial(clip_grad_norm, max_norm=self.clip_norm))
        if any(r.kind != "penalty" for r in self.regularizers):
            after.append(self._apply_after_step)
        if self.updates:
            after.append(self._apply_state_updates)
        return compile_step(self.loss_node, self.optimizer, fetch=self._train_fetch, before_update=before,
                            after_update=after, keep_grads=False)

    def _check_loss(self, grads):
        """The first ``before_update`` hook: a NaN or Inf loss stops training before the
        update, so the params keep the last finite values."""
        source = self._loss_source  # with comm=: (the loss averaged over the ranks, which ranks)
        loss = float(to_numpy(source[0]() if source else self._compiled_step.value(self.loss_node)))
        self._step_loss = loss  # the training loop logs this read: one host read of the loss per step
        if not math.isfinite(loss):
            epoch, batch = self._position
            where = f" ({source[1]}: a rank's loss was not finite; every rank stops here)" if source else ""
            raise TrainingError(
                f"the training loss{where} became {loss} at epoch {epoch}, batch {batch}; training stopped before this "
                "step's update, so the params keep their last finite values (those after the previous step). "
                f"Lower the learning rate (now {self.optimizer.hyper.get('lr')}), clip gradients (clip_norm=1.0), "
                "or look for the first bad node with graph.forward(feeds, check_finite=True)"
            )
        return grads

    def _apply_after_step(self):
        apply_after_step(self.regularizers, self.regularized_params, self.optimizer.hyper.get("lr", 0.0))

    def _apply_state_updates(self):
        step = self._compiled_step
        for update in self.updates:
            update.apply(*(step.value(n) for n in update.nodes))

    def _train_step(self, feeds):
        """One training step on ``feeds``; returns the compiled step (``.value(node)`` reads
        the loss and the other fetched nodes of this step, until the next one). Seeded
        random ops draw the masks of step ``optimizer.steps`` (see :mod:`.noise_step`)."""
        self._step_loss = None
        with noise_step(self.noise_step_number()):
            self._compiled_step(feeds)
        self._steps_done += 1
        return self._compiled_step

    def noise_step_number(self) -> int:
        """The step number the next training step's dropout and noise masks are drawn
        for: the optimizer's update count (``optimizer.steps``, restored with the optimizer
        state from a checkpoint), or for an optimizer without one the steps this trainer ran."""
        steps = getattr(self.optimizer, "steps", None)
        if isinstance(steps, (int, np.integer)) and not isinstance(steps, bool) and steps >= 0:
            return int(steps)
        return self._steps_done

    # -- fit ---------------------------------------------------------------------------
    def _ensure_built(self, X, Y, then=None):
        """Build if not built yet, then run ``then()``; when this call builds, a failure in
        either undoes the build (see :meth:`build`). ``model.trainer`` is set to this
        trainer once the build succeeded (for a ge.nn model)."""
        if self.built:
            if then is not None:
                then()
            return
        if self._output_arg is not None:
            graph, x, output, eval_output = self._pending
            previous = trainer_of(output)  # a trainer of other settings on this output: share its targets' input
            with self._all_or_nothing(graph):
                self._finish_build(graph, x, output, eval_output, np.asarray(Y),
                                   reuse_y=None if previous is None else previous.y)
                if then is not None:
                    then()
        else:
            self._build_module(X, Y, then)
        if self.model is not None:
            self.model.trainer = self
        else:  # a hand-built graph's output node: fit finds this trainer again (trainer_of)
            self.graph.extensions.setdefault(_TRAINERS, {})[self.output.id] = self

    def fit(self, X, y, *, epochs: int = 10, batch_size: int | None = None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, seed=None, callbacks=(), augment=None, progress=None,
            verbose: bool = False, eval_batch_size: int = 1024, initial_epoch: int = 0,
            resume_from=None, comm=None, global_batch_size=None) -> History:
        """Train for epochs ``initial_epoch + 1`` to ``epochs`` over ``(X, y)`` in shuffled mini-batches.

        ``validation_split`` holds out that fraction of the examples (a seeded random
        choice) to compute ``val_`` metrics after each epoch; or pass
        ``validation_data=(X_val, y_val)``. ``callbacks``: see
        :mod:`graphengine.training.callbacks`. ``augment(batch, rng) -> batch`` transforms
        each training batch. ``progress``: see :mod:`graphengine.training.progress` (None:
        one updating output in a notebook, a bar and a full line per epoch in a terminal,
        nothing otherwise; True; ``"lines"``; False). ``verbose``: print one line per epoch.
        ``resume_from``: a training checkpoint (:meth:`save_checkpoint`, ``ModelCheckpoint``)
        to continue from: weights, optimizer and schedule state, the data generator, the
        history so far, and ``initial_epoch`` (its epoch); the run then ends exactly as the
        uninterrupted one. ``comm``: a ``ge.distributed`` communicator for data-parallel
        training, each rank on its own equal shard of the data (``scatter_dataset``); then
        ``batch_size`` is per rank and the global batch is ``batch_size × comm.size`` (or give
        ``global_batch_size=``); see :mod:`graphengine.distributed.training`.
        ``seed``: seeds the data generator (split, shuffling, augmentation); left out on a
        trainer that trained before, the generator goes on where it stopped and the
        validation split stays the first fit's, so two fits of 2 epochs end as one of 4.
        Returns the :class:`History` (also ``trainer.history``).
        """
        from . import checkpoint as ckpt_io

        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise TrainingError(f"epochs must be an int >= 0, got {epochs!r}")
        if batch_size is not None and global_batch_size is not None:
            raise TrainingError(f"give batch_size (examples per rank and step) or global_batch_size (over all ranks), "
                                f"not both: got batch_size={batch_size!r} and global_batch_size={global_batch_size!r}")
        if batch_size is None:
            batch_size = DEFAULT_BATCH_SIZE
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise TrainingError(f"batch_size must be an int >= 1, got {batch_size!r}")
        parallel = DataParallel(comm, batch_size, global_batch_size)  # comm=None: one process
        batch_size = parallel.batch_size  # per rank: the global batch is batch_size × comm.size
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or initial_epoch < 0:
            raise TrainingError(f"initial_epoch must be an int >= 0 (epochs already done), got {initial_epoch!r}")
        X = _as_float(X, self.dtype, "X")
        Y = np.asarray(y)
        if Y.shape[:1] != X.shape[:1]:
            raise TrainingError(f"X has {X.shape[0]} examples but y has {Y.shape[0] if Y.ndim else 'no'} examples")
        if X.shape[0] == 0:
            raise TrainingError("no training examples")
        if self.built:
            self._check_input_fits(X, self.x, f"model {self.model.path or self.model.default_name!r}"
                                   if self.model is not None else f"the graph {self.graph.name!r} of this trainer")
        continuing = ((self.built or self._continue_data) and self._rng is not None and seed is None
                      and resume_from is None)
        if continuing:  # trained before: the data generator goes on where it stopped
            rng = self._rng
            split_rng = np.random.default_rng()
            split_rng.bit_generator.state = self._rng_start  # the validation split of the first fit
        else:
            seed = self.seed if seed is None else seed
            rng = split_rng = np.random.default_rng(seed)
        resume = None
        if resume_from is not None:
            resume = ckpt_io.read_checkpoint(resume_from)  # checked, not applied yet
            if initial_epoch not in (0, resume.epoch):
                raise TrainingError(f"initial_epoch={initial_epoch} but the checkpoint {resume.path!r} was written "
                                    f"after epoch {resume.epoch}; leave initial_epoch out when resuming")
            initial_epoch = resume.epoch
            rng.bit_generator.state = resume.rng_start  # the same validation split as the run it continues
        rng_start = split_rng.bit_generator.state
        if initial_epoch > epochs:
            raise TrainingError(f"initial_epoch={initial_epoch} is past epochs={epochs}: epochs is the number of the "
                                "last epoch to run (as in Keras), not a count of epochs to add")
        if validation_data is not None and validation_split:
            raise TrainingError("give either validation_split or validation_data, not both")
        if validation_split:
            if not 0.0 < float(validation_split) < 1.0:
                raise TrainingError(f"validation_split must lie strictly between 0 and 1, got {validation_split}")
            n_val = int(round(X.shape[0] * float(validation_split)))
            if n_val < 1 or n_val >= X.shape[0]:
                raise TrainingError(f"validation_split={validation_split} of {X.shape[0]} examples leaves an empty set")
            order = split_rng.permutation(X.shape[0])
            X_val, Y_val = X[order[-n_val:]], Y[order[-n_val:]]
            X, Y = X[order[:-n_val]], Y[order[:-n_val]]
        elif validation_data is not None:
            try:
                X_val, Y_val = validation_data
            except (TypeError, ValueError):
                raise TrainingError("validation_data must be a pair (X_val, y_val)") from None
            X_val = _as_float(X_val, self.dtype, "X_val")
            Y_val = np.asarray(Y_val)
        else:
            X_val = Y_val = None
        fit_info = {"samples": int(X.shape[0]), "validation_samples": 0 if X_val is None else int(X_val.shape[0]),
                    "batch_size": int(batch_size), "shuffle": bool(shuffle)}
        if resume is not None:
            resume.check_fit(fit_info)
        prepared = {}

        def prepare():  # inside the build's all-or-nothing: bad targets or a bad checkpoint undo the build
            prepared["Y"] = self.prepare_targets(Y)
            prepared["Y_val"] = None if X_val is None else self.prepare_targets(Y_val)
            if resume is not None:
                ckpt_io.apply_checkpoint(self, resume)

        self._ensure_built(X, Y, prepare)
        # ranks agree on shard sizes, start from the root's params, average gradients after the loss check
        parallel.start(self, self._compiled_step, self._check_loss, X.shape[0], 0 if X_val is None else X_val.shape[0])
        Yt, Y_val = prepared["Y"], prepared["Y_val"]
        if resume is not None:
            rng.bit_generator.state = resume.rng
            history = resume.history
        else:
            history = History({"epochs": int(epochs), "batch_size": int(batch_size), "samples": int(X.shape[0]),
                               "validation_samples": 0 if X_val is None else int(X_val.shape[0])})
        history.params["epochs"] = int(epochs)
        history.params.update(parallel.params())
        if parallel.active:
            history.params["rank"] = int(parallel.comm.rank)  # History.plot writes files on rank 0 only
        history.trainer = self
        history.model = self.model if self.model is not None else self._output_arg
        self.history = history
        self.stop_training = False
        self.epoch = int(initial_epoch)
        self._rng, self._rng_start, self._fit_info = rng, rng_start, fit_info
        self._schedule_pending = False
        cbs = CallbackList(parallel.callbacks(callbacks, (ModelCheckpoint,)), self)  # files: the root only
        n = X.shape[0]
        n_batches = (n + batch_size - 1) // batch_size
        device = self.graph._backend if self.graph.backend != "numpy" else None
        if device is not None and augment is None:  # on a GPU the training data are copied there once per fit
            X_feed, Y_feed = device.asarray(X), device.asarray(Yt)
        else:
            X_feed, Y_feed = X, Yt
        show = make_progress(progress if parallel.is_root else False, verbose and parallel.is_root,  # root only
                             epochs=int(epochs), initial_epoch=int(initial_epoch), n_batches=n_batches)
        metric_names = [name for name, _ in self.metrics]
        failed = True
        try:
            cbs.on_train_begin({})
            for epoch in range(int(initial_epoch) + 1, int(epochs) + 1):
                cbs.on_epoch_begin(epoch, {})
                show.epoch_begin(epoch)
                self._in_epoch = True
                start = time.perf_counter()
                order = rng.permutation(n) if shuffle else np.arange(n)
                order_feed = order if X_feed is X else device.asarray(order)  # batches gathered on the device
                total_loss = 0.0
                metric_sums = [0.0] * len(self.metrics)
                for b in range(n_batches):
                    rows = slice(b * batch_size, (b + 1) * batch_size)
                    idx = order[rows]
                    if augment is not None:
                        xb = _as_float(augment(X[idx], rng), self.dtype, "augmented batch")
                    else:
                        xb = X_feed[order_feed[rows]]
                    yb = Yt[idx] if Y_feed is Yt or self.metrics else None  # host targets: fed, or for metrics
                    self._position = (epoch, b + 1)
                    run = self._train_step({self.x: xb, self.y: yb if Y_feed is Yt else Y_feed[order_feed[rows]]})
                    loss_value = self._step_loss
                    if loss_value is None:  # a step without the loss check
                        loss_value = float(to_numpy(run.value(self.loss_node)))
                    count = len(idx)
                    total_loss += loss_value * count
                    if self.metrics:
                        pred = to_numpy(run.value(self.output))
                        for k, (_, fn) in enumerate(self.metrics):
                            metric_sums[k] += fn(pred, yb) * count
                    if cbs.wants_batches:
                        cbs.on_batch_end(b, {"loss": loss_value, "size": count})
                    show.batch_end(b, loss_value)
                (total_loss, *metric_sums), n_seen = parallel.reduce_sums([total_loss, *metric_sums], n)
                logs = {"loss": total_loss / n_seen}
                for name, s in zip(metric_names, metric_sums):
                    logs[name] = s / n_seen
                parallel.average_state(self)  # BatchNorm running statistics: the mean over ranks
                if X_val is not None:
                    val_logs = self._evaluate_prepared(X_val, Y_val, eval_batch_size)
                    for key, value in parallel.reduce_means(val_logs, X_val.shape[0]).items():
                        logs[f"val_{key}"] = value
                logs["lr"] = float(self.optimizer.hyper.get("lr", math.nan))
                logs["time"] = time.perf_counter() - start
                history.append(epoch, logs)
                self.epoch = epoch
                self._in_epoch = False
                self._schedule_pending = self.schedule is not None
                show.epoch_end(epoch, logs)
                cbs.on_epoch_end(epoch, logs)
                if self.schedule is not None:
                    self.schedule.step()
                    self._schedule_pending = False
                if self.stop_training:
                    break
            cbs.on_train_end({})
            failed = False
        finally:
            self._in_epoch = False
            parallel.finish(self, self._compiled_step)
            show.close(failed=failed)
        return history

    def save_checkpoint(self, path) -> str:
        """Write a training checkpoint (weights, optimizer and schedule state, the data
        generator's state, the epoch and the history; ``.npz`` arrays and JSON, no pickle);
        ``fit(..., resume_from=path)`` continues from it. See
        :func:`graphengine.training.checkpoint.save_checkpoint`."""
        from .checkpoint import save_checkpoint

        self._check_built("save_checkpoint")
        return save_checkpoint(self, path)

    def load_checkpoint(self, path) -> None:
        """Load a training checkpoint's weights, optimizer and schedule state (all or
        nothing). To continue training where it stopped, pass it to ``fit(resume_from=)``."""
        from . import checkpoint as ckpt_io

        self._check_built("load_checkpoint")
        ckpt_io.apply_checkpoint(self, ckpt_io.read_checkpoint(path))

    # -- evaluation -------------------------------------------------------------------
    def evaluate(self, X, y, batch_size: int = 1024) -> dict:
        """``{"loss": mean loss, <metric>: value}`` on ``(X, y)`` with the evaluation path."""
        self._check_built("evaluate")
        X = _as_float(X, self.dtype, "X")
        return self._evaluate_prepared(X, self.prepare_targets(y), batch_size)

    def _evaluate_prepared(self, X, Y, batch_size):
        n = X.shape[0]
        if n == 0:
            raise TrainingError("evaluate needs at least one example")
        total = 0.0
        sums = [0.0] * len(self.metrics)
        for start in range(0, n, batch_size):
            xb, yb = X[start:start + batch_size], Y[start:start + batch_size]
            run = self.graph.forward({self.x: xb, self.y: yb}, fetch=self._eval_fetch)
            count = xb.shape[0]
            total += float(to_numpy(run.value(self.eval_loss_node))) * count
            if self.metrics:
                pred = to_numpy(run.value(self.eval_output))
                for k, (_, fn) in enumerate(self.metrics):
                    sums[k] += fn(pred, yb) * count
        out = {"loss": total / n}
        for (name, _), s in zip(self.metrics, sums):
            out[name] = s / n
        return out

    def predict(self, X, batch_size: int = 1024) -> np.ndarray:
        """The evaluation path's output for ``X`` (logits for cross_entropy models), as NumPy."""
        self._check_built("predict")
        X = _as_float(X, self.dtype, "X")
        parts = []
        for start in range(0, X.shape[0], batch_size):
            run = self.graph.forward({self.x: X[start:start + batch_size]}, fetch=[self.eval_output])
            parts.append(to_numpy(run.value(self.eval_output)))
        return np.concatenate(parts) if parts else np.zeros((0,) + tuple(self.eval_output.shape[1:]), self.dtype)

    def predict_classes(self, X, batch_size: int = 1024) -> np.ndarray:
        from .metrics import predicted_classes

        threshold = 0.0 if self.loss_spec == "binary_cross_entropy_with_logits" else 0.5
        return predicted_classes(self.predict(X, batch_size), threshold)

    def _check_built(self, what):
        if not self.built:
            raise TrainingError(f"Trainer.{what}: the model is not built yet; call fit first (or build(X, y))")

    # -- checkpoints --------------------------------------------------------------------
    def save(self, path) -> None:
        """Save the whole graph (``graph.save``); ``ge.load(path)`` reads it back."""
        self._check_built("save")
        self.graph.save(path)

    def save_weights(self, path) -> str:
        from .checkpoint import save_weights

        self._check_built("save_weights")
        return save_weights(self.graph, path)

    def load_weights(self, path, strict: bool = True) -> None:
        from .checkpoint import load_weights

        self._check_built("load_weights")
        load_weights(self.graph, path, strict=strict)

    def __repr__(self) -> str:
        what = type(self.model).__name__ if self.model is not None else f"node {self._output_arg.name!r}"
        state = f"graph {self.graph.name!r}" if self.built else "not built"
        return f"<Trainer of {what}: loss={self.loss_name}, optimizer={getattr(self.optimizer, 'name', self.optimizer_spec)}, {state}>"


_TRAINERS = "graphengine.training"  # graph.extensions key: {output node id: the trainer fit built on it}


def trainer_of(model):
    """The built trainer whose forward path ``fit`` reuses for ``model``: for a ``ge.nn``
    model ``model.trainer`` (built on the model's graph by a call of the model), for an
    output node of a hand-built graph the trainer an earlier ``fit`` built on it; or None."""
    from ..nn.module import Module

    if isinstance(model, Node):
        trainer = model.graph.extensions.get(_TRAINERS, {}).get(model.id)
        if isinstance(trainer, Trainer) and trainer.built and trainer.output is model and trainer.graph is model.graph:
            return trainer
        return None
    if not isinstance(model, Module):
        return None
    trainer = model.__dict__.get("trainer")
    if not isinstance(trainer, Trainer) or not trainer.built or trainer.model is not model:
        return None
    if not model.built or trainer.graph is not model.graph:
        return None
    return trainer


def fit(model, X, y, *, loss=None, optimizer=None, lr=None, metrics=None, regularizers=None, l2=None,
        l1=None, regularize=None, clip_norm=None, clip_value=None, lr_schedule=None, dtype=None,
        epochs: int = 10, batch_size: int | None = None, validation_split: float = 0.0, validation_data=None,
        shuffle: bool = True, seed=None, callbacks=(), augment=None, progress=None, verbose: bool = False,
        eval_batch_size: int = 1024, initial_epoch: int = 0, resume_from=None, comm=None, global_batch_size=None,
        x=None, eval_output=None,
        **optimizer_options) -> History:
    """Train ``model`` (a ``ge.nn.Module`` or an output node) on ``(X, y)``; returns the History.

    Every argument is described on :class:`Trainer` (model, loss, optimizer, metrics,
    regularization, clipping, schedule) and :meth:`Trainer.fit` (epochs, batches,
    validation, callbacks, augmentation, progress, resuming). Extra keywords are
    hyper-parameters of the optimizer named (``optimizer="momentum", momentum=0.9``,
    ``beta1=...``); any other keyword is refused with a "did you mean" before anything is
    built. ``history.model`` is the model; ``history.trainer`` gives ``evaluate``,
    ``predict`` and checkpoints.

    Defaults: ``loss="cross_entropy"``, ``optimizer="sgd"``, ``regularize="weights"``,
    ``dtype="float32"``, no metrics beyond the loss's default, no regularization or
    clipping. Training again (a model that ``fit`` trained before, ``model.trainer``): an
    argument left out keeps the earlier fit's value. When every argument given equals
    the earlier one (the optimizer by its name or as ``model.optimizer``), ``fit``
    continues with the same trainer: no node is added, the optimizer keeps its state
    (``lr=`` and hyper-parameters given change its hyper-parameters, not its state) and,
    without ``seed=``, the data order goes on where it stopped, so two fits of 2 epochs
    end as one of 4. Otherwise a new trainer is made on the model's forward path (its
    input node and output), adding only the new loss parts; it goes on with the same
    optimizer and state unless another ``optimizer`` is named. A model read by
    ``ge.nn.load`` trains, by default, with the loss, metrics and optimizer (and its state)
    saved with it.
    """
    previous = trainer_of(model)
    if previous is None:
        saved = loaded_training(model)  # a model read by ge.nn.load: its saved loss, metrics and optimizer
        if loss is None and saved.get("loss") is not None:
            loss = saved["loss"]
            metrics = saved.get("metrics") if metrics is None else metrics
        loss = "cross_entropy" if loss is None else loss
        optimizer = saved.get("optimizer", "sgd") if optimizer is None else optimizer
        regularize = "weights" if regularize is None else regularize
        dtype = "float32" if dtype is None else dtype
        check_keywords("fit()", own_keywords(fit), optimizer, optimizer_options)
        if isinstance(optimizer, Optimizer) and lr is not None:  # an optimizer already made takes lr= as a change
            set_hyper(optimizer, lr, {}, own_keywords(fit))
            lr = None
        trainer = Trainer(model, loss=loss, optimizer=optimizer, lr=lr, metrics=metrics, regularizers=regularizers,
                          l2=l2, l1=l1, regularize=regularize, clip_norm=clip_norm, clip_value=clip_value,
                          lr_schedule=lr_schedule, x=x, eval_output=eval_output, dtype=dtype, seed=seed,
                          **optimizer_options)
    else:
        same_optimizer = (optimizer is None or optimizer is previous.optimizer
                          or (isinstance(optimizer, str) and optimizer == getattr(previous.optimizer, "name", None)))
        if same_optimizer:
            set_hyper(previous.optimizer, lr, optimizer_options, own_keywords(fit))  # unknown names refused before anything changes
        else:
            check_keywords("fit()", own_keywords(fit), optimizer, optimizer_options)
        given = {"loss": loss, "metrics": metrics, "regularizers": regularizers, "l2": l2, "l1": l1,
                 "regularize": regularize, "clip_norm": clip_norm, "clip_value": clip_value,
                 "lr_schedule": lr_schedule, "x": x, "eval_output": eval_output, "dtype": dtype}
        if same_optimizer and not continuing_changes(previous, given):
            trainer = previous
        else:
            settings = {k: (previous._settings[k] if v is None else v) for k, v in given.items() if k != "metrics"}
            settings["dtype"] = settings["dtype"] or "float32"
            if metrics is None and loss is None:
                metrics = previous._settings["metrics"]
            trainer = Trainer(model, optimizer=previous.optimizer if same_optimizer else optimizer,
                              lr=None if same_optimizer else lr, metrics=metrics,
                              seed=previous.seed if seed is None else seed,
                              **{k: v for k, v in settings.items() if k not in ("x", "eval_output")},
                              **({} if same_optimizer else optimizer_options))
            if seed is None and previous._rng is not None:  # the data order goes on where it stopped
                trainer._rng, trainer._rng_start = previous._rng, previous._rng_start
                trainer._continue_data = True
    return trainer.fit(X, y, epochs=epochs, batch_size=batch_size, validation_split=validation_split,
                       validation_data=validation_data, shuffle=shuffle, seed=seed, callbacks=callbacks,
                       augment=augment, progress=progress, verbose=verbose, eval_batch_size=eval_batch_size,
                       initial_epoch=initial_epoch, resume_from=resume_from, comm=comm,
                       global_batch_size=global_batch_size)


__all__ = ["Trainer", "fit", "TrainingError", "UnknownArgumentError", "FIT_ARGUMENTS", "CLASS_LOSSES", "ELEMENT_LOSSES"]
