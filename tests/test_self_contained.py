"""The tests are self-contained: nothing they read lives outside the repository, the
repository's paths are computed in one place (tests/_paths.py), and a test module takes its
helpers from helper modules, never from another test module or from conftest."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from _paths import REPO

TESTS = REPO / "tests"
# the test sources (the plugin example is a package of its own, installed by a test)
SOURCES = sorted(p for p in TESTS.rglob("*.py")
                 if ".hypothesis" not in p.parts and "plugin_example" not in p.parts)


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_the_sources_are_found() -> None:
    names = {p.name for p in SOURCES}
    assert {"conftest.py", "_paths.py", "test_self_contained.py", "server.py"} <= names


def test_no_test_module_imports_another_or_conftest() -> None:
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{_rel(path)}:{node.lineno} imports {name}" for name in names
                      if name.split(".")[0].startswith("test_") or name == "conftest"]
    assert found == []


def test_only_paths_py_climbs_from_a_test_file_to_the_repository() -> None:
    """Climbing from a test file's own path to the repository root is written once, in
    tests/_paths.py; every other module imports REPO, RULES, DEMO... from it."""
    found = []
    for path in SOURCES:
        if path.name in ("_paths.py", "__main__.py"):  # the emulator's `python -m` entry
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"__file__\)(\.resolve\(\))?\.(parent\.parent|parents\[)", line):
                found.append(f"{_rel(path)}:{n}: {line.strip()}")
    assert found == []


def test_nothing_climbs_above_the_repository() -> None:
    """No test takes the parent of the repository's root or joins `..` onto a path (the SARIF
    schema was once read from a folder beside the repository, and a fresh clone failed)."""
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr in ("parent", "parents")
                    and isinstance(node.value, ast.Name) and node.value.id in ("REPO", "TESTS")):
                found.append(f"{_rel(path)}:{node.lineno}: {node.value.id}.{node.attr}")
            if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
                    and isinstance(node.right, ast.Constant) and isinstance(node.right.value, str)
                    and node.right.value.replace("\\", "/").split("/")[0] == ".."):
                found.append(f"{_rel(path)}:{node.lineno}: / {node.right.value!r}")
    assert found == []


def test_no_hypothesis_example_has_a_wall_clock_limit_unless_it_asks() -> None:
    """conftest's profile: hypothesis's default 200 ms per example would fail a loaded run."""
    from hypothesis import settings

    assert settings.default.deadline is None
