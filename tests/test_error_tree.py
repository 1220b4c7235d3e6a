"""The error tree drawn in phiguard/errors.py is the package's: every exception class phiguard
defines is drawn there under its real parent, and descends from PhiguardError (so the CLI
turns it into a message and exit 2, never a traceback) unless it is listed as internal control
flow. Adding an exception class without drawing it fails here."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

import phiguard
from phiguard import errors
from phiguard.errors import PhiguardError

PACKAGE = Path(phiguard.__file__).parent
_BRANCH = re.compile(r"^(?P<lead>[│├└─ ]*)(?P<name>[A-Z_]\w*)(?:\s+(?P<text>.*))?$")
_INTERNAL = re.compile(r"^\s{4}(?P<module>[a-z_][\w.]*)\.(?P<name>_\w+)\s+\S")


@dataclass(frozen=True)
class Drawn:
    name: str
    parent: str | None
    text: str


def _drawing(doc: str) -> tuple[dict[str, Drawn], dict[str, str]]:
    """The tree (name -> drawn entry) and the internal classes (name -> module) of a docstring
    laid out as errors.py's: tree lines indented four spaces, branches of four columns."""
    tree: dict[str, Drawn] = {}
    internal: dict[str, str] = {}
    stack: list[str] = []
    in_internal = False
    for raw in doc.splitlines():
        if raw.startswith("Internal control flow"):
            in_internal = True
            continue
        if in_internal:
            if (hit := _INTERNAL.match(raw)) is not None:
                internal[hit["name"]] = hit["module"]
            continue
        if not raw.startswith("    ") or not raw.strip():
            continue
        hit = _BRANCH.match(raw[4:])
        if hit is None:
            continue
        depth = len(hit["lead"]) // 4  # "├── " or "│   " per level
        del stack[depth:]
        assert hit["name"] not in tree, f"{hit['name']} is drawn twice"
        tree[hit["name"]] = Drawn(hit["name"], stack[-1] if stack else None, hit["text"] or "")
        stack.append(hit["name"])
    return tree, internal


def _module_names() -> list[str]:
    names = []
    for file in sorted(PACKAGE.rglob("*.py")):
        parts = list(file.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__main__":  # running it runs the CLI
            continue
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def _modules() -> list[ModuleType]:
    return [importlib.import_module(name) for name in _module_names()]


def _package_exceptions() -> set[type[BaseException]]:
    """Every exception class defined in phiguard: module attributes, and every subclass of a
    built-in exception whose module is phiguard's (classes nested in classes too)."""
    found: set[type[BaseException]] = set()
    for module in _modules():
        for value in vars(module).values():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == module.__name__):
                found.add(value)
    todo: list[type[BaseException]] = [BaseException]
    seen: set[type[BaseException]] = set()
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
                if sub.__module__.split(".")[0] == "phiguard":
                    found.add(sub)
    return found


def _short(module: str) -> str:
    return module.removeprefix("phiguard.")


TREE, INTERNAL = _drawing(errors.__doc__ or "")
FOUND = _package_exceptions()


def test_the_drawing_is_read() -> None:
    # the reader of the drawing itself: a broken layout must not make every check vacuous
    assert TREE["PhiguardError"].parent is None
    assert TREE["SnapshotError"].parent == "InputError"
    assert TREE["UsageError"].parent == "PhiguardError"
    assert len(TREE) >= 10 and INTERNAL
    sample = """Errors.

    Root                  one
    ├── A                 two
    │   ├── B             three
    │   │   └── C         four
    │   └── D             five
    └── E                 six

Internal control flow (caught where raised):
    some.module._F        seven
"""
    tree, internal = _drawing(sample)
    assert {n: d.parent for n, d in tree.items()} == {
        "Root": None, "A": "Root", "B": "A", "C": "B", "D": "A", "E": "Root"}
    assert internal == {"_F": "some.module"}


def test_the_walk_finds_classes_outside_errors_py() -> None:
    names = {cls.__name__ for cls in FOUND}
    assert {"PhiguardError", "PlanError", "ApiError", "ExportError"} <= names


@pytest.mark.parametrize("cls", sorted(FOUND, key=lambda c: (c.__module__, c.__qualname__)),
                         ids=lambda c: f"{_short(c.__module__)}.{c.__qualname__}")
def test_every_exception_class_is_drawn_under_its_parent(cls: type[BaseException]) -> None:
    where = f"{cls.__module__}.{cls.__qualname__}"
    if cls.__name__ in INTERNAL:
        assert INTERNAL[cls.__name__] == _short(cls.__module__), where
        assert cls.__name__.startswith("_"), f"{where}: internal control flow must be private"
        return
    assert cls.__name__ in TREE, f"{where} is not drawn in the tree in phiguard/errors.py"
    drawn = TREE[cls.__name__]
    assert issubclass(cls, PhiguardError), f"{where} does not descend from PhiguardError"
    if cls is PhiguardError:
        return
    ours = [base for base in cls.__bases__ if issubclass(base, PhiguardError)]
    assert len(ours) == 1, f"{where}: one parent in the tree, not {ours}"
    assert drawn.parent == ours[0].__name__, (
        f"{where} is drawn under {drawn.parent}, but its parent is {ours[0].__name__}")
    if cls.__module__ != errors.__name__:
        assert drawn.text.startswith(f"{_short(cls.__module__)}: "), (
            f"{where}: the drawing names where it lives ('{_short(cls.__module__)}: ...')")
    for other in cls.__bases__:
        if other not in ours:
            assert getattr(builtins, other.__name__, None) is other, (
                f"{where}: a second base must be a built-in exception, not {other}")
            assert f"also a {other.__name__}" in drawn.text, (
                f"{where}: the drawing says it is also a {other.__name__}")


def test_nothing_drawn_is_missing_from_the_package() -> None:
    names = {cls.__name__ for cls in FOUND}
    assert set(TREE) - names == set()
    assert set(INTERNAL) - names == set()
    assert len(names) == len(FOUND), "two exception classes share a name"


def test_no_exception_class_hides_inside_a_function() -> None:
    # the walk sees classes that exist after import; one made inside a function would escape it
    hidden = []
    for name in _module_names():
        module = importlib.import_module(name)
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if not isinstance(inner, ast.ClassDef):
                    continue
                for base in inner.bases:
                    value = vars(module).get(base.id) if isinstance(base, ast.Name) else None
                    value = value or getattr(builtins, getattr(base, "id", ""), None)
                    if inspect.isclass(value) and issubclass(value, BaseException):
                        hidden.append(f"{name}.{node.name}.{inner.name}")
    assert hidden == []


def test_a_class_moved_under_the_root_keeps_its_handlers_meaning() -> None:
    """ApiError is a PhiguardError now: the fix verifier still says the context was unreadable
    (its ApiError handler comes before the general one), and the CLI's error path gives exit 2
    with the message, where an ApiError escaping a command used to be an internal error."""
    from datetime import UTC, datetime

    from phiguard.fix.api import ApiError
    from phiguard.fix.kinds import HTTPS_PROXY
    from phiguard.fix.verify import Verifier

    class Refusing:
        def call(self, method: str, params: object, body: object = None) -> object:
            raise ApiError(method, 403, "denied")

    proxy = {"name": "x", "sslPolicy": "projects/p1/global/sslPolicies/strict"}
    outcome, why = Verifier.of_recorded(None).judge(
        Refusing(), "TLS-002",  # type: ignore[arg-type]
        "//compute.googleapis.com/projects/p1/global/targetHttpsProxies/x", HTTPS_PROXY, {},
        proxy, datetime(2026, 11, 25, tzinfo=UTC))
    assert (outcome, why) == (
        "NOT-EVALUATED", "context unreadable: compute.sslPolicies.get: HTTP 403: denied")
    assert issubclass(ApiError, PhiguardError) and ApiError("m", 1, "x").exit_code == 2
