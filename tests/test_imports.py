"""The package's imports run one way: no circle, runtime never imports webui or export, the
webui's layers import downwards only, and only the HTTP layer imports Flask.

Every module of the installed package (pyproject's package-dir mapping) is parsed, not imported;
imports inside functions (lazy ones) count like those at the top."""

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# only these import Flask (or Werkzeug, which comes with it)
HTTP_LAYER = ("edgemask.webui.routes", "edgemask.webui.app", "edgemask.webui.access")
HTTP_PACKAGES = {"flask", "werkzeug"}

# webui's layers, top first: a module may import its own layer and those below, never above
# (routes -> ai, imaging, dataset_io, store -> formats -> runtime)
WEBUI_LAYERS = (
    ("edgemask.webui.routes", "edgemask.webui.app", "edgemask.webui.cli"),
    ("edgemask.webui.ai", "edgemask.webui.imaging", "edgemask.webui.dataset_io"),
    ("edgemask.webui.store",),
    ("edgemask.webui.formats",),
)


def package_dirs(root: Path) -> dict:
    """{package name: folder} from pyproject.toml's [tool.setuptools.package-dir]."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    return {name: root / folder for name, folder in config["tool"]["setuptools"]["package-dir"].items()}


def find_modules(dirs: dict) -> dict:
    """{module name: (file, is_package)} of every .py file under the mapped folders."""
    found = {}
    # a folder mapped to a subpackage is that subpackage's, not its parent's
    for package, folder in sorted(dirs.items(), key=lambda kv: -kv[0].count(".")):
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            parts = list(rel.parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            name = ".".join([package, *parts])
            found.setdefault(name, (path, is_package))
    return found


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, is_package: bool, modules) -> set:
    """The names this module imports (anywhere in it): a module of `modules` when the name is one
    (`from pkg import sub` imports pkg.sub), else the imported name as written."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    return found


def import_graph(root: Path) -> dict:
    """({module: the names it imports}, the set of the package's modules)."""
    modules = find_modules(package_dirs(root))
    graph = {}
    for name, (path, is_package) in modules.items():
        graph[name] = imports_of(name, path, is_package, modules)
    return graph, set(modules)


def circles(graph: dict, modules: set) -> list:
    """The import circles (strongly connected groups of modules, or a module importing itself).

    A module's import of one of its own packages (a route module taking `bp` from routes/__init__)
    is no edge: Python runs a package's __init__ before any of its modules, so that import finds
    what __init__ defined before importing the module, whatever the order."""
    graph = {v: {w for w in targets if not v.startswith(w + ".")} for v, targets in graph.items()}
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):  # Tarjan's algorithm
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v] & modules):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph[v]:
                out.append(sorted(group))

    for v in sorted(modules):
        if v not in index:
            visit(v)
    return out


def _in(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.fixture(scope="module")
def graph():
    return import_graph(ROOT)


def test_the_scan_sees_the_package_and_its_lazy_imports(graph):
    edges, modules = graph
    assert {"edgemask.cli", "edgemask.images", "edgemask.runtime.predictor", "edgemask.webui.app",
            "edgemask.export.exporter"} <= modules
    # imported inside precompute() only
    assert "edgemask.runtime.precompute_ray" in edges["edgemask.runtime.precompute"]
    assert "edgemask.images" in edges["edgemask.runtime.precompute"]


def test_no_import_circle(graph):
    edges, modules = graph
    assert circles(edges, modules) == []


def test_runtime_imports_neither_webui_nor_export(graph):
    edges, _ = graph
    wrong = sorted((m, t) for m, targets in edges.items() if _in(m, ["edgemask.runtime"])
                   for t in targets if _in(t, ["edgemask.webui", "edgemask.export"]))
    assert wrong == []


def test_shared_modules_import_no_ui(graph):
    edges, _ = graph
    wrong = sorted((m, t) for m, targets in edges.items()
                   if m.count(".") == 1 and m.startswith("edgemask.") and m != "edgemask.cli"
                   and not _in(m, ["edgemask.webui", "edgemask.runtime", "edgemask.export"])
                   for t in targets if _in(t, ["edgemask.webui", "edgemask.export"]))
    assert wrong == []


def test_only_the_http_layer_imports_flask(graph):
    edges, _ = graph
    wrong = sorted((m, t) for m, targets in edges.items() if not _in(m, HTTP_LAYER)
                   for t in targets if t.split(".")[0] in HTTP_PACKAGES)
    assert wrong == []


def test_webui_layers_import_downwards(graph):
    edges, modules = graph
    assert all(any(_in(m, [p]) for m in modules) for layer in WEBUI_LAYERS for p in layer), \
        "a layer named here is not in the package"

    def rank(module):
        return next((i for i, layer in enumerate(WEBUI_LAYERS) if _in(module, layer)), None)

    wrong = sorted((m, t) for m, targets in edges.items() if rank(m) is not None
                   for t in targets if rank(t) is not None and rank(t) < rank(m))
    assert wrong == []


def test_the_checks_find_what_they_look_for(tmp_path):
    """A package made here with a lazy circle, a relative import and a runtime -> webui import."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools.package-dir]\n"edgemask" = "pkg"\n"edgemask.runtime" = "rt"\n')
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("thing = 1\nfrom . import c\n")
    (tmp_path / "pkg" / "a.py").write_text("def f():\n    from edgemask import b\n")
    (tmp_path / "pkg" / "b.py").write_text("from . import a\n")
    (tmp_path / "pkg" / "c.py").write_text("from edgemask import thing\n")  # its own package: no edge
    (tmp_path / "rt").mkdir()
    (tmp_path / "rt" / "__init__.py").write_text("")
    (tmp_path / "rt" / "x.py").write_text("def g():\n    from ..webui.thing import y\n")
    edges, modules = import_graph(tmp_path)
    assert modules == {"edgemask", "edgemask.a", "edgemask.b", "edgemask.c", "edgemask.runtime", "edgemask.runtime.x"}
    assert circles(edges, modules) == [["edgemask.a", "edgemask.b"]]
    assert edges["edgemask.runtime.x"] == {"edgemask.webui.thing"}
