"""File digests shared by the snapshot reader, the collector and the evidence bundle."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["sha256_file"]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 8 MiB blocks (a scan hashes its inputs in a
    thread: reading and hashing a block release the GIL, and each block costs the thread a
    wait of up to the switch interval for the GIL back)."""
    digest = hashlib.sha256()
    with path.open("rb", buffering=0) as fh:
        for block in iter(lambda: fh.read(8 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
