"""Plan values: mark what is known only after apply, and read Terraform attributes by path.

`with_unknowns(after, after_unknown)` puts an `UnknownValue` wherever `after_unknown` says the
value will be known only after apply, so the engine yields UNKNOWN (never PASS or FAIL) for a
rule that reads it. `tf_get` reads `a.b.c`, stepping through Terraform's one-element block lists.
"""

from __future__ import annotations

from typing import Any

from phiguard.inventory.asset import UnknownValue

__all__ = ["AFTER_APPLY", "is_unknown", "set_path", "tf_get", "with_unknowns"]

AFTER_APPLY = UnknownValue("known only after apply")


def is_unknown(value: Any) -> bool:
    return isinstance(value, UnknownValue)


def with_unknowns(after: Any, unknown: Any) -> Any:
    """`after` with `UnknownValue` at every place `after_unknown` marks true (inputs unchanged)."""
    if unknown is True:
        return AFTER_APPLY
    if not unknown:
        return after
    if isinstance(unknown, dict):
        if after is not None and not isinstance(after, dict):
            return after
        out = dict(after or {})
        for key, mark in unknown.items():
            if mark is True:  # the usual mark: the whole attribute (`id`, `self_link`)
                out[key] = AFTER_APPLY
            elif mark:
                out[key] = with_unknowns(out.get(key), mark)
        return out
    if isinstance(unknown, list):
        if after is not None and not isinstance(after, list):
            return after
        items = list(after or [])
        for i, mark in enumerate(unknown):
            if not mark:
                continue
            if i < len(items):
                items[i] = with_unknowns(items[i], mark)
            else:
                items.append(with_unknowns(None, mark))
        return items
    return after


_MISSING = object()


_SPLIT: dict[str, tuple[str, ...]] = {}


def _keys(path: str) -> tuple[str, ...]:
    keys = _SPLIT.get(path)
    if keys is None:
        keys = _SPLIT[path] = tuple(path.split("."))
    return keys


def tf_get(value: Any, path: str, default: Any = None) -> Any:
    """The attribute at a dotted path; blocks (lists of objects) are entered at their first
    element. An unknown on the way gives that unknown; an absent part gives `default`."""
    if type(value) is dict and "." not in path:  # the common case: a top-level attribute
        got = value.get(path)
        return default if got is None else got
    for key in _keys(path):
        if isinstance(value, UnknownValue):
            return value
        if isinstance(value, list):
            if not value:
                return default
            value = value[0]
            if isinstance(value, UnknownValue):
                return value
        if not isinstance(value, dict):
            return default
        value = value.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
    return value


def set_path(target: dict[str, Any], path: str, value: Any) -> None:
    """Set `a.b.c` in a nested dict, creating the dicts on the way."""
    keys = _keys(path)
    if len(keys) == 1:
        target[path] = value
        return
    node = target
    for key in keys[:-1]:
        nxt = node.get(key)
        if not isinstance(nxt, dict):
            nxt = {}
            node[key] = nxt
        node = nxt
    node[keys[-1]] = value
