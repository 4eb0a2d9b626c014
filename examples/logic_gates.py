"""AND, OR, NAND and XOR from hand-set weights with the step activation.

A perceptron computes y = h(b + w1·x1 + w2·x2) with the step h(a) = 1 if a > 0 else 0:

    AND:  w = (1, 1),   b = -1.5
    OR:   w = (1, 1),   b = -0.5
    NAND: w = (-1, -1), b = 1.5

XOR is not linearly separable, so no single perceptron computes it, but two layers do:
XOR(x) = AND(NAND(x), OR(x)). Each gate is a graph here (Dense layers with the weights
above as their initial values, then ge.ops.step); the figure shows each gate's decision
region with the four inputs, and a diagram shows the XOR network's graph with the values
of the input (1, 0) (when Graphviz's ``dot`` is installed).

    python examples/logic_gates.py --out out
"""

from __future__ import annotations

import _common
import numpy as np

import graphengine as ge

GATE_WEIGHTS = {
    "and": ([[1.0], [1.0]], [-1.5]),
    "or": ([[1.0], [1.0]], [-0.5]),
    "nand": ([[-1.0], [-1.0]], [1.5]),
}


def perceptron_gate(gate: str):
    """A one-layer graph computing ``gate`` with the step activation; returns (graph, x, output)."""
    W, b = GATE_WEIGHTS[gate]
    g = ge.Graph(gate)
    x = g.input("x", shape=(None, 2))
    layer = ge.nn.Dense(2, 1, init=np.array(W), bias_init=np.array(b), activation="step", name=gate)
    return g, x, layer(x)


def xor_network():
    """XOR = AND(NAND(x), OR(x)): a 2-2-1 network of step units with hand-set weights."""
    g = ge.Graph("xor")
    x = g.input("x", shape=(None, 2))
    hidden = ge.nn.Dense(2, 2, init=np.array([[-1.0, 1.0], [-1.0, 1.0]]), bias_init=np.array([1.5, -0.5]),
                         activation="step", name="nand_or")
    output = ge.nn.Dense(2, 1, init=np.array([[1.0], [1.0]]), bias_init=np.array([-1.5]), activation="step",
                         name="and")
    return g, x, output(hidden(x))


def evaluate(graph, x, out, points):
    return graph.forward({x: points.astype(np.float32)}, fetch=[out]).value(out).reshape(-1)


def main(argv=None):
    args = _common.parser(__doc__.splitlines()[0]).parse_args(argv)
    X = ge.data.truth_table("and")[0]
    networks = {gate: perceptron_gate(gate) for gate in GATE_WEIGHTS}
    networks["xor"] = xor_network()
    ok = True
    print("x1 x2 | " + " ".join(f"{k.upper():>4}" for k in networks))
    outputs = {k: evaluate(*net, X) for k, net in networks.items()}
    for i, (x1, x2) in enumerate(X.astype(int)):
        print(f" {x1}  {x2} | " + " ".join(f"{int(outputs[k][i]):>4}" for k in networks))
    for gate, values in outputs.items():
        expected = ge.data.truth_table(gate)[1]
        match = np.array_equal(values.astype(int), expected)
        ok &= match
        print(f"{gate.upper():>4}: {'matches' if match else 'DOES NOT match'} the truth table {expected.tolist()}")
    from graphengine.training.plots import new_figure

    fig, axes = new_figure(len(networks), size=(3.2, 3.2))
    grid = np.linspace(-0.5, 1.5, 201)
    gx, gy = np.meshgrid(grid, grid)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    for ax, (gate, net) in zip(axes, networks.items()):
        region = evaluate(*net, points).reshape(gx.shape)
        ax.contourf(gx, gy, region, levels=[-0.5, 0.5, 1.5], colors=["#f3d3c9", "#c9dcf3"])
        labels = ge.data.truth_table(gate)[1]
        for cls, color, marker in ((0, "#c0392b", "o"), (1, "#2c5aa0", "s")):
            sel = labels == cls
            ax.scatter(X[sel, 0], X[sel, 1], c=color, marker=marker, s=80, edgecolors="black", label=f"y = {cls}")
        ax.set_title(f"{gate.upper()} (step units)")
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        ax.set_aspect("equal")
    axes[0].legend(loc="upper left", fontsize=8)
    _common.save(fig, args, "logic_gates.png")

    # the hand-set XOR network as a diagram, with the values of one forward run
    import graphviz

    from graphengine.visualize import draw

    g, x, out = networks["xor"]
    run = g.forward({x: np.array([[1.0, 0.0]], np.float32)})
    try:
        path = draw(g, run, mode="forward").render(_common.figure_path(args, "xor_network"), format="png",
                                                    cleanup=True)
        print(f"figure: {path}")
    except graphviz.ExecutableNotFound as exc:
        print(f"(no diagram of the XOR network: {exc})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
