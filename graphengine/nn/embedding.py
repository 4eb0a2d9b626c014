"""``ge.nn.Embedding``: a lookup table of learned vectors (torch.nn.Embedding).

>>> import numpy as np, graphengine as ge
>>> g = ge.Graph("bag_of_words")
>>> ids = g.input("ids", shape=(None, 5), dtype="int64")     # 5 token ids per example
>>> vectors = ge.nn.Embedding(1000, 16, padding_idx=0, seed=0)(ids)
>>> vectors.shape
(None, 5, 16)
"""

from __future__ import annotations

import numpy as np

from ..node import Node
from .module import Module, ModuleError, make_initial_value, portable_config


def _standard_normal(shape, dtype="float32", rng=None):
    """N(0, 1) entries, torch.nn.Embedding's initialization."""
    rng = np.random.default_rng() if rng is None else rng
    return rng.standard_normal(shape).astype(dtype)


class Embedding(Module):
    """``y[..., :] = weight[ids[...], :]``: row ``i`` of ``weight`` (num_embeddings,
    embedding_dim) is the vector of id ``i``; the output has shape ids.shape +
    (embedding_dim,). Built on ``ge.ops.embedding``: the gradient of a row is the sum of the
    gradients of every place it was looked up.

    As in PyTorch: ``weight`` starts as N(0, 1) draws (``init=`` takes an initializer name,
    callable, number or array instead); ``padding_idx`` (negative counts from the end)
    names a row that gets no gradient and starts at zero (unless ``init`` is an array,
    kept as given like ``torch.nn.Embedding.from_pretrained``).
    The ids are an integer node: ``g.input("ids", shape=(None, T), dtype="int64")``.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, *, init=None, dtype="float32",
                 name=None, seed=None):
        super().__init__(name=name, seed=seed)
        self.num_embeddings = _count(num_embeddings, "num_embeddings")
        self.embedding_dim = _count(embedding_dim, "embedding_dim")
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) \
                    or not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ModuleError(f"Embedding padding_idx must be an int in [{-self.num_embeddings}, "
                                  f"{self.num_embeddings}) (a row of the table), got {padding_idx!r}")
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        self.init = _standard_normal if init is None else init
        self.dtype = dtype

    def get_config(self) -> dict:
        return portable_config({"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim,
                                "padding_idx": self.padding_idx, "dtype": self.dtype, "name": self.name},
                               init=None if self.init is _standard_normal else self.init, seed=self.seed)

    @property
    def default_name(self) -> str:
        return "embedding"

    def forward(self, ids):
        import graphengine as ge

        if ids.dtype is not None and ids.dtype.kind not in "iu":
            raise ModuleError(
                f"Embedding {self.path!r} looks up integer ids, but {ids.name!r} is {ids.dtype}; declare it "
                "g.input(name, shape, dtype='int64') or cast it with ge.ops.cast(ids, dtype='int64')")
        shape = (self.num_embeddings, self.embedding_dim)
        init = self.init
        if "weight" not in self._params and self.padding_idx is not None and not hasattr(init, "shape"):
            # drawn here so the padding row can start at zero, as PyTorch's reset_parameters does
            init = make_initial_value(init, shape, self.dtype, self._init_rng(), f"{self.path}/weight").copy()
            init[self.padding_idx] = 0
        weight = self.add_param("weight", shape, init, self.dtype)
        return ge.ops.embedding(ids, weight, padding_idx=self.padding_idx)

    @property
    def weight(self) -> Node:
        if "weight" not in self._params:
            raise ModuleError("Embedding has no weight yet: call it on an ids node first")
        return self._params["weight"]

    def expected_param_shapes(self):
        if self._params or self.built:
            return super().expected_param_shapes()
        return {"weight": (self.num_embeddings, self.embedding_dim)}

    def extra_repr(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"


def _count(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ModuleError(f"Embedding {what} must be a positive int, got {value!r}")
    return int(value)


__all__ = ["Embedding"]
