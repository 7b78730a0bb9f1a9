"""The package has no import cycles, lazy imports and ``importlib`` included.

A cycle forces a reader to hold two modules in mind at once and breaks as soon as
one of its imports moves to module level. The graph is read from the sources (``ast``),
so the imports inside functions count too (``sgaplus --help`` imports lazily, and a
lazy cycle is still a cycle), as do those under ``if TYPE_CHECKING``.
``importlib.import_module`` with a literal name is an edge like an import statement;
with a computed name (``f".{name}"``) it is an edge to every module of the package
named by a string constant of the calling module: an over-approximation, which can
only report too much.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"


def module_names(root: Path) -> dict[str, Path]:
    """Dotted name -> source file of every module under ``root`` (a folder on sys.path)."""
    out = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _resolve(name: str, package: str, level: int) -> str:
    """An import's absolute dotted name (``level`` leading dots, relative to ``package``)."""
    if level == 0:
        return name
    base = package.split(".")[:len(package.split(".")) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The module an import of ``name`` runs: itself, or for ``from pkg import attr`` the package."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` imports, anywhere in its source."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[str] = []
    computed = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module or "", package, node.level)
            names += [f"{base}.{alias.name}" for alias in node.names]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                level = len(arg.value) - len(arg.value.lstrip("."))
                names.append(_resolve(arg.value[level:], package, level))
            else:
                computed = True
    if computed:  # every sibling or submodule a string of this module names
        strings = {n.value.replace("-", "_").lstrip(".") for n in ast.walk(tree)
                   if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        names += [f"{package}.{s}" for s in strings if f"{package}.{s}" in modules]
    found = {_target(n, modules) for n in names}
    return {m for m in found if m is not None and m != module}


def cycles(root: Path) -> list[list[str]]:
    """Every strongly connected set of two or more modules (Tarjan), each sorted."""
    modules = module_names(root)
    graph = {m: imports(m, p, modules) for m, p in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for m in sorted(graph):
        if m not in index:
            visit(m)
    return out


def test_the_package_has_no_import_cycles():
    assert cycles(SRC) == []


def test_a_cycle_through_importlib_is_found(tmp_path):
    """The shape CLIError had: the entry point imports its commands by computed name,
    and each command imports the entry point back for an exception class."""
    pkg = tmp_path / "app"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "main.py").write_text(
        "import importlib\nCOMMANDS = ('run-it',)\nclass Error(Exception): ...\n"
        "def build():\n    for n in COMMANDS:\n"
        "        importlib.import_module(f'{__package__}.{n.replace(\"-\", \"_\")}')\n")
    (pkg / "run_it.py").write_text("def run():\n    from .main import Error\n")
    (pkg / "lazy.py").write_text("import importlib\nimportlib.import_module('app.other')\n")
    (pkg / "other.py").write_text("from . import lazy\n")
    assert sorted(cycles(tmp_path)) == [["app.lazy", "app.other"], ["app.main", "app.run_it"]]
