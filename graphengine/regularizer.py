"""``ge.Regularizer``: the base class regularizer plugins subclass.

A regularizer acts on parameters, in one of two ways, and says which in ``kind``:

* ``"penalty"``: adds ``strength * penalty(value)`` to the loss; its gradient is added to
  the parameter's gradient before the optimizer step (L2, L1). With adaptive optimizers
  (Adam) the penalty gradient is rescaled like any other gradient.
* ``"decay"``: decoupled weight decay, applied to the value after the optimizer step
  (AdamW style): ``value -= lr * strength * value``; it never touches the gradient.
* ``"constraint"``: projects the value after the step (max-norm).
"""

from __future__ import annotations

KINDS = ("penalty", "decay", "constraint")  # what a Regularizer.kind may be


class Regularizer:
    name = ""
    kind = "penalty"  # penalty | decay | constraint

    def __init__(self, strength: float = 1e-4, **options):
        self.strength = float(strength)
        self.options = options

    def penalty(self, xp, value):
        """Penalty term for one parameter (kind 'penalty'), as a 0-d array, *without* the
        strength: the loss gets ``strength * penalty(value)``."""
        raise NotImplementedError(f"regularizer {self.name!r} ({self.kind}) has no penalty")

    def gradient(self, xp, value):
        """Gradient of ``strength * penalty`` for one parameter (kind 'penalty')."""
        raise NotImplementedError(f"regularizer {self.name!r} ({self.kind}) has no penalty gradient")

    def apply(self, xp, value, lr: float):
        """New value after the optimizer step (kinds 'decay' and 'constraint')."""
        raise NotImplementedError(f"regularizer {self.name!r} ({self.kind}) does not act after the step")

    def __repr__(self) -> str:
        return f"<Regularizer {self.name} ({self.kind}), strength={self.strength}>"


__all__ = ["KINDS", "Regularizer"]
