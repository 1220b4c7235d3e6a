"""The public API: `phiguard.__all__` resolves, `import phiguard` stays cheap, and docs/api.md's
examples run and print what the page says."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys

import pytest

import phiguard
from _paths import REPO

BLOCK = re.compile(r"```python\n(.*?)```\n\n```text\n(.*?)```", re.S)


def test_every_public_name_resolves() -> None:
    """Each name in `phiguard.__all__` is importable from `phiguard`, and stays itself after
    every submodule is imported (a submodule named like a public name would replace it)."""
    import pkgutil

    for info in pkgutil.iter_modules(phiguard.__path__):
        assert info.name not in phiguard.__all__, info.name
    for name in phiguard.__all__:
        assert getattr(phiguard, name) is not None, name
    with pytest.raises(AttributeError):
        _ = phiguard.compile_rule  # type: ignore[attr-defined]


def test_import_phiguard_imports_nothing_else() -> None:
    """`import phiguard` loads no phiguard module but itself (the CLI's start stays cheap)."""
    code = "import sys, phiguard; print(sorted(m for m in sys.modules if 'phiguard' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "['phiguard']"


def test_api_doc_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/api.md's python blocks, run in order in one namespace from the repository root,
    print exactly the text block after each."""
    monkeypatch.chdir(REPO)
    pairs = BLOCK.findall((REPO / "docs" / "api.md").read_text(encoding="utf-8"))
    assert len(pairs) == 3
    namespace: dict[str, object] = {}
    for code, expected in pairs:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "docs/api.md", "exec"), namespace)
        assert out.getvalue() == expected
