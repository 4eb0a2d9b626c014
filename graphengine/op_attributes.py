"""Build-time checks of op attributes against the annotations of the op's ``forward``.

An op declares what each attribute takes by annotating the keyword parameters of its
``forward`` with plain Python types::

    def forward(self, xp, x, *, axis: int | tuple[int, ...] | None = -1,
                reduction: Literal["none", "mean", "sum"] = "none", alpha: float = 0.01):

and ``g.apply`` / ``ge.ops.<name>`` refuse a value that does not fit at build time, with an
:class:`~graphengine.AttributeSpecError` naming the op, the attribute, the value given and
what is expected (``softmax(x, axis="x")`` fails when it is written, not at the first run).

The forms understood (anything else, and an attribute without an annotation, is not
checked: third-party ops without annotations work as before):

=============================  =====================================================
annotation                     accepts
=============================  =====================================================
``float``                      int or float (Python or NumPy), never bool
``int``                        int (Python or NumPy), never bool or float
``bool``                       True or False (``numpy.bool_`` too)
``str``                        a string
``None``                       None
``Literal["a", "b"]``          exactly one of the listed values
``tuple[int, ...]``            a tuple or list of ints, or a 1-d NumPy array of them
                               (``list[...]``, ``Sequence[...]`` too); ``tuple[int, int]``:
                               exactly two
``np.ndarray`` (any class)     an instance of it
``X | Y``, ``Optional[X]``     any of the alternatives
``Any``, ``object``            anything
=============================  =====================================================

An attribute whose default is None also accepts None (``weight: Sequence[float] = None``).
The answers are cached per op class and attribute values, so a deep chain of the same op
pays the check once.
"""

from __future__ import annotations

import collections.abc
import inspect
import keyword
import numbers
import types
import typing

import numpy as np

from .errors import AttributeSpecError

_ANY = object()  # the spec of an attribute that is not checked
_MISSING = object()


class Spec:
    """One annotation turned into a check: ``accepts(value)`` and ``expected`` (words)."""

    __slots__ = ("accepts", "expected")

    def __init__(self, accepts, expected: str):
        self.accepts = accepts
        self.expected = expected


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


_SCALARS = {
    float: Spec(_is_real, "a number"),
    int: Spec(_is_int, "an int"),
    bool: Spec(lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    str: Spec(lambda v: isinstance(v, str), "a string"),
    type(None): Spec(lambda v: v is None, "None"),
}

_PLURALS = {"a number": "numbers", "an int": "ints", "True or False": "bools", "a string": "strings"}

_SEQUENCES = (tuple, list, collections.abc.Sequence)


def spec_of(annotation):
    """The :class:`Spec` of an annotation, or None where it is not checked."""
    if annotation is None:
        annotation = type(None)
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if annotation is typing.Any or annotation is object or annotation is inspect.Parameter.empty:
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        choices = args
        return Spec(lambda v: any(type(v) is type(c) and v == c for c in choices),
                    "one of " + ", ".join(repr(c) for c in choices))
    if origin in (typing.Union, types.UnionType):
        specs = [spec_of(a) for a in args]
        if any(s is None for s in specs):
            return None
        return Spec(lambda v: any(s.accepts(v) for s in specs), _join([s.expected for s in specs]))
    if origin in _SEQUENCES:
        if len(args) == 2 and args[1] is Ellipsis or len(args) == 1:
            item = spec_of(args[0])
            if item is None:
                return Spec(lambda v: _items(v) is not None, "a tuple")
            return Spec(lambda v: (items := _items(v)) is not None and all(item.accepts(i) for i in items),
                        f"a tuple of {_PLURALS.get(item.expected, item.expected)}")
        if args:
            specs = [spec_of(a) for a in args]
            if any(s is None for s in specs):
                return None
            return Spec(lambda v: (items := _items(v)) is not None and len(items) == len(specs)
                        and all(s.accepts(i) for s, i in zip(specs, items)),
                        f"a tuple of {len(specs)} ({', '.join(s.expected for s in specs)})")
        return Spec(lambda v: _items(v) is not None, "a tuple or list")
    if annotation in _SEQUENCES:
        return Spec(lambda v: _items(v) is not None, "a tuple or list")
    if isinstance(annotation, type):
        try:
            isinstance(None, annotation)
        except TypeError:  # a Protocol that is not runtime_checkable, say: not checked
            return None
        return Spec(lambda v: isinstance(v, annotation), f"a {annotation.__module__.split('.')[0]}."
                    f"{annotation.__qualname__}" if annotation.__module__ != "builtins" else f"a {annotation.__name__}")
    return None


def _items(value):
    """The entries of a tuple, list or 1-d NumPy array (as NumPy scalars); None for anything else."""
    if isinstance(value, (tuple, list)):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return list(value)
    return None


def _join(words: list) -> str:
    unique = list(dict.fromkeys(words))
    return unique[0] if len(unique) == 1 else ", ".join(unique[:-1]) + " or " + unique[-1]


def _annotation(fn, parameter):
    """A parameter's annotation evaluated (``from __future__ import annotations`` keeps
    strings); None where it cannot be (then the attribute is not checked)."""
    annotation = parameter.annotation
    if isinstance(annotation, str):
        try:
            annotation = eval(annotation, getattr(fn, "__globals__", {}), {})  # the op's own source text
        except Exception:
            return _MISSING
    return annotation


def attribute_specs(cls) -> dict:
    """``{attribute: (Spec or None, default)}`` read from ``cls.forward``'s annotations
    (the default of a required keyword-only attribute such as ``kernel_size`` is a marker)."""
    forward = cls.forward
    specs = {}
    for parameter in list(inspect.signature(forward).parameters.values())[2:]:
        if parameter.name == "out" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD) or (
                parameter.kind != parameter.KEYWORD_ONLY and parameter.default is parameter.empty):
            continue  # the inputs, and what is no attribute (signature_info reads them the same way)
        annotation = _annotation(forward, parameter)
        spec = None if annotation is _MISSING or annotation is parameter.empty else spec_of(annotation)
        default = _MISSING if parameter.default is parameter.empty else parameter.default  # _MISSING: required
        specs[parameter.name] = (spec, default)
    return specs


def check_names(cls, attrs) -> None:
    """Attribute names of an op taking ``**attrs`` (the names it declares pass): Python
    identifiers that are not keywords, private names or parameters of the op's own methods
    (``out``, ``needs_grad``, ...). The same rule refuses such names in a saved file, so a
    graph that builds also saves and loads."""
    _, declared, takes_any, _ = cls.signature_info()
    if not takes_any:
        return  # unknown names are refused by the op's signature, with its own message
    reserved = {"out", "needs_grad"} | set(inspect.signature(cls.forward).parameters) \
        | set(inspect.signature(cls.backward).parameters)
    for name in attrs:
        if name in declared:
            continue
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) \
                or name in reserved or name.startswith("_"):
            error = AttributeSpecError(
                f"attribute name {name!r} is refused for op {cls.name!r}: an op's attributes are named by Python "
                "identifiers that are not keywords, private (_) names or the names of the op's own method "
                "parameters; rename it")
            error.attribute, error.value = name, attrs[name]
            raise error


def check(cls, attrs: dict, specs: dict) -> None:
    """Raise :class:`AttributeSpecError` for a refused attribute name (:func:`check_names`) or
    the first attribute whose value its spec refuses."""
    check_names(cls, attrs)
    for key, value in attrs.items():
        spec, default = specs.get(key, (None, None))
        if spec is None or (value is None and default is None) or spec.accepts(value):
            continue
        example = f" (e.g. {key}={default!r}, the default)" if default is not None and default is not _MISSING else ""
        error = AttributeSpecError(
            f"attribute {key}={_short(value)} (a {type(value).__name__}) does not fit op {cls.name!r}: "
            f"{key} takes {spec.expected}{example}"
        )
        error.attribute, error.value = key, value
        raise error


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
