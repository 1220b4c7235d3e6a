"""The module graph of src/phiguard: imports go only downward through the layers, and no
module imports itself back through others.

Imports are read with `ast` from every module, including those inside functions and under
`if TYPE_CHECKING:` (a command that imports the CLI's helpers inside a function depends on the
CLI as much as one importing them at the top).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from _paths import SRC

# Bottom to top. A module may import its own layer and the layers below it, never above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("phiguard._util", "phiguard.errors", "phiguard.redaction",
              "phiguard.__version__")),
    ("model", ("phiguard.findings", "phiguard.inventory", "phiguard.google",
               "phiguard.policy", "phiguard.config", "phiguard.testing")),
    ("services", ("phiguard.terraform", "phiguard.collect", "phiguard.store",
                  "phiguard.report", "phiguard.fix")),
    # phiguard.beam: the scan as a Beam pipeline, beside phiguard.scan (runs use both)
    ("runs", ("phiguard.runs", "phiguard.scan", "phiguard.plugins", "phiguard.beam")),
    ("cli", ("phiguard.cli",)),
    # The package itself is the public API: it may import any layer, and the layers below
    # may take only `__version__` from it (counted as the base layer above).
    ("api", ("phiguard",)),
]


def _modules(src: Path) -> dict[str, Path]:
    found = {}
    for path in sorted((src / "phiguard").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """(imported phiguard module, line) for every import in the module, at any depth."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                # `from phiguard.policy import rule` imports the module phiguard.policy.rule;
                # `from phiguard import __version__` only the version.
                child = f"{module}.{alias.name}"
                yield (child if child in known or child == "phiguard.__version__" else module,
                       node.lineno)


def _graph(src: Path) -> dict[str, dict[str, int]]:
    """module -> {phiguard module it imports: line}."""
    modules = _modules(src)
    known = set(modules)
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        for target, line in _imports(name, path, known):
            if target != "phiguard" and not target.startswith("phiguard."):
                continue
            while target not in known and target != "phiguard.__version__" and "." in target:
                target = target.rpartition(".")[0]  # `import phiguard.x.Name` style
            if target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


def _layer(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (length of the matching prefix, layer)
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rank)
    return None if best is None else best[1]


def upward_imports(src: Path) -> list[str]:
    graph = _graph(src)
    problems = []
    for module, edges in sorted(graph.items()):
        mine = _layer(module)
        if mine is None:
            problems.append(f"{module}: in no layer (add its package to LAYERS)")
            continue
        for target, line in sorted(edges.items()):
            theirs = _layer(target)
            if theirs is not None and theirs > mine:
                problems.append(f"{module}:{line} imports {target} "
                                f"({LAYERS[mine][0]} -> {LAYERS[theirs][0]})")
    return problems


def cycles(src: Path) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    edges_of = _graph(src)
    graph = {m: sorted(t for t in edges if t in edges_of) for m, edges in edges_of.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = graph[node]
            if i < len(targets):
                work.append((node, i + 1))
                nxt = targets[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def test_every_module_is_in_a_layer_and_imports_only_downward() -> None:
    assert upward_imports(SRC) == []


def test_no_import_cycle() -> None:
    assert cycles(SRC) == []


def test_the_library_never_imports_the_command_line() -> None:
    """The CLI is the top: nothing under src/phiguard outside phiguard.cli imports it."""
    graph = _graph(SRC)
    assert [m for m, edges in graph.items()
            if not m.startswith("phiguard.cli") and any(t.startswith("phiguard.cli")
                                                       for t in edges)] == []


@pytest.mark.parametrize("source, problem", [
    ("from phiguard.cli import main\n", "imports phiguard.cli (model -> cli)"),
    ("def f():\n    from phiguard.runs import scan\n", "imports phiguard.runs.scan"),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import phiguard.report.text\n",
     "imports phiguard.report.text (model -> services)"),
    ("from ..report import text\n", "imports phiguard.report.text"),
    ("from phiguard import testing\n", None),
])
def test_the_checks_see_every_form_of_import(tmp_path: Path, source: str,
                                             problem: str | None) -> None:
    """An upward import is found at module level, in a function, under TYPE_CHECKING and as
    a relative import; a downward one is not reported."""
    root = tmp_path / "phiguard"
    for module in ("runs/scan", "cli/__init__", "report/text", "testing"):
        (root / module).parent.mkdir(parents=True, exist_ok=True)
        (root / f"{module}.py").write_text("")
    for package in ("", "runs", "report", "policy"):
        (root / package).mkdir(exist_ok=True)
        (root / package / "__init__.py").write_text("")
    (root / "policy" / "engine.py").write_text(source)
    found = upward_imports(tmp_path)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0], found


def test_a_cycle_is_found(tmp_path: Path) -> None:
    root = tmp_path / "phiguard"
    (root / "policy").mkdir(parents=True)
    for name in ("__init__.py", "policy/__init__.py"):
        (root / name).write_text("")
    (root / "policy" / "a.py").write_text("def f():\n    from phiguard.policy import b\n")
    (root / "policy" / "b.py").write_text("from phiguard.policy.c import x\n")
    (root / "policy" / "c.py").write_text("import phiguard.policy.a\nx = 1\n")
    assert cycles(tmp_path) == [["phiguard.policy.a", "phiguard.policy.b", "phiguard.policy.c"]]
