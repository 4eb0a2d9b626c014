"""The op contract: the base class every op plugin subclasses, and helpers for it.

An op is one small class with forward, backward and shape rule side by side::

    class Swish(ge.Op):
        name = "swish"
        saves = ("inputs", "output")       # what backward reads; the rest is freed

        def forward(self, xp, x):
            return x / (1 + xp.exp(-x))

        def backward(self, xp, grad, inputs, output):
            (x,) = inputs
            s = 1 / (1 + xp.exp(-x))
            return (grad * (s + output * (1 - s)),)

        def shape(self, x):
            return x

One rule per direction:

``forward(self, xp, *inputs, **attrs)``
    Returns an array. ``xp`` is the backend's array module (numpy or cupy).
``backward(self, xp, grad, inputs, output, **attrs)``
    Returns one gradient per input (``None`` for an input that gets none). A gradient may
    keep the broadcast (output) shape: the engine sums every gradient back to its input's
    shape (:func:`sum_to_shape`), so ops do no broadcasting bookkeeping. A gradient may be
    ``grad`` itself (a pass-through), never an input or the output array.

Optional, each checked against the methods by ``graphengine.testing.check_op``:

* ``needs_grad=`` on backward: a tuple of bools, one per input; take it only where
  skipping a gradient saves real work (matmul, a loss's target).
* ``out=None`` on forward: an array of the output's shape and dtype that the engine reuses
  between steps; forward writes its result there and returns it (or returns a new array,
  never one of its inputs). Write the maths once: ``return xp.multiply(a, b, out=out)``.
* ``out=None`` on backward: ``None`` or a tuple with one entry per input, each ``None`` or
  an array of that input's shape and dtype that backward may write the input's gradient
  into.
* ``inline_forward`` / ``inline_backward``: expression templates the generated code pastes
  in place of the method calls (:mod:`graphengine.emitter`). A class that gives a template
  and not the matching method gets the method derived from the template (see
  :class:`Op`), so the maths is written once.

Shapes given to ``shape`` are tuples whose entries may be ``None`` (a batch axis not known
until run time).

Attributes are the keyword parameters of ``forward``. Annotate them with plain types and
the graph refuses a wrong value when the node is built, naming the op, the attribute, the
value and what it takes (:mod:`graphengine.op_attributes` lists the forms)::

    def forward(self, xp, x, *, alpha: float = 0.01, axis: int | tuple[int, ...] | None = None,
                reduction: Literal["none", "mean", "sum"] = "none"):

An attribute without an annotation is not checked (ops written before this keep working).
Checks that need the inputs' shapes and dtypes together go in ``check_inputs(self, shapes,
dtypes, **attrs)`` (:meth:`Op.check_inputs`); a ``shape`` rule may also raise
:class:`~graphengine.AttributeSpecError` with its own words about a value.

dtypes (:func:`promote_dtypes`, the default ``dtype`` rule; as in PyTorch):

* Python and NumPy scalars are weak: ``x * 2.0``, ``x * np.float64(2)`` and
  ``x / np.sqrt(n)`` keep float32 data float32 (``dtype`` sees ``None`` for them).
* Floating data decides: integer or bool data meeting float data takes the float's dtype
  (int32 with float32 gives float32, not NumPy's float64); float32 with float64 gives
  float64.
* Integer-only results stay integer (int32 + int64 gives int64, bool + 1 gives int64);
  where the result must be floating (int / int, int + 0.5, exp of int, sin of int) it is
  float32, PyTorch's default dtype. Comparisons and ``isnan``-like tests give bool.
* A node's static dtype (``node.dtype``, from its op's ``dtype`` rule) is the dtype every
  run produces: forward must give it (the interpreter refuses a forward that does not on
  an op's first run). An op whose forward cannot follow the default rule writes its own
  ``dtype`` method. An op with inline templates, which generated code pastes as they are,
  may set ``promote_inputs`` (input positions, e.g. ``(0, 1)``): where its result is
  floating, the graph gives each integer or bool input of those positions a ``cast`` node
  at build time, so the templates only ever see one dtype (``f * b`` is
  ``f * cast(b, "float32")``). Without declared input dtypes, ``node.dtype`` is ``None``
  and the run decides.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import re
import string
from typing import Any, Sequence

import numpy as np

from . import op_attributes
from .errors import AttributeSpecError, ShapeError

Shape = tuple  # entries: int or None (unknown until run time)


class Op:
    """Base class of ops. Subclasses set ``name`` and write ``forward`` and ``backward``.

    Class attributes a subclass may set:

    ``name``
        Registry key; the op appears as ``ge.ops.<name>``.
    ``arity``
        Number of inputs, or ``None`` for a variadic op (concat, stack). By default it is
        read from the signature of ``forward``.
    ``saves``
        Which values backward reads: a tuple of ``"inputs"`` and/or ``"output"``. Values
        that no backward reads are freed after their last use in a fetched run.
    ``differentiable``
        ``False`` for ops whose gradient is zero or undefined everywhere; backward is
        then not called and no gradient flows through.
    ``inline_forward``
        An expression of the inputs ``{0}``, ``{1}``, ..., the attributes by name and
        ``xp``: ``"xp.add({0}, {1})"``.
    ``inline_backward``
        A tuple with one entry per input: an expression of ``{grad}``, ``{output}``, the
        inputs and the attributes, or ``None`` where the input gets no gradient:
        ``("{grad} * {1}", "{grad} * {0}")``. A bare ``"{grad}"`` passes the gradient on.

    Without a ``forward`` of its own, a class with ``inline_forward`` gets one derived
    from it (inputs only: an op with attributes writes its forward); without a
    ``backward``, a class with ``inline_backward`` gets one derived from it (it takes the
    forward's attributes, and ``needs_grad`` where it has several inputs and computes
    something). ``Mul`` is then just::

        class Mul(Op):
            name = "mul"
            saves = ("inputs",)
            inline_forward = "xp.multiply({0}, {1})"
            inline_backward = ("{grad} * {1}", "{grad} * {0}")
    """

    name: str = ""
    arity: int | None = None
    saves: tuple = ("inputs", "output")
    differentiable: bool = True
    # each output element depends only on the input elements at its own (broadcast) index:
    # the local derivative is then one number per element (diagrams and the explorer show it)
    elementwise: bool = False
    # a loss: the position of its target input (labels, regression targets), which trains
    # nothing; diagrams leave it neutral. None for other ops
    target_input: int | None = None
    inline_forward: str | None = None
    inline_backward: tuple | None = None
    _attr_names = None
    _attr_specs = None
    _attrs_checked = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._attr_names = None
        cls._attr_specs = None
        cls._attrs_checked = None
        _derive_from_templates(cls)
        own_shape = cls.__dict__.get("shape")
        if own_shape is not None and not getattr(own_shape, "_checks_attributes", False):
            cls.shape = _checking_attributes(own_shape)

    def forward(self, xp, *inputs, **attrs):  # pragma: no cover - abstract
        raise NotImplementedError(f"op {self.name!r} has no forward")

    def backward(self, xp, grad, inputs, output, **attrs):  # pragma: no cover - abstract
        raise NotImplementedError(
            f"op {self.name!r} has no backward rule; set differentiable = False if it has none"
        )

    def shape(self, *input_shapes, **attrs):
        """Output shape from input shapes; return None when it cannot be known statically.

        The attributes are checked against the annotations of ``forward`` first
        (:meth:`check_attributes`): a subclass's own ``shape`` is wrapped so that this
        happens before its body runs."""
        if attrs:
            type(self).check_attributes(attrs)
        return None

    shape._checks_attributes = True

    def check_inputs(self, shapes, dtypes, **attrs) -> None:
        """Static checks that need the inputs' shapes and dtypes together (entries may be
        None: unknown until run time); raise a :class:`~graphengine.GraphEngineError` to
        refuse the node at build time. The default checks the attributes only
        (:meth:`check_attributes`); a class loss, say, also refuses float class indices."""
        if attrs:
            type(self).check_attributes(attrs)

    @classmethod
    def check_attributes(cls, attrs) -> None:
        """Refuse attribute values that do not fit the annotations of ``forward`` (an
        :class:`~graphengine.AttributeSpecError` naming the op, the attribute, the value
        and what it takes; see :mod:`graphengine.op_attributes` for the forms understood).
        Attributes without an annotation are not checked. Values that passed are
        remembered per class, so repeating them costs a dictionary lookup."""
        try:  # the types are part of the key: True == 1 == 1.0 hash alike, and only 1 may be an axis
            key = tuple([(k, type(v), v) for k, v in attrs.items()])
            hash(key)
        except TypeError:  # an unhashable value (a list): checked every time
            key = None
        checked = cls._attrs_checked
        if key is not None and checked is not None and key in checked:
            return
        if cls._attr_specs is None:
            cls._attr_specs = op_attributes.attribute_specs(cls)
        op_attributes.check(cls, attrs, cls._attr_specs)
        if key is not None:
            if checked is None or len(checked) >= 1024:
                checked = cls._attrs_checked = set()
            checked.add(key)

    def dtype(self, *input_dtypes, **attrs):
        """Output dtype from input dtypes (None entries are weak Python or NumPy scalars,
        which do not promote: float32 * 2.0 stays float32): :func:`promote_dtypes`, so
        int32 data with float32 data gives float32. The graph gives this default rule the
        kinds of the weak scalars too (int32 data + 0.5 gives float32)."""
        return promote_dtypes(*input_dtypes)

    def result_dtype(self, input_dtypes, weak=(), attrs=None):
        """The dtype the op's rule gives for inputs of ``input_dtypes`` (None entries: weak
        scalars, whose Python types are ``weak``), as an ``np.dtype``; None where the rule
        cannot judge them. The graph asks it at build time and the interpreter on the
        actual inputs at run time: one place that knows the default rule reads the weak
        scalars' kinds."""
        try:
            if type(self).dtype is Op.dtype:
                dtype = promote_dtypes(*input_dtypes, weak=weak)
            else:
                dtype = self.dtype(*input_dtypes, **(attrs or {}))
        except Exception:
            return None
        return None if dtype is None else np.dtype(dtype)

    # -- introspection used by the graph and the execution core (computed once per class) --

    @classmethod
    def signature_info(cls):
        """(arity, attribute names with defaults, whether backward takes ``needs_grad``)."""
        if cls._attr_names is None:
            sig = inspect.signature(cls.forward)
            params = list(sig.parameters.values())[2:]  # drop self, xp
            positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                          and p.default is p.empty]
            variadic = any(p.kind == p.VAR_POSITIONAL for p in params)
            attrs = {p.name: p.default for p in params if p.name != "out" and (
                     p.kind == p.KEYWORD_ONLY or (p.kind == p.POSITIONAL_OR_KEYWORD and p.default is not p.empty))}
            any_kw = any(p.kind == p.VAR_KEYWORD for p in params)
            arity = cls.arity if cls.arity is not None or variadic else len(positional)
            bsig = inspect.signature(cls.backward).parameters
            cls._attr_names = (arity, attrs, any_kw, "needs_grad" in bsig)
        return cls._attr_names

    @classmethod
    def takes_out(cls) -> tuple:
        """(forward takes ``out=``, backward takes ``out=``): the optional buffer forms."""
        return ("out" in inspect.signature(cls.forward).parameters,
                "out" in inspect.signature(cls.backward).parameters)

    def __repr__(self) -> str:
        return f"<Op {self.name}>"


def _checking_attributes(shape):
    """A class's own shape rule, preceded by :meth:`Op.check_attributes` (run at build time
    by the graph, whose rule answers are cached: the check runs once per distinct call)."""
    @functools.wraps(shape)
    def checked_shape(self, *input_shapes, **attrs):
        if attrs:
            try:
                type(self).check_attributes(attrs)
            except AttributeSpecError as generic:
                try:  # the op's own words about this attribute ("bias=..."), where its rule has them, say more
                    shape(self, *input_shapes, **attrs)
                except AttributeSpecError as own:
                    if re.search(rf"\b{re.escape(generic.attribute)}=", str(own)):
                        raise own from None
                except Exception:
                    pass
                raise generic from None
        return shape(self, *input_shapes, **attrs)

    checked_shape._checks_attributes = True
    return checked_shape


# --------------------------------------------------------------------------- templates

def template_fields(template: str) -> set:
    """The placeholder names of an inline template: ``{"0", "grad", "axis"}``."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def _is_derived(method) -> bool:
    return getattr(method, "_derived_from_template", None) is not None


def _template_error(cls, which, template, problem, fix):
    return TypeError(f"op class {cls.__qualname__} (name {cls.name!r}): {which} {template!r} {problem}; {fix}")


def _compile(cls, method, source, namespace, template):
    """Build one derived method from its source text (kept for tracebacks and inspection)."""
    filename = f"<graphengine: {cls.__qualname__}.{method} derived from inline_{method}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    fn = namespace[method]
    fn.__qualname__ = f"{cls.__qualname__}.{method}"
    fn.__module__ = cls.__module__
    fn.__doc__ = f"Derived from ``inline_{method}`` = {template!r}:\n\n{source}"
    fn._derived_from_template = template
    return fn


def _derive_forward(cls, template):
    if not isinstance(template, str):
        raise _template_error(cls, "inline_forward", template, "is not a string",
                              'write an expression such as "xp.add({0}, {1})"')
    fields = template_fields(template)
    named = sorted(f for f in fields if not f.isdigit())
    if named:
        raise _template_error(
            cls, "inline_forward", template, f"reads {{{named[0]}}}, and a forward derived from a template "
            "takes inputs only ({0}, {1}, ...)",
            f"write the method, e.g. forward(self, xp, x, *, {named[0]}=<default>), and keep the template")
    used = sorted(int(f) for f in fields)
    arity = cls.arity if cls.arity is not None else (used[-1] + 1 if used else 0)
    if used and used[-1] >= arity:
        raise _template_error(cls, "inline_forward", template, f"reads {{{used[-1]}}} but the op has {arity} inputs",
                              "fix the template or the class's arity")
    args = [f"x{i}" for i in range(arity)]
    source = (f"def forward(self, xp{''.join(', ' + a for a in args)}):\n"
              f"    return xp.asarray({template.format(*args)})\n")
    return _compile(cls, "forward", source, {}, template)


def _derive_backward(cls, template):
    arity, attrs, any_kw, _ = cls.signature_info()
    if not isinstance(template, (tuple, list)) or not all(t is None or isinstance(t, str) for t in template):
        raise _template_error(cls, "inline_backward", template, "is not a tuple of expressions (or None)",
                              'give one entry per input, e.g. ("{grad}", "-{grad}")')
    if arity is None or len(template) != arity:
        raise _template_error(cls, "inline_backward", template, f"has {len(template)} entries for {arity} inputs",
                              "give one entry per input (None where an input gets no gradient)")
    args = [f"x{i}" for i in range(arity)]
    namespace, exprs, reads_inputs = {}, [], False
    for position, entry in enumerate(template):
        if entry is None:
            exprs.append("None")
            continue
        fields = template_fields(entry)
        for field in sorted(fields):
            if field.isdigit() and int(field) >= arity:
                raise _template_error(cls, "inline_backward", template, f"reads {{{field}}} but the op has {arity} "
                                      "inputs", "fix the template")
            needed = "inputs" if field.isdigit() else "output" if field == "output" else None
            if needed and needed not in cls.saves:
                raise _template_error(cls, "inline_backward", template, f"reads {{{field}}} but saves = {cls.saves!r}",
                                      f"add {needed!r} to saves")
            if not field.isdigit() and field not in ("grad", "output") and field not in attrs:
                raise _template_error(cls, "inline_backward", template, f"reads {{{field}}}, which is not an attribute "
                                      f"of forward (attributes: {sorted(attrs) or 'none'})",
                                      "add it as a keyword parameter of forward or fix the template")
        reads_inputs = reads_inputs or any(f.isdigit() for f in fields)
        exprs.append(entry.format(*args, grad="grad", output="output", **{a: a for a in attrs}))
    computed = [t is not None and t.strip() != "{grad}" for t in template]
    skip = arity > 1 and any(computed)
    params = ["self", "xp", "grad", "inputs", "output"]
    if skip:
        params.append(f"needs_grad={(True,) * arity!r}")
    keywords = []
    for a, default in attrs.items():
        namespace[f"_default_{a}"] = default
        keywords.append(f"{a}=_default_{a}")
    if keywords:
        params.append("*")
        params += keywords
    if any_kw:
        params.append("**attrs")
    lines = [f"def backward({', '.join(params)}):"]
    if reads_inputs:
        lines.append(f"    {', '.join(args)}, = inputs")
    entries = [f"(({e}) if needs_grad[{i}] else None)" if skip and computed[i] else e for i, e in enumerate(exprs)]
    lines.append(f"    return ({', '.join(entries)}{',' if arity == 1 else ''})")
    return _compile(cls, "backward", "\n".join(lines) + "\n", namespace, tuple(template))


def _derive_from_templates(cls):
    """Give ``cls`` the forward / backward its templates imply where it writes none."""
    forward_template = getattr(cls, "inline_forward", None)
    if forward_template is not None and (cls.forward is Op.forward or _is_derived(cls.forward)):
        cls.forward = _derive_forward(cls, forward_template)
        cls._attr_names = None
    backward_template = getattr(cls, "inline_backward", None)
    if backward_template is not None and cls.differentiable and cls.forward is not Op.forward \
            and (cls.backward is Op.backward or _is_derived(cls.backward)):
        cls.backward = _derive_backward(cls, backward_template)
        cls._attr_names = None


# --------------------------------------------------------------------------- shapes

@functools.lru_cache(maxsize=256)
def _promoted(dtypes: tuple):
    """NumPy's promotion of the dtypes (None for none), cached: graphs repeat a few."""
    return np.result_type(*dtypes) if dtypes else None


def promote_dtypes(*dtypes, weak=()):
    """The dtype of a result computed from data of ``dtypes`` (None entries: weak scalars)
    and weak Python scalars of the types ``weak`` (``float``, ``int``, ``bool``).

    Floating data decides (integer data meeting it takes its dtype); integer or bool data
    alone keeps NumPy's integer promotion, except that a weak float scalar makes it
    float32 (PyTorch's default dtype). None where no entry is data.

    >>> promote_dtypes(np.dtype("float32"), np.dtype("int32")), promote_dtypes(np.dtype("int32"), weak=(float,))
    (dtype('float32'), dtype('float32'))
    """
    strong = tuple([np.dtype(d) for d in dtypes if d is not None])
    return _promoted_with_weak(strong, frozenset(weak))


@functools.lru_cache(maxsize=512)
def _promoted_with_weak(strong: tuple, weak: frozenset):
    if not strong:
        return None
    floats = [d for d in strong if d.kind in "fc"]
    if floats:
        return _promoted(tuple(floats))
    result = _promoted(strong)
    if float in weak and result.kind != "f":  # a weak float meets integer data
        return np.dtype(np.float32)
    if result.kind == "b" and int in weak:
        return np.dtype(np.int64)
    return result


def broadcast_shapes(*shapes: Sequence) -> Shape:
    """NumPy broadcasting of static shapes whose entries may be None (unknown)."""
    if len(shapes) == 2 and shapes[0] == shapes[1]:
        return tuple(shapes[0])  # the common case: equal shapes broadcast to themselves
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(-ndim, 0):
        dim = 1
        for s in shapes:
            if len(s) < -axis:
                continue
            d = s[axis]
            if d is None:
                if dim == 1:
                    dim = None
            elif d == 1:
                continue
            elif dim == 1 or dim is None:
                dim = d
            elif dim != d:
                raise ShapeError(
                    "shapes " + ", ".join(format_shape(s) for s in shapes)
                    + f" do not broadcast (axis {axis}: {dim} against {d})"
                )
        out.append(dim)
    return tuple(out)


def normalize_axis(axis, ndim: int, name: str = "axis") -> tuple:
    """Axis argument (None, int or tuple) to a sorted tuple of non-negative axes.
    ``name``: what the argument is called, for the error of a value that is no axis."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if isinstance(axes, np.ndarray) and axes.ndim == 1:
        axes = tuple(axes.tolist())
    if not isinstance(axes, (tuple, list)) or not all(
            isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_)) for a in axes):
        from .errors import AttributeSpecError

        raise AttributeSpecError(
            f"{name}={axis!r} is not an axis: give an int (0, 1, -1, ...), a tuple of ints, or None for every "
            "axis"
        )
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise ShapeError(f"axis {a} is out of range for an array of {ndim} dimensions")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {axis!r}")
    return tuple(sorted(out))


def reduced_shape(shape: Shape, axis, keepdims: bool) -> Shape:
    axes = normalize_axis(axis, len(shape))
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def format_shape(shape) -> str:
    if shape is None:
        return "(?)"
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def shapes_compatible(declared: Shape, actual: Sequence[int]) -> bool:
    """A run-time shape matches a declared one (None entries match anything)."""
    return len(declared) == len(actual) and all(d is None or d == a for d, a in zip(declared, actual))


# --------------------------------------------------------------------------- gradients

def unbroadcast(xp, grad, shape):
    """Sum ``grad`` back to ``shape`` after broadcasting (the gradient of broadcast_to).

    >>> import numpy as np
    >>> unbroadcast(np, np.ones((4, 3)), (3,)).tolist()
    [4.0, 4.0, 4.0]
    """
    gshape = grad.shape
    if gshape == tuple(shape):
        return grad
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, d in enumerate(shape) if d == 1 and gshape[i + lead] != 1
    )
    out = grad.sum(axis=axes, keepdims=True) if axes else grad
    if lead:
        out = out.reshape(tuple(shape))
    return out


def sum_to_shape(xp, grad, shape):
    """A gradient of a broadcast shape summed back to ``shape`` (unchanged when it cannot
    be: the caller reports the mismatch)."""
    gshape = tuple(grad.shape)
    shape = tuple(shape)
    if gshape == shape or len(gshape) < len(shape):
        return grad
    lead = len(gshape) - len(shape)
    if any(d != 1 and d != gshape[i + lead] for i, d in enumerate(shape)):
        return grad
    return unbroadcast(xp, grad, shape)


def shape_of(value) -> tuple:
    """Shape of an array or a Python scalar."""
    return tuple(getattr(value, "shape", ()))


def describe_value(value) -> str:
    """'float32[2, 3]' style description of an array or scalar for error messages."""
    if value is None:
        return "None"
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return f"{type(value).__name__} scalar"
    return f"{dtype}[{', '.join(str(d) for d in value.shape)}]"


def as_array(xp, value, like=None):
    """``value`` as an array of the backend; Python scalars take ``like``'s dtype."""
    if like is not None and not hasattr(value, "dtype"):
        return xp.asarray(value, dtype=like.dtype)
    return xp.asarray(value)


OpLike = Any
