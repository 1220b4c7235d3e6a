"""Rule paths: `root.key[0].other[*]['odd.key']`, parsed once and resolved per asset."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from phiguard.errors import RuleError
from phiguard.inventory.asset import UnknownValue
from phiguard.inventory.coverage import PartialItems

__all__ = ["ALL", "MISSING", "Misshapen", "Path", "PathSyntaxError", "Unresolved", "json_kind",
           "parse_path"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<absent>"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # a path that leads nowhere


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A reference whose target is not in the snapshot: anything read through it is UNKNOWN."""

    ref: str


ALL = object()  # the `[*]` segment


class Misshapen(UnknownValue):
    """A value of another JSON shape than the one a path reads it as: a key walked through a
    list or a string (Terraform's blocks are lists of one object where Google's APIs define an
    object), a fan-out or index over an object. Nothing under it is known: it is neither absent
    nor present. `path` is the concrete path of the value itself."""

    __slots__ = ("path",)

    def __init__(self, why: str, path: str = "") -> None:
        super().__init__(why)
        self.path = path


# The JSON kind of a Python value as a reason names it.
_KINDS: dict[type, str] = {dict: "an object", list: "a list", tuple: "a list", str: "a string",
                           bool: "a boolean", int: "a number", float: "a number"}


def json_kind(value: Any) -> str:
    """`a list`, `a string`, ...: how a reason names the JSON type of a value."""
    return _KINDS.get(type(value), "a value")


# Roots whose values are Google's data (a resource, its IAM and org policies): a shape the path
# reads is one Google defines there (the contract tests hold every rule path to that).
_GOOGLE_ROOTS = ("data", "iam_policy", "org_policy")


def misshapen(value: Any, prefix: str, want: str) -> Misshapen:
    """What a path reads through `value` (at concrete path `prefix`), which is not `want`."""
    who = "Google defines" if prefix.startswith(_GOOGLE_ROOTS) else "the rule reads"
    return Misshapen(f"{json_kind(value)} where {who} {want}", prefix)

_TOKEN = re.compile(
    r"""\.?(?P<name>[A-Za-z_$][A-Za-z0-9_$-]*)   # .name
      |\[(?P<index>-?\d+)\]                        # [3]
      |\[(?P<all>\*)\]                             # [*]
      |\[(?P<q>['"])(?P<quoted>.*?)(?P=q)\]        # ['key.with/dots']
    """,
    re.VERBOSE,
)


class PathSyntaxError(RuleError, ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Path:
    """A parsed path: the root name and the segments after it."""

    text: str
    root: str
    segments: tuple[Any, ...]  # str key, int index, or ALL
    # For paths of plain keys only: the concrete path text after the root up to each segment.
    keys_only: tuple[str, ...] | None = None

    @property
    def fans_out(self) -> bool:
        return any(s is ALL for s in self.segments)


def parse_path(text: str) -> Path:
    """Parse a path or raise `PathSyntaxError` saying where it breaks."""
    if not isinstance(text, str) or not text:
        raise PathSyntaxError("a path must be a non-empty string")
    pos = 0
    segments: list[Any] = []
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or (pos == 0 and text.startswith(".")):
            raise PathSyntaxError(f"bad path {text!r} at character {pos + 1}")
        if match.group("name") is not None:
            if pos > 0 and not match.group(0).startswith("."):
                raise PathSyntaxError(f"bad path {text!r}: expected '.' at character {pos + 1}")
            segments.append(match.group("name"))
        elif match.group("index") is not None:
            segments.append(int(match.group("index")))
        elif match.group("all") is not None:
            segments.append(ALL)
        else:
            segments.append(match.group("quoted"))
        pos = match.end()
    if not segments or not isinstance(segments[0], str):
        raise PathSyntaxError(f"bad path {text!r}: it must start with a name")
    rest = tuple(segments[1:])
    keys_only = None
    if all(isinstance(seg, str) for seg in rest):
        cumulative, acc = [], ""
        for seg in rest:
            acc += _suffix(seg)
            cumulative.append(acc)
        keys_only = tuple(cumulative)
    return Path(text, segments[0], rest, keys_only)


_SUFFIX: dict[Any, str] = {}
_PLAIN = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


def _suffix(seg: Any) -> str:
    text = _SUFFIX.get(seg)
    if text is None:
        if isinstance(seg, int):
            text = f"[{seg}]"
        elif _PLAIN.fullmatch(seg):
            text = f".{seg}"
        else:
            text = f"[{seg!r}]"
        if len(_SUFFIX) < 100_000:
            _SUFFIX[seg] = text
    return text


def _fmt(prefix: str, seg: Any) -> str:
    return prefix + _suffix(seg)


Getter = Callable[[Any, str], Any]


def walk(value: Any, prefix: str, segments: tuple[Any, ...], get: Getter) -> tuple[Any, str]:
    """Follow segments from a value; fan-out gives a list. Returns (value, concrete path)."""
    suffixes = _SUFFIX
    for i, seg in enumerate(segments):
        kind = type(value)
        if kind is dict and type(seg) is str:
            # The hot path: a key of a JSON object.
            got = value.get(seg)
            value = MISSING if got is None else got
            prefix += suffixes.get(seg) or _suffix(seg)
            continue
        # (an unknown value of a subclass too: a list element that may not be one)
        if value is MISSING or kind is Unresolved or isinstance(value, UnknownValue):
            if kind is PartialItems and seg is ALL:
                # a list known in part fans out to the list of what its elements give, known
                # in part too (an unknown value of an element stays that)
                got, prefix = walk(value.items, prefix, segments[i:], get)
                return (PartialItems(value.why, got) if type(got) is list else got), prefix
            return value, prefix
        if seg is ALL:
            if kind is not list and kind is not tuple:
                if kind in _KINDS:
                    return misshapen(value, prefix, "a list"), prefix
                return MISSING, prefix
            rest = segments[i + 1:]
            nested = any(s is ALL for s in rest)
            # Object keys only after the fan-out (`nics[*].network`): each element's value
            # read in place, as the walk of it would (its concrete path is not needed).
            keys = not nested and all(type(s) is str for s in rest)
            out: list[Any] = []
            for j, item in enumerate(value):
                sub = item
                if keys:
                    for k, key in enumerate(rest):
                        if type(sub) is not dict:
                            sub, _ = walk(sub, "", rest[k:], get)
                            if type(sub) is Misshapen:
                                # walked again to name where it is (a rare shape)
                                sub, _ = walk(item, f"{prefix}[{j}]", rest, get)
                                return sub, sub.path
                            break
                        got = sub.get(key)
                        sub = MISSING if got is None else got
                else:
                    sub, _ = walk(item, "", rest, get)
                    if type(sub) is Misshapen:
                        sub, _ = walk(item, f"{prefix}[{j}]", rest, get)
                        return sub, sub.path
                if isinstance(sub, Unresolved | UnknownValue):
                    return sub, f"{prefix}[{j}]"
                if sub is MISSING:
                    continue
                if nested and isinstance(sub, list):
                    out.extend(sub)  # a later [*] fans out again: keep the result flat
                else:
                    out.append(sub)
            return out, f"{prefix}[*]" + "".join(_fmt("", s) for s in rest if s is not ALL)
        if isinstance(seg, int):
            if kind is not list and kind is not tuple:
                if kind in _KINDS:
                    return misshapen(value, prefix, "a list"), prefix
                value = MISSING
            else:
                value = value[seg] if -len(value) <= seg < len(value) else MISSING
        elif kind in _KINDS:
            # a key of a list, a string, a number or a boolean: not an object
            return misshapen(value, prefix, "an object"), prefix
        else:
            value = get(value, seg)
        prefix = _fmt(prefix, seg)
    return value, prefix


def _is_unknown(value: Any) -> bool:
    return isinstance(value, UnknownValue)
