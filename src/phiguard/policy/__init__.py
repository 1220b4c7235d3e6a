"""The rule language, its loader and its engine.

`operator` is the public way to add an operator (see docs/extending.md); the names are
imported on first use so that importing a submodule stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["EvalContext", "Operator", "operator"]

_FROM = {"EvalContext": "phiguard.policy.operators", "Operator": "phiguard.policy.operators",
         "operator": "phiguard.policy.operators"}


def __getattr__(name: str) -> Any:
    if name in _FROM:
        return getattr(importlib.import_module(_FROM[name]), name)
    raise AttributeError(f"module 'phiguard.policy' has no attribute {name!r}")
