"""Installed plugins, found through entry points and loaded once per process.

A separate package extends phiguard by declaring entry points (in its pyproject.toml):

    [project.entry-points."phiguard.operators"]
    acme = "acme_phiguard.operators"          # a module whose import registers operators
                                              # with `@phiguard.policy.operator(...)`
    [project.entry-points."phiguard.controls"]
    acme = "acme_phiguard:CATALOG"            # a control catalog file (a path, or a function
                                              # returning one or several)
    [project.entry-points."phiguard.converters"]
    acme = "acme_phiguard.terraform:CONVERTERS"   # see `phiguard.plugins`

A plugin that cannot be imported, or that takes a name phiguard (or another plugin) already
has, is a PluginError naming the plugin: exit 2, never a traceback, never a silent skip.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phiguard.errors import PhiguardError, PluginError
from phiguard.policy import operators

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["CONTROLS_GROUP", "CONVERTERS_GROUP", "OPERATORS_GROUP", "catalog_files",
           "describe", "load_group", "load_operator_plugins"]

OPERATORS_GROUP = "phiguard.operators"
CONTROLS_GROUP = "phiguard.controls"
CONVERTERS_GROUP = "phiguard.converters"

_done: dict[str, list[tuple[str, Any]]] = {}


def describe(ep: EntryPoint) -> str:
    """How an error names a plugin: its entry point, value and distribution."""
    dist = getattr(ep, "dist", None)
    source = f" from {dist.name} {dist.version}" if dist is not None else ""
    return f"plugin {ep.name!r} ({ep.group} = {ep.value}{source})"


def load_group(group: str, found: Iterable[EntryPoint] | None = None) -> list[tuple[str, Any]]:
    """Load every entry point of a group once: [(description, loaded object)], by name.

    `found` replaces the installed entry points (for tests)."""
    if group in _done and found is None:
        return _done[group]
    eps = sorted(found if found is not None else entry_points(group=group),
                 key=lambda ep: (ep.name, ep.value))
    out: list[tuple[str, Any]] = []
    for ep in eps:
        who = describe(ep)
        operators._loading.append(who)
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, type | types.ModuleType):
                obj = obj()
        except PhiguardError as exc:
            raise PluginError(f"{who}: {_without_origin(str(exc), who)}") from None
        except Exception as exc:  # any failure of foreign code is the plugin's
            text = " ".join(str(exc).split())[:300]
            raise PluginError(f"{who} failed to load: {type(exc).__name__}: {text}") from None
        finally:
            operators._loading.pop()
        out.append((who, obj))
    if found is None:
        _done[group] = out
    return out


def entry_points(group: str) -> list[EntryPoint]:
    """The installed entry points of `group` (`importlib.metadata.entry_points`). When no
    installed distribution's `entry_points.txt` even names the group (`_may_declare`), none,
    without importing importlib.metadata and reading every distribution's metadata (a tenth
    of the time a small `phiguard plan` takes)."""
    if not _may_declare(group):
        return []
    from importlib.metadata import entry_points as installed

    return list(installed(group=group))


_scanned: dict[tuple[str, ...], tuple[bytes, ...] | None] = {}  # sys.path -> see _texts


def _may_declare(group: str) -> bool:
    """Whether an installed distribution may declare entry points of `group`: False only
    when every place importlib.metadata looks is a directory whose distributions'
    `entry_points.txt` files were read and none contains the group's name (a section header
    names it verbatim). Anything else (a zip or egg on the path, a finder of distributions
    other than the path's, an unreadable file) is a maybe."""
    key = tuple(sys.path)
    if key not in _scanned:
        _scanned[key] = _texts(key)
    texts = _scanned[key]
    if texts is None:
        return True
    name = group.encode()
    return any(name in text for text in texts)


def _texts(paths: tuple[str, ...]) -> tuple[bytes, ...] | None:
    """The `entry_points.txt` of every distribution importlib.metadata would find on `paths`
    (its `MetadataPathFinder`: `*.dist-info` and `*.egg-info` in each directory), or None
    when it would look somewhere this does not."""
    import importlib.machinery

    for finder in sys.meta_path:
        if hasattr(finder, "find_distributions") and \
                finder is not importlib.machinery.PathFinder:
            return None
    out: list[bytes] = []
    for entry in paths:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except NotADirectoryError:
            return None  # a zip file: read through zipfile
        except OSError:
            if os.path.exists(folder):
                return None
            continue  # nothing there, nothing found there
        if os.path.basename(folder).lower().endswith(".egg"):
            return None  # an unpacked egg: its EGG-INFO
        for name in names:
            if not name.lower().endswith((".dist-info", ".egg-info")):
                continue
            info = os.path.join(folder, name)
            if not os.path.isdir(info):
                continue  # a PKG-INFO file alone: no entry points
            try:
                with open(os.path.join(info, "entry_points.txt"), "rb") as fh:
                    out.append(fh.read())
            except FileNotFoundError:
                continue
            except OSError:
                return None
    return tuple(out)


def _without_origin(message: str, who: str) -> str:
    return message[len(who) + 2:] if message.startswith(who + ": ") else message


def load_operator_plugins() -> None:
    """Import every `phiguard.operators` plugin (their imports register the operators)."""
    load_group(OPERATORS_GROUP)


def catalog_files(loaded: list[tuple[str, Any]] | None = None) -> list[tuple[str, Path]]:
    """The control catalog files `phiguard.controls` plugins provide: [(plugin, path)]."""
    out: list[tuple[str, Path]] = []
    for who, obj in load_group(CONTROLS_GROUP) if loaded is None else loaded:
        items = obj if isinstance(obj, list | tuple) else [obj]
        for item in items:
            if not isinstance(item, str | os.PathLike):
                raise PluginError(f"{who}: a control catalog entry point gives a path to a "
                                  f"catalog file (or a function returning one), not "
                                  f"{type(item).__name__}")
            path = Path(item)
            if not path.is_file():
                raise PluginError(f"{who}: control catalog {path} does not exist")
            out.append((who, path))
    return out

