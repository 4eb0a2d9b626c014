"""Comparisons and logic (boolean results, no gradient), cast, and stop_gradient / detach.

Comparisons ``lt le gt ge eq ne`` broadcast like NumPy and return bool arrays, as
``torch.lt`` and friends do; on nodes the operators ``<  <=  >  >=`` build them
(``x > 0`` is ``ge.ops.gt(x, 0)``). ``==`` and ``!=`` on nodes stay identity tests, so
nodes remain hashable dict keys: write ``ge.ops.eq(a, b)`` / ``ge.ops.ne(a, b)`` for the
elementwise comparison. A comparison is a mask for ``ge.ops.where``::

    y = ge.ops.where(x > 0, x, 0.1 * x)         # leaky ReLU written with a mask
    mask = ge.ops.logical_and(x > -1, x < 1)

``cast(x, dtype=...)`` (``node.astype(dtype)``) converts the dtype; between floating
dtypes the gradient is cast back to x's dtype, to or from integer/bool there is none.
``stop_gradient(x)`` (alias ``detach``) passes the value and stops the gradient.
"""

import numpy as np

import graphengine as ge
from graphengine import AttributeSpecError, broadcast_shapes

BOOL = np.dtype(bool)


class _Comparison(ge.Op):
    """Elementwise, broadcasting, bool result, no gradient."""

    saves = ()
    differentiable = False

    def shape(self, a, b):
        return broadcast_shapes(a, b)

    def dtype(self, a, b):
        return BOOL


class Lt(_Comparison):
    """a < b elementwise (torch.lt), bool. No gradient.

    >>> x < 0.5            # the same as ge.ops.lt(x, 0.5); [0.2, 0.7] -> [True, False]
    """

    name = "lt"

    def forward(self, xp, a, b, out=None):
        return xp.asarray(xp.less(a, b, out=out))


class Le(_Comparison):
    """a <= b elementwise (torch.le), bool. No gradient.

    >>> x <= 0.5           # ge.ops.le(x, 0.5)
    """

    name = "le"

    def forward(self, xp, a, b, out=None):
        return xp.asarray(xp.less_equal(a, b, out=out))


class Gt(_Comparison):
    """a > b elementwise (torch.gt), bool. No gradient.

    >>> x > 0              # ge.ops.gt(x, 0); [-1.0, 2.0] -> [False, True]
    """

    name = "gt"

    def forward(self, xp, a, b, out=None):
        return xp.asarray(xp.greater(a, b, out=out))


class Ge(_Comparison):
    """a >= b elementwise (torch.ge), bool. No gradient.

    >>> x >= 0             # ge.ops.ge(x, 0)
    """

    name = "ge"

    def forward(self, xp, a, b, out=None):
        return xp.asarray(xp.greater_equal(a, b, out=out))


class Eq(_Comparison):
    """a == b elementwise (torch.eq), bool. No gradient. (``a == b`` on nodes is an
    identity test: nodes stay hashable.)

    >>> ge.ops.eq(predicted, labels)      # [1, 2] vs [1, 0] -> [True, False]
    """

    name = "eq"

    def forward(self, xp, a, b, out=None):
        return xp.asarray(xp.equal(a, b, out=out))


class Ne(_Comparison):
    """a != b elementwise (torch.ne), bool. No gradient. (``a != b`` on nodes is an
    identity test.)

    >>> ge.ops.ne(labels, -100)
    """

    name = "ne"

    def forward(self, xp, a, b, out=None):
        return xp.asarray(xp.not_equal(a, b, out=out))


class LogicalAnd(_Comparison):
    """a AND b elementwise (torch.logical_and): nonzero counts as True; bool result.

    >>> ge.ops.logical_and(x > -1, x < 1)
    """

    name = "logical_and"

    def forward(self, xp, a, b, out=None):
        return xp.asarray(xp.logical_and(a, b, out=out))


class LogicalOr(_Comparison):
    """a OR b elementwise (torch.logical_or): nonzero counts as True; bool result.

    >>> ge.ops.logical_or(x < -1, x > 1)
    """

    name = "logical_or"

    def forward(self, xp, a, b, out=None):
        return xp.asarray(xp.logical_or(a, b, out=out))


class LogicalNot(ge.Op):
    """NOT x elementwise (torch.logical_not): True where x is zero (False); bool result.

    >>> ge.ops.logical_not(mask)
    """

    name = "logical_not"
    saves = ()
    differentiable = False

    def forward(self, xp, x, out=None):
        return xp.asarray(xp.logical_not(x, out=out))

    def shape(self, x):
        return x

    def dtype(self, x):
        return BOOL


def target_dtype(dtype):
    """The ``dtype`` attribute of cast as a NumPy dtype (bool, integer or floating)."""
    if dtype is None:
        raise AttributeSpecError("cast needs dtype=, e.g. ge.ops.cast(x, dtype='float32') or x.astype('int64')")
    try:
        target = np.dtype(dtype)
    except TypeError:
        raise AttributeSpecError(f"cast: dtype={dtype!r} is not a dtype; give e.g. dtype='float32', 'int64' or "
                                 "'bool'") from None
    if target.kind not in "biuf":
        raise AttributeSpecError(f"cast: dtype {target} is not numeric; graphengine arrays are bool, integer or "
                                 "floating")
    return target


class Cast(ge.Op):
    """y = x converted to ``dtype`` (torch ``x.to(dtype)``; also ``node.astype(dtype)``).

    Floating to integer truncates toward zero; to bool gives x != 0. Between floating
    dtypes d/dx = 1, and the gradient comes back in x's dtype; a cast to or from an
    integer or bool dtype passes no gradient (as in PyTorch, where integer tensors have
    none).

    >>> x.astype("float32")           # same as ge.ops.cast(x, dtype="float32")
    >>> ge.ops.cast(x > 0, dtype="float32")    # a mask as 0.0 / 1.0
    """

    name = "cast"
    saves = ("inputs",)

    def forward(self, xp, x, *, dtype: str | type | np.dtype = None):
        return x.astype(target_dtype(dtype))  # a new array, also for the same dtype

    def backward(self, xp, grad, inputs, output, *, dtype=None):
        x = inputs[0]
        if x.dtype.kind != "f" or target_dtype(dtype).kind != "f":
            return (None,)
        return (grad.astype(x.dtype, copy=False),)

    def shape(self, x, *, dtype=None):
        target_dtype(dtype)
        return x

    def dtype(self, x, *, dtype=None):
        return target_dtype(dtype)


class StopGradient(ge.Op):
    """y = x, with no gradient flowing back to x (jax.lax.stop_gradient; torch's
    ``x.detach()``, also ``ge.ops.detach``).

    >>> target = ge.ops.stop_gradient(reward + gamma * next_value)    # a fixed regression target
    """

    name = "stop_gradient"
    saves = ()
    differentiable = False

    def forward(self, xp, x):
        return xp.asarray(x).copy()

    def shape(self, x):
        return x


class Detach(StopGradient):
    """y = x, with no gradient flowing back to x (torch ``x.detach()``; the same op as
    ``ge.ops.stop_gradient``).

    >>> ge.ops.detach(h)
    """

    name = "detach"
