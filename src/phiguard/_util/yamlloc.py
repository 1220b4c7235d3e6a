"""YAML loading with positions: safe_load semantics, duplicate keys and aliases rejected,
lines kept.

Mappings load as `LocDict` and sequences as `LocList`; both remember where they start and
where each key or element sits, so validators can report file, line and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from phiguard.errors import InputError

__all__ = ["LocDict", "LocList", "load_yaml", "position"]


class LocDict(dict[str, Any]):
    """A dict that knows its own position and each key's (1-based line, column)."""

    line: int = 0
    column: int = 0
    key_pos: dict[str, tuple[int, int]]

    def pos(self, key: str) -> tuple[int, int]:
        positions: dict[str, tuple[int, int]] = getattr(self, "key_pos", {})
        return positions.get(key, (self.line, self.column))


class LocList(list[Any]):
    """A list that knows its own position and each element's."""

    line: int = 0
    column: int = 0
    item_pos: list[tuple[int, int]]

    def pos(self, index: int) -> tuple[int, int]:
        items = getattr(self, "item_pos", [])
        return items[index] if index < len(items) else (self.line, self.column)


def position(obj: Any) -> tuple[int, int] | None:
    """The (line, column) where a loaded mapping or sequence starts, if known."""
    if isinstance(obj, LocDict | LocList) and obj.line:
        return obj.line, obj.column
    return None


# libyaml's parser when PyYAML has it (5x faster on the rule pack); constructors stay ours.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # The composer turns an alias into the anchored node itself, so a node met twice is
        # an alias. Aliases are refused, not expanded: a 1 KB "billion laughs" file expands
        # to gigabytes in whatever walks it, and no phiguard file needs them.
        if node in self.constructed_objects or node in self.recursive_objects:
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases (*name) are not accepted: write the value out "
                "(the anchor reused is the one here)", node.start_mark)
        return super().construct_object(node, deep=deep)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocDict:
    loader.flatten_mapping(node)
    out = LocDict()
    out.line, out.column = node.start_mark.line + 1, node.start_mark.column + 1
    out.key_pos = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        mark = key_node.start_mark
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_pos[key] = (mark.line + 1, mark.column + 1)
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocList:
    out = LocList(loader.construct_object(child, deep=True) for child in node.value)
    out.line, out.column = node.start_mark.line + 1, node.start_mark.column + 1
    out.item_pos = [(c.start_mark.line + 1, c.start_mark.column + 1) for c in node.value]
    return out


def _construct_timestamp_as_text(loader: _Loader, node: yaml.ScalarNode) -> str:
    # Dates stay text (`expires: 2027-01-31`); callers parse them with their own error messages.
    return str(loader.construct_scalar(node))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_text)


def load_yaml(path: Path, error: type[InputError] = InputError) -> Any:
    """Load one YAML document from `path`, raising `error` with the position on any problem."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        line = exc.object.count(b"\n", 0, exc.start) + 1
        raise error(f"not valid UTF-8 (byte {exc.start})", file=str(path), line=line) from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        if mark is not None:
            raise error(what, file=str(path), line=mark.line + 1, column=mark.column + 1) from None
        raise error(what, file=str(path)) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", file=str(path)) from None
    except RecursionError:
        raise error("YAML nested too deeply", file=str(path)) from None
