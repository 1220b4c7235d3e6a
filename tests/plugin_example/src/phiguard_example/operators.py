"""The `phiguard.operators` entry point: importing this module registers `prefix_in`."""

from __future__ import annotations

from typing import Any

from phiguard.policy import EvalContext, operator


@operator("prefix_in", arg={"type": "array", "items": {"type": "string"}},
          doc="(text) starts with one of the listed prefixes",
          example={"path": "data.name", "prefix_in": ["acme-phi-", "acme-sec-"]})
def prefix_in(value: Any, arg: list[str], ctx: EvalContext) -> bool | None:
    if not isinstance(value, str):
        return None  # not text: UNKNOWN, never a PASS
    return any(value.startswith(prefix) for prefix in arg)
