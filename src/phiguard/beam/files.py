"""The input files of a Beam scan: local paths (found as the local engine finds them) or gs://
prefixes (listed through Beam's file systems, read in place by the workers, one file each).

Workers read a Cloud Storage object by streaming it to a temporary file on their own disk (one
export shard at a time, never the whole organization) and reading that with the local engine's
readers, so every file flavour, bound and error message is the local engine's; the file named
in records and errors is the gs:// URL.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from phiguard.errors import InputError, SnapshotError
from phiguard.inventory._files import is_data_name, is_shard_name
from phiguard.inventory.readers import MANIFEST, RawItem, discover, iter_raw

__all__ = ["Inputs", "cleanup", "find_inputs", "is_remote", "local_copy", "read_items", "sha256_of"]

_CHUNK = 1 << 20


def is_remote(path: str) -> bool:
    return "://" in path


@dataclass
class Inputs:
    """A snapshot's files as strings (local paths or URLs), in the local engine's order."""

    asset_files: list[str] = field(default_factory=list)
    user_files: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    manifest_file: str | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _sort_key(path: str) -> tuple[str, PurePosixPath]:
    scheme, _, rest = path.rpartition("://")
    return scheme, PurePosixPath(rest)


def find_inputs(paths: list[str]) -> Inputs:
    """The data, directory-user and manifest files under local paths and gs:// prefixes."""
    local = [p for p in paths if not is_remote(p)]
    remote = [p for p in paths if is_remote(p)]
    found = Inputs()
    if local:
        files = discover([Path(p) for p in local])
        found.asset_files = [str(p) for p in files.asset_files]
        found.user_files = [str(p) for p in files.user_files]
        found.manifest = files.manifest
        found.manifest_file = str(files.manifest_file) if files.manifest_file else None
        found.skipped = [(str(p), why) for p, why in files.skipped]
    for url in remote:
        _discover_remote(url, found)
    return found


def _discover_remote(url: str, found: Inputs) -> None:
    from apache_beam.io.filesystems import FileSystems

    base = url.rstrip("/")
    # A prefix (a folder of objects), or else one object.
    under, alone = FileSystems.match([base + "/**", base])
    names = sorted({m.path for m in (under.metadata_list or alone.metadata_list)},
                   key=_sort_key)
    if not names:
        raise SnapshotError("no snapshot data found (no objects under this prefix)", file=url)
    for name in names:
        parts = name[len(base):].strip("/").split("/")
        if any(part.startswith(".") for part in parts[:-1]):
            continue  # inside a hidden folder, as the local walk
        leaf = parts[-1] if parts[-1] else PurePosixPath(name).name
        if name != base and not (is_data_name(leaf) or is_shard_name(leaf)):
            continue
        with local_copy(name) as (copy, _):
            if leaf == MANIFEST:
                # the local reader's own checks (private there: it has no other caller)
                from phiguard.inventory.readers import _load_manifest

                try:
                    found.manifest = _load_manifest(copy)
                except InputError as exc:
                    raise _renamed(exc, str(copy), name) from None
                found.manifest_file = name
                continue
            head = _head(copy)
            if head is None:
                found.skipped.append((name, "not a snapshot file (an extensionless file whose "
                                            "content is not JSON)"))
            elif _is_users(head):
                found.user_files.append(name)
            else:
                found.asset_files.append(name)


def _head(path: Path) -> bytes | None:
    with path.open("rb") as fh:
        raw = fh.read(1 << 16)
    if raw[:2] == b"\x1f\x8b":
        raw = zlib.decompressobj(31).decompress(raw, 1 << 16)
    text = raw.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text[:1] not in (b"{", b"[", b""):
        return None
    return text


def _is_users(head: bytes) -> bool:
    if head[:1] not in (b"{", b"["):
        return False
    if b'"admin#directory#users"' in head:
        return True
    return b'"users"' in head and not any(
        key in head for key in (b'"asset_type"', b'"assetType"', b'"assets"'))


@contextmanager
def local_copy(path: str) -> Iterator[tuple[Path, str | None]]:
    """(a local path holding the file, its sha256 when it was copied here)."""
    if not is_remote(path):
        yield Path(path), None
        return
    from apache_beam.io.filesystems import CompressionTypes, FileSystems

    folder = tempfile.mkdtemp(prefix="phiguard-beam-")
    try:
        copy = Path(folder) / (PurePosixPath(path).name or "object")
        digest = hashlib.sha256()
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as src, \
                    copy.open("wb") as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
        except OSError as exc:
            raise SnapshotError(f"cannot read: {exc}", file=path) from None
        yield copy, digest.hexdigest()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sha256_of(path: Path) -> str:
    from phiguard._util.hashing import sha256_file

    return sha256_file(path)


def _renamed(exc: InputError, copy: str, name: str) -> InputError:
    if exc.file is not None and str(exc.file) == copy:
        exc.file = name
        exc.args = (str(exc),)
    return exc


def read_items(copy: Path, name: str) -> Iterator[RawItem]:
    """Every record of one file (`copy` on this machine, called `name`), named `name`."""
    local = str(copy)
    try:
        for item in iter_raw(copy):
            yield item if local == name else replace(item, file=name)
    except InputError as exc:
        raise _renamed(exc, local, name) from None


def cleanup(path: str) -> None:
    """Remove a work folder (local or remote)."""
    if is_remote(path):
        from apache_beam.io.filesystems import FileSystems

        with suppress(Exception):  # leftover temporary objects are not an error
            FileSystems.delete([path])
        return
    shutil.rmtree(path, ignore_errors=True)
