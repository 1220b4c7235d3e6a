"""Switches that make the engine judge by its reference paths: the loop over rules
(`Engine._judge`) instead of a generated per-type evaluator, and the interpreted closures of
`compile_condition` instead of generated source. Tests compare the generated code with these."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from phiguard.policy import codegen
from phiguard.policy.compiler import compile_condition
from phiguard.policy.engine import Engine


@contextmanager
def interpreted() -> Iterator[None]:
    """Rules compiled inside this block use the closures of `compile_condition`, and engines
    judge inside it by the loop over rules (`Engine._judge`), not a generated evaluator: the
    reference everything generated is compared with."""
    real = codegen.generate_condition

    def closures(node: Any, consts: frozenset[str] = frozenset(), name: str = "",
                 lets: frozenset[str] = frozenset()) -> Any:
        return compile_condition(node, consts)
    codegen.generate_condition = closures  # type: ignore[assignment]
    try:
        with looped():
            yield
    finally:
        codegen.generate_condition = real  # type: ignore[assignment]


@contextmanager
def looped() -> Iterator[None]:
    """Engines judge inside this block by the loop over rules (`Engine._judge`)."""
    real = Engine._evaluator

    def loop(self: Engine, asset_type: str) -> Any:
        return self._judge
    Engine._evaluator = loop  # type: ignore[method-assign]
    try:
        yield
    finally:
        Engine._evaluator = real  # type: ignore[method-assign]
