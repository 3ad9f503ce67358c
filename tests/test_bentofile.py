"""The bento's include list (bentofile.yaml) holds every package module the service imports, directly or not:
a module left out is an ImportError only when the image starts."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from conftest import ROOT

PACKAGE = "sentiment_pipeline"


def package_imports(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports anywhere (top level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 or (node.module or "").startswith(PACKAGE):
                base = (node.module or "").removeprefix(PACKAGE).lstrip(".")
                if base:
                    found.add(base.split(".")[0])
                else:  # from . import x / from sentiment_pipeline import x
                    found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith(f"{PACKAGE}."))
    return {name for name in found if (ROOT / PACKAGE / f"{name}.py").is_file()}


def test_the_bento_includes_every_module_the_service_imports():
    included = {line.strip("/") for line in yaml.safe_load((ROOT / "bentofile.yaml").read_text())["include"]}
    needed, queue = set(), [ROOT / "service.py"]
    while queue:
        for name in package_imports(queue.pop()) - needed:
            needed.add(name)
            queue.append(ROOT / PACKAGE / f"{name}.py")
    modules = {f"{PACKAGE}/{name}.py" for name in needed} | {f"{PACKAGE}/__init__.py"}
    assert modules <= included, f"bentofile.yaml's include lacks {sorted(modules - included)}"
    assert "service.py" in included
