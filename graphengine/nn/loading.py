"""``ge.nn.load(path)``: a model written by ``model.save(path)``, checked before use.

The file is only data (see :mod:`graphengine.nn.saving`); nothing in it names code to
import. Loading:

1. reads the zip directory (bounded), then ``model.json`` (at most
   ``limits.max_json_bytes``, nesting at most ``limits.max_json_depth``) and checks every
   field;
2. makes each layer from its class name and config: the built-in ``ge.nn`` layers, and
   classes the caller passes in ``custom_objects`` for layers marked custom; any other
   name is refused;
3. builds the model in a new graph on inputs of the saved shapes, its params limited to
   the bytes of weights the file declares (plus ``BUILD_SLACK_BYTES``), and checks that the declared weights are
   exactly its params and running statistics (names, shapes, dtypes);
4. reads ``weights.npz`` (each ``.npy`` header checked against the declared shape and
   dtype before anything is allocated, at most ``limits.max_array_bytes``) and puts the
   arrays in;
5. when the file holds an optimizer, creates it (``ge.optimizers.create``) over the
   model's params and restores its state: ``model.optimizer``.

Every problem is a :class:`~graphengine.SaveFormatError` naming the file, the member and
the field or layer.
"""

from __future__ import annotations

import numpy as np

from .. import archive
from ..errors import SaveFileIsFolderError, SaveFormatError, did_you_mean, require_file
from ..graph import Graph
from . import conv, embedding, layers, normalization, pooling
from .loss_names import loss_name_problem
from .module import Module, weight_budget
from .saving import FORMAT, VERSION

MAX_LAYERS = 100_000
"""Most layers a model file may declare."""
BUILD_SLACK_BYTES = 2**24
"""Params and state the model may create beyond the bytes its file declares (16 MiB): so
that a weight missing from the file is named as such, while a config asking for far more
than the file holds is refused before it is allocated."""


def builtin_layers() -> dict:
    """``{class name: class}`` of the layers any file may name."""
    out = {}
    for source in (layers, conv, embedding, normalization, pooling):
        for name in source.__all__:
            cls = getattr(source, name)
            if isinstance(cls, type) and issubclass(cls, Module):
                out[cls.__name__] = cls
    return out


def _fail(path, message):
    raise SaveFormatError(f"{path}: model file: {message}")


def load(path, *, custom_objects: dict | None = None, limits=None) -> Module:
    """The model saved at ``path`` by ``model.save``, built in a new graph with its
    weights (and ``model.optimizer`` with its state when the file holds one).

    ``custom_objects``: ``{name: Module subclass}`` for layers of your own classes (saved
    with ``"custom": true``); they need ``get_config`` (and ``from_config`` if their
    constructor is not ``cls(**config)``). ``limits``: a :class:`graphengine.archive.Limits`
    bounding what is read (default: ``archive.DEFAULT_LIMITS``).

    >>> model = ge.nn.load("mnist.genn")                       # doctest: +SKIP
    >>> model.predict(X_test).argmax(axis=1)                   # doctest: +SKIP
    """
    limits = archive.resolve_limits(limits)
    custom = _check_custom_objects(custom_objects)
    path = require_file(path, "model file", "write one with model.save(path)", suffixes=(".genn", ".zip"),
                        folder_error=SaveFileIsFolderError)
    document, raw_npz = _read_members(path, limits)
    _check_document(path, document)
    count = [0]
    model = _make_layer(path, document["model"], "model", custom, count, 0, limits.max_json_depth)
    declared = _declared_arrays(path, document)
    budget = sum(int(np.prod(shape, dtype=object)) * dtype.itemsize for shape, dtype in declared.values())
    if budget > limits.max_array_bytes:
        _fail(path, f"model.json declares {budget} bytes of arrays, over the limit of {limits.max_array_bytes} "
                    "(Limits.max_array_bytes)")
    graph = Graph(document["name"])
    inputs = []
    for i, spec in enumerate(document["inputs"]):
        name = "x" if len(document["inputs"]) == 1 else f"x_{i + 1}"
        dtype = None if spec["dtype"] is None else spec["dtype"]
        shape = None if spec["shape"] is None else tuple(spec["shape"])
        inputs.append(graph.input(name, shape=shape, dtype=dtype))
    shapes = ", ".join(str(n.shape) for n in inputs)
    try:
        with weight_budget(budget + BUILD_SLACK_BYTES):
            model(*inputs)
    except MemoryError:
        _fail(path, f"building the model on inputs of shape {shapes} needs more memory than there is; the layer "
                    "configs and input shapes in model.json are not those of a model that was saved")
    except Exception as exc:  # a layer's own checks (ModuleError, ShapeError, ...) or a custom forward
        _fail(path, f"the model does not build on inputs of shape {shapes} ({type(exc).__name__}: {exc})")
    nodes = _match_weights(path, model, document["weights"])
    arrays = archive.read_npz(raw_npz, f"{path}: member weights.npz", limits, expected=declared)
    del raw_npz
    absent = sorted(set(declared) - set(arrays))
    if absent:
        _fail(path, f"model.json refers to arrays {', '.join(absent[:5])} that weights.npz does not hold")
    xp = graph.xp
    for name, node in nodes.items():
        node.value = xp.asarray(arrays[document["weights"][name]["array"]])
    if document["optimizer"] is not None:
        model.optimizer = _make_optimizer(path, model, document["optimizer"], arrays)
    model.training_config = document["training"]
    return model


def _check_custom_objects(custom_objects) -> dict:
    if custom_objects is None:
        return {}
    if not isinstance(custom_objects, dict):
        raise SaveFormatError(f"custom_objects must be a dict {{class name: Module subclass}}, got "
                              f"{type(custom_objects).__name__}")
    for name, cls in custom_objects.items():
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise SaveFormatError(f"custom_objects[{name!r}] must be a ge.nn.Module subclass, got {cls!r:.60}")
    return dict(custom_objects)


def _read_members(path, limits):
    return archive.read_document_zip(path, "model.json", "weights.npz", limits, "model file")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shape(path, value, where):
    if not isinstance(value, list) or len(value) > 32 or not all(v is None or (_is_int(v) and v >= 0) for v in value):
        _fail(path, f"{where} must be a list of at most 32 sizes (ints >= 0 or null), got {value!r:.80}")
    return tuple(value)


def _check_document(path, doc):
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = f"format {doc.get('format')!r}" if isinstance(doc, dict) else f"a JSON {type(doc).__name__}"
        _fail(path, f"model.json is not a ge.nn model ({found}, expected format {FORMAT!r})")
    if not _is_int(doc.get("version")) or doc["version"] != VERSION:
        _fail(path, f"version {doc.get('version')!r} is not supported (this graphengine reads {VERSION})")
    expected = {"format", "version", "name", "model", "inputs", "weights", "optimizer", "training"}
    if set(doc) != expected:
        _fail(path, f"model.json has fields {sorted(doc)}, expected {sorted(expected)}")
    if not isinstance(doc["name"], str) or not doc["name"] or "/" in doc["name"]:
        _fail(path, f"field 'name' must be a non-empty string without '/', got {doc['name']!r:.60}")
    inputs = doc["inputs"]
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= 64:
        _fail(path, "field 'inputs' must list 1 to 64 inputs")
    for i, spec in enumerate(inputs):
        if not isinstance(spec, dict) or set(spec) != {"shape", "dtype"}:
            _fail(path, f"inputs[{i}] must be {{shape, dtype}}")
        if spec["shape"] is not None:
            _shape(path, spec["shape"], f"inputs[{i}].shape")
        if spec["dtype"] is not None:
            archive.check_dtype_name(spec["dtype"], f"{path}: model file: inputs[{i}].dtype")
    if not isinstance(doc["weights"], dict):
        _fail(path, "field 'weights' must map weight names to {array, shape, dtype}")
    training = doc["training"]
    if training is not None:
        if not isinstance(training, dict) or set(training) != {"loss", "metrics"} \
                or not (training["loss"] is None or isinstance(training["loss"], str)) \
                or not isinstance(training["metrics"], list) or not all(isinstance(m, str) for m in training["metrics"]):
            _fail(path, "field 'training' must be null or {loss: string or null, metrics: [strings]}")
        _check_training_names(path, training)


def _check_training_names(path, training):
    """The loss must name a loss op and each metric a built-in metric: ``model.evaluate``
    looks them up by name, so nothing else may reach it."""
    from ..training.metrics import METRICS

    loss = training["loss"]
    if loss is not None:
        problem = loss_name_problem(loss)
        if problem:
            _fail(path, f"model.json field 'training.loss' is {loss!r:.60}, which is refused: {problem} A file names "
                        "the loss it was trained with by the op's name (fit(..., loss='cross_entropy'))")
    for i, metric in enumerate(training["metrics"]):
        if metric not in METRICS:
            _fail(path, f"model.json field 'training.metrics[{i}]' is {metric!r:.60}, which is not a metric name; "
                        f"the metrics a file may name are: {', '.join(sorted(METRICS))}."
                        + did_you_mean(metric, METRICS))
    if len(set(training["metrics"])) != len(training["metrics"]):
        _fail(path, f"model.json field 'training.metrics' names a metric twice: {training['metrics']}")


def _make_layer(path, spec, where, custom, count, depth, max_depth):
    count[0] += 1
    if count[0] > MAX_LAYERS:
        _fail(path, f"model.json declares more than {MAX_LAYERS} layers")
    if depth > max_depth:
        _fail(path, f"{where}: layers nest deeper than {max_depth}")
    if not isinstance(spec, dict) or not {"class", "config"} <= set(spec) <= {"class", "config", "custom"}:
        _fail(path, f"{where} must be a layer {{class, config}}, got {spec!r:.80}")
    name, config, is_custom = spec["class"], spec["config"], spec.get("custom", False)
    if not isinstance(name, str) or not isinstance(config, dict) or not isinstance(is_custom, bool):
        _fail(path, f"{where}: class must be a string, config an object and custom a bool")
    if is_custom:
        cls = custom.get(name)
        if cls is None:
            _fail(path, f"{where} is a layer of class {name!r}, not a built-in ge.nn layer; if you trust this file, "
                        f"pass the class: ge.nn.load(path, custom_objects={{{name!r}: {name}}})")
    else:
        table = builtin_layers()
        cls = table.get(name)
        if cls is None:
            from ..errors import did_you_mean

            _fail(path, f"{where}: unknown layer class {name!r}; a file can name only the built-in ge.nn layers "
                        f"({', '.join(sorted(table))})." + did_you_mean(name, table))
    kwargs = {}
    for key, value in config.items():
        if not key.isidentifier():
            _fail(path, f"{where}.config has a key {key!r:.40} that is not an argument name")
        kwargs[key] = _decode(path, value, f"{where}.{key}", custom, count, depth + 1, max_depth)
    try:
        module = cls.from_config(kwargs)
    except Exception as exc:  # the constructor's checks: TypeError for unknown arguments, ModuleError, ...
        _fail(path, f"{where}: {name} cannot be made from its config ({type(exc).__name__}: {exc})")
    if not isinstance(module, Module):
        _fail(path, f"{where}: {name}.from_config returned a {type(module).__name__}, not a module")
    return module


def _decode(path, value, where, custom, count, depth, max_depth):
    if isinstance(value, dict):
        return _make_layer(path, value, where, custom, count, depth, max_depth)
    if isinstance(value, list):
        return tuple(_decode(path, v, f"{where}[{i}]", custom, count, depth + 1, max_depth) for i, v in enumerate(value))
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    _fail(path, f"{where}: unexpected value {value!r:.60}")  # pragma: no cover - json gives only these


def _array_ref(path, value, where, declared):
    if not isinstance(value, dict) or set(value) != {"array", "shape", "dtype"} or not isinstance(value["array"], str):
        _fail(path, f"{where} must be {{array, shape, dtype}}, got {value!r:.80}")
    key = value["array"]
    if key in declared:
        _fail(path, f"{where} uses array {key!r}, which another entry uses too")
    shape = _shape(path, value["shape"], f"{where}.shape")
    if any(d is None for d in shape):
        _fail(path, f"{where}.shape must hold sizes, not null")
    declared[key] = (shape, archive.check_dtype_name(value["dtype"], f"{path}: model file: {where}.dtype"))


def _declared_arrays(path, doc) -> dict:
    """``{npz key: (shape, dtype)}`` of every array model.json refers to."""
    declared: dict = {}
    for name, ref in doc["weights"].items():
        _array_ref(path, ref, f"weights[{name!r}]", declared)
    opt = doc["optimizer"]
    if opt is not None:
        if not isinstance(opt, dict) or set(opt) != {"name", "hyper", "steps", "params", "state"}:
            _fail(path, "field 'optimizer' must be null or {name, hyper, steps, params, state}")
        if not isinstance(opt["name"], str) or not isinstance(opt["hyper"], dict) or not isinstance(opt["state"], dict):
            _fail(path, "optimizer name must be a string, hyper and state objects")
        if not isinstance(opt["params"], list) or not all(isinstance(p, str) for p in opt["params"]):
            _fail(path, "optimizer params must be a list of weight names")
        if not _is_int(opt["steps"]) or opt["steps"] < 0:
            _fail(path, f"optimizer steps must be an int >= 0, got {opt['steps']!r:.40}")
        for key, value in opt["hyper"].items():
            if not _is_number_tree(value):
                _fail(path, f"optimizer hyper-parameter {key!r} must be a number, got {value!r:.60}")
        for pname, items in opt["state"].items():
            if not isinstance(items, dict):
                _fail(path, f"optimizer state of {pname!r} must be an object")
            for key, value in items.items():
                if isinstance(value, dict):
                    _array_ref(path, value, f"optimizer state {pname!r}/{key!r}", declared)
                elif not _is_number_tree(value):
                    _fail(path, f"optimizer state {pname!r}/{key!r} must be a number or an array, got {value!r:.60}")
    return declared


def _is_number_tree(value, depth=0) -> bool:
    if value is None or isinstance(value, (bool, int, float)):
        return True
    return isinstance(value, list) and depth < 4 and all(_is_number_tree(v, depth + 1) for v in value)


def _match_weights(path, model, weights) -> dict:
    """``{weight name: node}``: the file's weights must be exactly the model's params and
    state, with the same shapes and dtypes."""
    prefix = model.path + "/"
    have = {n.name[len(prefix):]: n for n in list(model.params()) + list(model.state())}
    missing, extra = sorted(set(have) - set(weights)), sorted(set(weights) - set(have))
    problems = []
    if missing:
        problems.append(f"no weights for {', '.join(missing[:8])}" + (" ..." if len(missing) > 8 else ""))
    if extra:
        problems.append(f"weights {', '.join(extra[:8])}" + (" ..." if len(extra) > 8 else "")
                        + " that the model does not have")
    for name in sorted(set(have) & set(weights)):
        node, ref = have[name], weights[name]
        dtype = np.dtype(node.value.dtype).name
        if tuple(ref["shape"]) != tuple(node.shape) or ref["dtype"] != dtype:
            problems.append(f"{name!r} is {ref['dtype']}{tuple(ref['shape'])} in the file but {dtype}"
                            f"{tuple(node.shape)} in the model its config builds")
    if problems:
        _fail(path, "the weights do not fit the model: " + "; ".join(problems))
    return have


def _make_optimizer(path, model, doc, arrays):
    import graphengine as ge

    prefix = model.path + "/"
    params = {n.name[len(prefix):]: n for n in model.params()}
    unknown = [p for p in doc["params"] + list(doc["state"]) if p not in params]
    if unknown:
        _fail(path, f"the optimizer refers to {', '.join(map(repr, unknown[:5]))}, which are not params of the model")
    try:
        optimizer = ge.optimizers.create(doc["name"], [params[p] for p in doc["params"]], **doc["hyper"])
    except Exception as exc:  # an unknown optimizer (plugin not installed), refused hyper-parameters
        _fail(path, f"the optimizer {doc['name']!r} cannot be made ({type(exc).__name__}: {exc}); install the plugin "
                    "that provides it, or save the model with include_optimizer=False")
    state = {prefix + pname: {key: arrays[value["array"]] if isinstance(value, dict) else value
                              for key, value in items.items()}
             for pname, items in doc["state"].items()}
    try:
        optimizer.load_state_dict({"name": doc["name"], "hyper": doc["hyper"], "steps": doc["steps"], "state": state})
    except Exception as exc:
        _fail(path, f"the optimizer's state is refused ({type(exc).__name__}: {exc})")
    return optimizer


__all__ = ["load", "builtin_layers", "MAX_LAYERS", "BUILD_SLACK_BYTES"]
