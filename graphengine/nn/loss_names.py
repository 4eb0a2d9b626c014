"""The op names a model may use as its loss by name (``model.evaluate(X, y, loss="mse")``,
the loss a ``ge.nn.load`` file names).

A loss op is a registered op with two inputs (output, target) and a ``reduction``
attribute: ``fit`` and ``evaluate`` call ``ge.ops.<loss>(output, target, reduction="mean")``.
The built-in ones are ``cross_entropy``, ``nll``, ``hinge``, ``mse``, ``mae``,
``binary_cross_entropy``, ``binary_cross_entropy_with_logits``, ``huber``, ``smooth_l1``
and ``kl_div``; an op a plugin registers with that signature is a loss op too.
"""

from __future__ import annotations

from ..errors import UnknownOpError, did_you_mean
from ..plugin_manager import default_manager
from .errors import ModuleError


def loss_op_names(manager=None) -> list[str]:
    """The registered ops a loss name may name, sorted.

    >>> names = loss_op_names()
    >>> "cross_entropy" in names, "mse" in names, "relu" in names
    (True, True, False)
    """
    manager = default_manager() if manager is None else manager
    names = []
    for name, op in manager.ops.items():
        arity, attrs, _any_keyword, _needs_grad = type(op).signature_info()
        if arity == 2 and "reduction" in attrs:
            names.append(name)
    return sorted(names)


def loss_name_problem(name, manager=None) -> str:
    """Why ``name`` cannot be used as a loss by name, or "" when it can.

    >>> loss_name_problem("mse")
    ''
    >>> loss_name_problem("relu")[:60]
    "op 'relu' is not a loss op (a loss takes (output, target) an"
    """
    manager = default_manager() if manager is None else manager
    names = loss_op_names(manager)
    if isinstance(name, str) and name in names:
        return ""
    listing = ", ".join(names)
    if isinstance(name, str) and name in manager.ops:
        return (f"op {name!r} is not a loss op (a loss takes (output, target) and a reduction attribute); "
                f"the loss ops are: {listing}.")
    return f"no loss op named {name!r:.60} is registered; the loss ops are: {listing}." + (
        did_you_mean(name, names) if isinstance(name, str) else "")


def check_loss_name(name: str, where: str, manager=None) -> None:
    """Raise where ``name`` is not a loss op: :class:`~graphengine.UnknownOpError` (an
    ``AttributeError``) for a name no plugin registered, :class:`ModuleError` for an op
    that is not a loss. ``where`` starts the message (``"Sequential.evaluate"``)."""
    problem = loss_name_problem(name, manager)
    if not problem:
        return
    manager = default_manager() if manager is None else manager
    error = ModuleError if name in manager.ops else UnknownOpError
    raise error(f"{where}: loss={name!r:.60}: {problem} Or pass a function loss(output, target) -> node.")


__all__ = ["loss_op_names", "loss_name_problem", "check_loss_name"]
