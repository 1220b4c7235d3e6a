"""Frozen slotted dataclasses built on hot paths without their `__init__`.

A frozen dataclass's `__init__` sets each field with `object.__setattr__`, about twice what
making the instance costs through the slots' own descriptors. `slot_maker(cls)` writes, once
per class, a function taking the fields in declaration order (positionally or by name) that
makes an instance with `object.__new__` and sets every slot through its descriptor: the
readers make one Asset and Record per judged record, the engine one Finding per (rule,
asset), the plan gate one ResourceChange per change and one PlanFinding per finding.

The function runs no `__post_init__` and no validation: callers pass values they built
themselves. Its source is made from the class's field names only (identifiers, checked), so no
data ever becomes code; written out rather than looped so each call is as cheap as the
hand-unrolled makers it replaces.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, TypeVar

__all__ = ["slot_maker"]

T = TypeVar("T")


def slot_maker(cls: type[T], fixed: Mapping[str, Any] | None = None,
               defaults: Mapping[str, Any] | None = None) -> Callable[..., T]:
    """The maker of `cls` (a slotted dataclass). `fixed`: fields set to this value, not
    parameters; `defaults`: parameters that may be left out (they must be the last ones)."""
    fixed, defaults = dict(fixed or {}), dict(defaults or {})
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    unknown = (set(fixed) | set(defaults)) - set(names)
    if unknown or not all(n.isidentifier() for n in names):
        raise ValueError(f"{cls.__name__}: no such fields {sorted(unknown)}")
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    params, body = [], []
    for name in names:
        ns[f"_set_{name}"] = getattr(cls, name).__set__
        if name in fixed:
            ns[f"_fixed_{name}"] = fixed[name]
            body.append(f"    _set_{name}(out, _fixed_{name})")
            continue
        if name in defaults:
            ns[f"_default_{name}"] = defaults[name]
            params.append(f"{name}=_default_{name}")
        elif params and "=" in params[-1]:  # pragma: no cover - dev error
            raise ValueError(f"{cls.__name__}.{name}: a parameter without default after one with")
        else:
            params.append(name)
        body.append(f"    _set_{name}(out, {name})")
    source = "\n".join([f"def make({', '.join(params)}):", "    out = _new(_cls)", *body,
                        "    return out", ""])
    exec(compile(source, f"<slot maker of {cls.__name__}>", "exec"), ns)  # field names only
    maker: Callable[..., T] = ns["make"]
    return maker
