"""The example plugin depends on graphengine by its distribution name, ``graphengine-nn``.

graphengine is imported as ``graphengine`` but distributed as ``graphengine-nn``; a plugin
that declared ``graphengine`` would make pip fetch an unrelated project of that name.
"""

from __future__ import annotations

import pathlib
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = pathlib.Path(__file__).resolve().parents[2]


def project(path: pathlib.Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))["project"]


def test_the_example_plugin_requires_the_main_distribution():
    main = canonicalize_name(project(REPO / "pyproject.toml")["name"])
    assert main == "graphengine-nn"
    requirements = [Requirement(r) for r in project(REPO / "examples" / "plugin-package" / "pyproject.toml")["dependencies"]]
    names = {canonicalize_name(r.name) for r in requirements}
    assert main in names, f"examples/plugin-package depends on {sorted(names)}, not on {main}"
    assert "graphengine" not in names, "a dependency on 'graphengine' names an unrelated project; use graphengine-nn"
    (ours,) = [r for r in requirements if canonicalize_name(r.name) == main]
    assert ours.specifier.contains(project(REPO / "pyproject.toml")["version"]), ours


BAD = ("pip install graphengine ", "pip install graphengine[", "pip install 'graphengine[", 'pip install "graphengine[',
       '"graphengine>=', "'graphengine>=")


def test_docs_and_messages_never_tell_users_to_install_the_unrelated_distribution():
    files = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "examples").rglob("*.md"))]
    for folder in ("graphengine", "plugins", "visualize", "examples", "scripts"):
        files += sorted(p for p in (REPO / folder).rglob("*") if p.suffix in (".py", ".sh", ".toml"))
    assert len(files) > 50
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for bad in BAD:
                assert bad not in line + " ", f"{path.relative_to(REPO)}:{number}: {line.strip()}"
