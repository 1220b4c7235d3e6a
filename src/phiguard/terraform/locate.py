"""Map a plan resource address to the `.tf` file and line that declares it (`--tf-root`).

Only the addresses of findings are looked up, and each directory is read once: a plan of
10,000 resources with three findings reads the handful of files those three live in.
"""

from __future__ import annotations

import re
from pathlib import Path

from phiguard.terraform.plan import Plan

__all__ = ["Locator"]

_BLOCK = re.compile(r'^[ \t]*resource\s+"(?P<type>[^"]+)"\s+"(?P<name>[^"]+)"', re.MULTILINE)
_MODULE_PART = re.compile(r"module\.([^.\[]+)(?:\[[^\]]*\])?\.")


class Locator:
    """Finds the declaring file and line of resource addresses under a Terraform root."""

    def __init__(self, root: Path, plan: Plan) -> None:
        self.root = root
        self.plan = plan
        self._dirs: dict[Path, dict[str, tuple[str, int]]] = {}

    def _index(self, directory: Path) -> dict[str, tuple[str, int]]:
        found = self._dirs.get(directory)
        if found is not None:
            return found
        found = {}
        for path in sorted(directory.glob("*.tf")):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for match in _BLOCK.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                key = f"{match.group('type')}.{match.group('name')}"
                found.setdefault(key, (str(path), line))
        self._dirs[directory] = found
        return found

    def locate(self, address: str) -> tuple[str, int] | None:
        """(file, line) of the block that declares `address`, or None if not found."""
        directory = self.root
        module_path = ""
        rest = address
        while True:
            match = _MODULE_PART.match(rest)
            if match is None:
                break
            module_path = f"{module_path}.module.{match.group(1)}" if module_path \
                else f"module.{match.group(1)}"
            source = self.plan.module_sources.get(module_path)
            if source is None or not source.startswith((".", "/")):
                return None  # a registry or git module: not in this tree
            directory = (directory / source).resolve()
            rest = rest[match.end():]
        resource = re.sub(r"\[[^\]]*\]$", "", rest)
        return self._index(directory).get(resource)
