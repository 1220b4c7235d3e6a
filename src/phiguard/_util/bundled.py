"""Where the bundled HIPAA rule pack lives: inside the installed package, or in a checkout."""

from __future__ import annotations

from pathlib import Path

__all__ = ["rules_dir"]


def rules_dir() -> Path:
    """The bundled pack: `phiguard/_data/rules` in a wheel, `rules/` at a checkout's root."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "_data" / "rules"
    if packaged.is_dir():
        return packaged
    return package.parent.parent / "rules"
