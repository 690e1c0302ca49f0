"""The shape of the code: no import cycle between files, packages import one way, long files say why.

The graph is read from the source (``ast``), so it sees every import: at module level, under ``TYPE_CHECKING``
and inside functions. An import placed inside a function to dodge a cycle is still a cycle here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("medcore", "store", "indexer", "access", "search_app", "library", "trainer", "ui", "cli")
#: What each package may import from the project (besides itself): the layers, lowest first.
ALLOWED = {
    "medcore": set(),
    "store": {"medcore"},
    "indexer": {"medcore", "store"},
    "trainer": {"medcore"},
    "access": {"medcore", "store", "indexer"},
    "search_app": {"medcore", "store", "indexer"},
    "library": {"medcore", "store", "indexer", "access", "search_app"},
    "ui": {"medcore", "store", "indexer", "access", "search_app", "library"},
    "cli": {"medcore", "store", "indexer", "access", "search_app", "library", "trainer"},
}
MAX_LINES = 300
SIZE_REASON = "Size:"  # a module docstring line that says why the file is longer than MAX_LINES


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _known(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _with_parents(name: str, modules: dict[str, Path]) -> set[str]:
    """``name`` and the packages above it, whose ``__init__`` runs first."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in modules}


def import_graph() -> dict[str, set[str]]:
    """``{module: {project modules it imports}}`` from every import statement in every file."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    here = here[: len(here) - node.level + 1]
                    base = ".".join([*here, *([base] if base else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                known = _known(target, modules)
                if known:
                    deps |= _with_parents(known, modules)
        deps.discard(name)
        graph[name] = {d for d in deps if not name.startswith(d + ".")}  # a package's own __init__ runs first
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_imports_inside_functions_and_under_type_checking() -> None:
    graph = import_graph()
    assert "indexer.parse.files" in graph["indexer.parse.worker"]  # imported inside a function
    assert "store" in graph["indexer.index.build"]  # under TYPE_CHECKING


def test_no_import_cycle_between_files() -> None:
    assert _cycles(import_graph()) == []


def test_packages_import_one_way() -> None:
    wrong = []
    for module, deps in import_graph().items():
        package = module.split(".")[0]
        for dep in deps:
            other = dep.split(".")[0]
            if other != package and other not in ALLOWED[package]:
                wrong.append(f"{module} -> {dep}")
    assert wrong == []


def test_long_files_say_why() -> None:
    unexplained = []
    for name, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_LINES and SIZE_REASON not in (ast.get_docstring(ast.parse(text)) or ""):
            unexplained.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert unexplained == []


def test_every_table_is_declared_in_the_store_package() -> None:
    """One ``Base.metadata`` is the whole schema: a table declared elsewhere would be missed by a migration."""
    elsewhere = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__tablename__" for t in node.targets):
                if not name.startswith("store."):
                    elsewhere.append(name)
    assert elsewhere == []


def test_search_app_holds_retrieval_and_evaluation_only() -> None:
    """No watcher, upload or reading-list service and no presentation in ``search_app``: those are ``library``'s
    and ``ui``'s, and ``search_app`` imports neither them nor ``access``."""
    names = {m for m in _modules() if m.startswith("search_app.")}
    assert not names & {"search_app.watch", "search_app.library", "search_app.saved", "search_app.reading",
                        "search_app.present", "search_app.ui_scoring"}
    graph = import_graph()
    assert all(not d.startswith(("access", "library", "ui")) for m in names for d in graph[m])


def test_the_public_search_api_is_one_import() -> None:
    import search_app

    assert set(search_app.__all__) >= {"Searcher", "SearchFilters", "Hit"}
    from search_app import Hit, Searcher, SearchFilters  # noqa: F401 - the import is the test
    from search_app.searcher import Searcher as Direct

    assert Searcher is Direct
