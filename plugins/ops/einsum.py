"""einsum: sums of products over named axes, as torch.einsum / numpy.einsum.

An op's inputs are nodes and its options keywords, so the equation is a keyword:
``ge.ops.einsum(a, b, equation="ij,jk->ik")`` (torch writes ``torch.einsum("ij,jk->ik",
a, b)``). Implicit output (``"ij,jk"``: the letters seen once, in alphabetical order),
``...`` for leading axes, repeated letters in one operand (``"ii->i"`` the diagonal,
``"ii"`` the trace) and size-1 axes broadcasting against a letter's size are supported.
"""

import string
from collections import Counter

import graphengine as ge
from graphengine import AttributeSpecError, ShapeError

from .shape import promote_arrays


def _parse(equation, ndims):
    """(input terms, output term) with ``...`` spelled out as letters for these operand ranks."""
    if not isinstance(equation, str):
        raise AttributeSpecError(f"einsum needs equation=, a string such as 'ij,jk->ik', got {equation!r}")
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ndims):
        raise AttributeSpecError(f"einsum equation {equation!r} names {len(terms)} operand"
                                 f"{'s' if len(terms) != 1 else ''}, but {len(ndims)} were given")
    for term in terms + [out]:
        letters = term.replace("...", "")
        if not all(c in string.ascii_letters for c in letters) or "." in letters:
            raise AttributeSpecError(f"einsum equation {equation!r}: {term!r} may hold letters and one '...' only")
    free = [c for c in string.ascii_letters if c not in eq]
    spans = []
    for term, ndim in zip(terms, ndims):
        named = len(term.replace("...", ""))
        spans.append(ndim - named if "..." in term else 0)
        if ("..." in term and ndim < named) or ("..." not in term and ndim != named):
            raise ShapeError(f"einsum equation {equation!r}: operand term {term!r} does not fit an operand of "
                             f"{ndim} axes")
    ellipsis = "".join(free[:max(spans, default=0)])
    terms = [t.replace("...", ellipsis[len(ellipsis) - k:]) for t, k in zip(terms, spans)]
    if arrow:
        out = out.replace("...", ellipsis)
        missing = [c for c in out if not any(c in t for t in terms)]
        if missing or len(set(out)) != len(out):
            raise AttributeSpecError(f"einsum equation {equation!r}: the output names each letter once and only "
                                     "letters of the operands")
    else:
        counts = Counter("".join(terms))
        out = ellipsis + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ellipsis))
    return terms, out


class Einsum(ge.Op):
    """y = einsum(equation, *operands): products over the letters the operands share,
    summed over the letters the output leaves out.

    The gradient of operand i is the einsum of the output's gradient with the other
    operands, back to operand i's letters (letters only operand i has are broadcast; a
    repeated letter puts the gradient on the diagonal).

    >>> ge.ops.einsum(a, b, equation="bij,bjk->bik")     # batched matmul
    >>> ge.ops.einsum(x, equation="ii")                  # trace
    """

    name = "einsum"
    arity = None
    saves = ("inputs",)

    def forward(self, xp, *operands, equation: str = None):
        terms, out = _parse(equation, [x.ndim for x in operands])
        operands = promote_arrays(operands)  # int32 with float32: float32, as torch
        return xp.asarray(xp.einsum(f"{','.join(terms)}->{out}", *operands))

    def backward(self, xp, grad, inputs, output, equation=None):
        terms, out = _parse(equation, [x.ndim for x in inputs])
        inputs = [x if x.dtype == grad.dtype else x.astype(grad.dtype) for x in inputs]  # integer operands
        grads = []
        for i, (x, term) in enumerate(zip(inputs, terms)):
            others = [t for j, t in enumerate(terms) if j != i]
            letters = "".join(dict.fromkeys(term))  # each letter once, in order
            seen = set(out).union(*others)
            kept = "".join(c for c in letters if c in seen)
            g = xp.einsum(f"{','.join([out] + others)}->{kept}", grad, *[v for j, v in enumerate(inputs) if j != i])
            sizes = dict(zip(kept, g.shape))
            for c, d in zip(term, x.shape):
                sizes.setdefault(c, d)
            g = xp.broadcast_to(xp.reshape(g, tuple(sizes[c] if c in kept else 1 for c in letters)),
                                tuple(sizes[c] for c in letters))
            if len(letters) < len(term):  # a repeated letter: the gradient sits on the diagonal
                spare = iter(c for c in string.ascii_letters if c not in out and c not in "".join(terms))
                renamed, pairs, eyes, used = "", [], [], set()
                for c, d in zip(term, x.shape):
                    if c in used:
                        new = next(spare)
                        renamed += new
                        pairs.append(c + new)
                        eyes.append(xp.eye(d, dtype=g.dtype))
                    else:
                        used.add(c)
                        renamed += c
                g = xp.einsum(f"{','.join([letters] + pairs)}->{renamed}", g, *eyes)
            grads.append(xp.ascontiguousarray(g))
        return tuple(grads)

    def shape(self, *shapes, equation=None):
        terms, out = _parse(equation, [len(s) for s in shapes])
        sizes = {}
        for i, (term, shape) in enumerate(zip(terms, shapes)):
            for c, d in zip(term, shape):
                if d is None or d == 1 and c in sizes:
                    sizes.setdefault(c, None)
                    continue
                known = sizes.get(c)
                if known not in (None, 1, d):
                    raise ShapeError(f"einsum {equation!r}: letter {c!r} has size {known} in an earlier operand and "
                                     f"{d} in operand {i}")
                sizes[c] = d
        return tuple(sizes[c] for c in out)
