"""The layering rules of DESIGN.md, checked on the source with ast and networkx.

Every module of graphengine/, plugins/ (graphengine.plugins) and visualize/
(graphengine.visualize) is parsed; every import statement counts, at module level and
inside functions alike, relative imports resolved. The core is graphengine.* without
graphengine.plugins and graphengine.visualize. The rules:

(a) no import cycle among core modules, not even through function-level imports;
(b) the core imports no graphengine.plugins.* module by name (plugins are found through
    the plugin manager: ge.ops, ge.optimizers.create, ge.regularizers.create);
(c) the core imports graphengine.visualize only inside functions, at the sites listed in
    VISUALIZE_SITES, never at module import time.
"""

from __future__ import annotations

import ast
import pathlib
from dataclasses import dataclass

import networkx as nx
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# source folder -> import name (pyproject maps plugins/ and visualize/ into graphengine)
SOURCES = {"graphengine": "graphengine", "plugins": "graphengine.plugins", "visualize": "graphengine.visualize"}
NOT_CORE = ("graphengine.plugins", "graphengine.visualize")

# Cycles tolerated for now, each a set of core modules: a cycle whose modules all lie in
# one of these sets passes. Nothing else may join them, and a set whose cycle is gone fails
# test_known_cycles_are_still_there. (The scheduler/run/codegen cycle was removed by the
# new execution core, and its entry with it.)
KNOWN_CYCLES: list = []

# Imports left out of the cycle check, each closing a cycle through the package itself
# (graphengine/__init__.py imports the module that imports it back): (importer, imported)
# -> how to remove it. Only that one import is tolerated; any other cycle among the same
# modules still fails.
KNOWN_BACK_IMPORTS: dict = {}  # (importer, imported) -> why: none left

# Where the core may import graphengine.visualize, always inside a function:
# (importing module, function) -> why.
VISUALIZE_SITES = {
    ("graphengine.graph", "Graph._repr_mimebundle_"): "Jupyter display of a graph",
    ("graphengine.run", "Run._repr_mimebundle_"): "Jupyter display of a run",
    ("graphengine.cli", "_cmd_render"): "the `graphengine render` command draws a saved graph",
    ("graphengine.cli", "build_parser"): "the options of the `graphengine render` and `graphengine explore` commands",
    ("graphengine.demo", "run_demo"): "the `graphengine demo` command writes the worked examples' diagrams",
}


@dataclass(frozen=True)
class Import:
    importer: str   # module name
    target: str     # module imported (the longest known module of the dotted name)
    line: int
    function: str   # qualified name of the enclosing function, "" at module level

    def where(self) -> str:
        place = f" in {self.function}()" if self.function else " at module level"
        return f"{MODULES[self.importer].relative_to(ROOT)}:{self.line}{place}"


def _modules() -> dict:
    modules = {}
    for folder, prefix in SOURCES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((prefix,) + parts)] = path
    return modules


MODULES = _modules()


def _known(dotted: str) -> str | None:
    """The longest prefix of ``dotted`` that is one of our modules (None: not ours)."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        name = ".".join(parts[:k])
        if name in MODULES:
            return name
    return None


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool):
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.scope: list[str] = []     # enclosing classes and functions
        self.functions = 0             # how many of them are functions
        self.imports: list[Import] = []

    def _enter(self, node, is_function):
        self.scope.append(node.name)
        self.functions += is_function
        self.generic_visit(node)
        self.functions -= is_function
        self.scope.pop()

    def visit_ClassDef(self, node):
        self._enter(node, False)

    def visit_FunctionDef(self, node):
        self._enter(node, True)

    visit_AsyncFunctionDef = visit_FunctionDef

    def _add(self, dotted, line):
        target = _known(dotted)
        if target is not None:
            self.imports.append(Import(self.module, target, line, ".".join(self.scope) if self.functions else ""))

    def visit_Import(self, node):
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node):
        if node.level:
            base = self.package.split(".")
            if node.level > 1:
                base = base[: len(base) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module
        for alias in node.names:
            # `from pkg import submodule` imports the submodule; `from pkg import name`, pkg
            self._add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module, node.lineno)


def _imports() -> list[Import]:
    found = []
    for name, path in MODULES.items():
        collector = _Collector(name, path.name == "__init__.py")
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found += collector.imports
    return found


IMPORTS = _imports()


def is_core(module: str) -> bool:
    return not any(module == p or module.startswith(p + ".") for p in NOT_CORE)


def core_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(m for m in MODULES if is_core(m))
    for imp in IMPORTS:
        if is_core(imp.importer) and is_core(imp.target) and (imp.importer, imp.target) not in KNOWN_BACK_IMPORTS:
            sites = graph.get_edge_data(imp.importer, imp.target, {}).get("sites", [])
            graph.add_edge(imp.importer, imp.target, sites=sites + [imp.where()])
    return graph


def cyclic_components(graph: nx.DiGraph) -> list[set]:
    return [c for c in nx.strongly_connected_components(graph)
            if len(c) > 1 or any(graph.has_edge(m, m) for m in c)]


def describe_cycle(graph: nx.DiGraph, component: set) -> str:
    cycle = nx.find_cycle(graph.subgraph(component))
    steps = [f"  {a} -> {b}  ({'; '.join(graph.edges[a, b]['sites'])})" for a, b in cycle]
    return " -> ".join([a for a, _ in cycle] + [cycle[0][0]]) + "\n" + "\n".join(steps)


# -------------------------------------------------------------------------------- the checks

def test_the_parser_sees_every_kind_of_import():
    """The collector itself: module and function level, relative, `from pkg import submodule`."""
    by_site = {(i.importer, i.target, bool(i.function)) for i in IMPORTS}
    assert ("graphengine.serialization", "graphengine.graph", False) in by_site          # from .graph import Graph
    assert ("graphengine.plugins.optimizers", "graphengine.plugins.optimizers.adam", False) in by_site  # from . import adam
    assert ("graphengine.graph", "graphengine.archive", True) in by_site                 # inside Graph.save
    assert ("graphengine.training.trainer", "graphengine.nn.module", True) in by_site   # from ..nn.module import
    assert len(MODULES) > 50 and all(path.is_file() for path in MODULES.values())


def test_no_import_cycle_among_core_modules():
    graph = core_graph()
    bad = [c for c in cyclic_components(graph) if not any(c <= known for known in KNOWN_CYCLES)]
    assert not bad, "import cycles among core modules (function-level imports count too):\n" + "\n".join(
        describe_cycle(graph, c) for c in bad) + "\nbreak each one: move the shared code into a module both can import"


def test_known_cycles_are_still_there():
    """A tolerated cycle that is gone must leave KNOWN_CYCLES, so it cannot come back unseen."""
    components = cyclic_components(core_graph())
    for known in KNOWN_CYCLES:
        assert any(c <= known for c in components), (
            f"the cycle among {sorted(known)} is gone: delete its line from KNOWN_CYCLES in {__file__}")


def test_known_back_imports_are_still_there():
    for importer, target in KNOWN_BACK_IMPORTS:
        assert any((imp.importer, imp.target) == (importer, target) for imp in IMPORTS), (
            f"{importer} no longer imports {target}: delete it from KNOWN_BACK_IMPORTS in {__file__}")


def test_core_imports_no_plugin_module_by_name():
    bad = [f"{imp.importer} imports {imp.target}: {imp.where()}" for imp in IMPORTS
           if is_core(imp.importer) and not is_core(imp.target) and imp.target.startswith("graphengine.plugins")]
    assert not bad, ("the core must find plugins through the plugin manager (ge.ops.<name>, "
                     "ge.optimizers.create, ge.regularizers.create), never import them by name:\n  " + "\n  ".join(bad))


def test_core_imports_visualize_only_lazily_at_the_listed_sites():
    imports = [imp for imp in IMPORTS if is_core(imp.importer) and imp.target.startswith("graphengine.visualize")]
    at_import_time = [f"{imp.importer} imports {imp.target}: {imp.where()}" for imp in imports if not imp.function]
    assert not at_import_time, "the core never imports graphengine.visualize at import time:\n  " + \
        "\n  ".join(at_import_time)
    unlisted = [f"{imp.importer} imports {imp.target}: {imp.where()}" for imp in imports
                if (imp.importer, imp.function) not in VISUALIZE_SITES]
    assert not unlisted, ("a new lazy import of graphengine.visualize in the core; DESIGN.md allows it for Jupyter "
                          "display only. Move the code into visualize, or list the site in VISUALIZE_SITES with "
                          "the reason:\n  " + "\n  ".join(unlisted))


@pytest.mark.parametrize("site", sorted(VISUALIZE_SITES))
def test_every_listed_visualize_site_exists(site):
    module, function = site
    assert any((imp.importer, imp.function) == site and imp.target.startswith("graphengine.visualize")
               for imp in IMPORTS), f"{function} in {module} no longer imports visualize: remove it from VISUALIZE_SITES"


def test_a_cycle_is_named_with_its_import_sites():
    """describe_cycle on a made-up graph: the message a failing check prints."""
    graph = nx.DiGraph()
    graph.add_edge("graphengine.a", "graphengine.b", sites=["graphengine/a.py:3 at module level"])
    graph.add_edge("graphengine.b", "graphengine.a", sites=["graphengine/b.py:9 in f()"])
    graph.add_edge("graphengine.b", "graphengine.c", sites=["graphengine/b.py:1 at module level"])
    (component,) = cyclic_components(graph)
    text = describe_cycle(graph, component)
    assert component == {"graphengine.a", "graphengine.b"}
    assert "graphengine/a.py:3 at module level" in text and "graphengine/b.py:9 in f()" in text
