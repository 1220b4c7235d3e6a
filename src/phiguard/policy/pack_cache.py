"""A cache of loaded rule packs, so each run does not parse and validate every rule file again.

Loading the bundled pack (about 150 YAML files, each validated against the grammar) costs about
0.4 CPU s, which is most of the time a small `phiguard plan` takes. A pack that loaded once is
pickled under the user's cache directory, keyed by everything that decides what loading it
gives: phiguard's version, the source of the loader itself, the Python that runs it, the roots
as given and resolved, the path and bytes of every file the loader reads (rule files, the
definitions beside them, the control catalogs, plugins' catalogs) and the installed operators.
Any change to any of those is a different key, so a cached pack is always the pack the files
say; a pack that fails to load is never cached (the error comes from the loader each time).

The cache is a convenience, never a requirement: an unwritable, unreadable, foreign-owned or
corrupt entry is ignored and the pack is loaded from its files. `PHIGUARD_NO_CACHE=1` turns it
off; `PHIGUARD_CACHE_DIR` moves it (default `$XDG_CACHE_HOME/phiguard`, else
`~/.cache/phiguard`). Written by hand rather than with a caching library: the key is the
point, and it is a dozen lines over hashlib and pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

Pack = TypeVar("Pack")

__all__ = ["CACHE_DIR_ENV", "NO_CACHE_ENV", "cache_dir", "cached_pack", "pack_key"]

CACHE_DIR_ENV = "PHIGUARD_CACHE_DIR"
NO_CACHE_ENV = "PHIGUARD_NO_CACHE"
KEEP = 16  # packs kept; the oldest go when a new one is written
_FORMAT = b"phiguard-pack-cache/1\0"


def cache_dir() -> Path | None:
    """Where packs are cached, or None when caching is off."""
    if os.environ.get(NO_CACHE_ENV, "").strip() not in ("", "0"):
        return None
    given = os.environ.get(CACHE_DIR_ENV)
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if base.startswith("~"):  # no home directory to expand to
        return None
    return Path(base) / "phiguard"


def _loader_sources() -> list[Path]:
    here = Path(__file__).resolve().parent  # phiguard/policy
    package = here.parent
    return [*sorted(here.glob("*.py")), package / "_util" / "yamlloc.py", package / "__init__.py"]


def pack_key(roots: list[Path], inputs: Callable[[list[Path]], list[Path]]) -> str | None:
    """The cache key of loading these roots now, or None when it cannot be told (a root or
    file is missing or unreadable: the loader reports that). `inputs(roots)` names every file
    the loader reads (`phiguard.policy.rule.pack_inputs`)."""
    from phiguard import __version__
    from phiguard.policy.operators import OPERATORS
    from phiguard.policy.plugins import catalog_files

    digest = hashlib.sha256(_FORMAT)
    digest.update(f"{__version__}\0{sys.version}\0{sys.implementation.cache_tag}\0".encode())
    files: set[Path] = set(_loader_sources())
    try:
        for root in roots:
            if not root.exists():
                return None
            digest.update(f"root\0{root}\0{root.resolve()}\0{root.is_dir()}\0".encode())
        files.update(inputs(roots))
        for who, path in catalog_files():
            digest.update(f"plugin catalog\0{who}\0".encode())
            files.add(path)
        for path in sorted(files, key=str):
            digest.update(f"file\0{path}\0".encode() + path.read_bytes() + b"\0")
    except OSError:
        return None
    for op in sorted(OPERATORS.values(), key=lambda o: o.name):
        # what the loader checks rules against: the operator's argument schema and kind
        shape = json.dumps(op.arg, sort_keys=True, default=repr)
        digest.update(f"operator\0{op.name}\0{op.origin}\0{shape}\0{op.judges_absence}\0"
                      .encode())
    return digest.hexdigest()


def _read(entry: Path, kind: type[Pack]) -> Pack | None:
    try:
        fd = os.open(entry, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        # Only an entry this user wrote, that nobody else could have changed, is unpickled.
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            return None
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            if fh.read(len(_FORMAT)) != _FORMAT:
                return None
            pack = pickle.load(fh)
    except Exception:  # a damaged or stale entry is only a cache miss
        return None
    finally:
        if fd >= 0:
            os.close(fd)
    return pack if isinstance(pack, kind) else None


def _write(folder: Path, entry: Path, pack: object) -> None:
    try:
        data = _FORMAT + pickle.dumps(pack, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # not picklable: the next run loads from the files again
        return
    write_entry(folder, entry, data, ".pack", KEEP)


def write_entry(folder: Path, entry: Path, data: bytes, suffix: str, keep: int) -> None:
    """Write `data` to `entry` atomically in `folder` (made this user's alone if new), and keep
    the `keep` newest files of `suffix` there. Nothing when the folder is not this user's alone
    or cannot be written: never an error, the next run does the work again (the pack cache and
    the generated code's cache, policy.code_cache)."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = folder.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            return
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{suffix.lstrip('.')}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, entry)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        entries = sorted(folder.glob(f"*{suffix}"), key=lambda p: p.stat().st_mtime_ns)
        for old in entries[:-keep]:
            old.unlink(missing_ok=True)
    except Exception:  # nowhere to cache
        return


def cached_pack(roots: list[Path], load: Callable[[list[Path]], Pack],
                inputs: Callable[[list[Path]], list[Path]], kind: type[Pack]) -> Pack:
    """`load(roots)`, or the pack (of type `kind`) the same inputs gave before."""
    folder = cache_dir()
    key = pack_key(roots, inputs) if folder is not None else None
    if folder is None or key is None:
        return load(roots)
    entry = folder / f"{key}.pack"
    found = _read(entry, kind)
    if found is not None:
        return found
    pack = load(roots)
    _write(folder, entry, pack)
    return pack
