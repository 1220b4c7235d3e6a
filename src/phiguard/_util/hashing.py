"""File digests shared by the snapshot reader, the collector and the evidence bundle."""

from __future__ import annotations

import hashlib
import mmap
from pathlib import Path

__all__ = ["sha256_file"]

BLOCK = 8 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 8 MiB blocks (a scan hashes its inputs in a
    thread: reading and hashing a block release the GIL, and each block costs the thread a
    wait of up to the switch interval for the GIL back). The block is an anonymous mapping,
    not the C allocator's: freeing an 8 MiB malloc'd block would raise glibc's mmap threshold
    to 8 MiB for the rest of the process, whose multi-megabyte buffers would then stay in
    its heap (+28 MiB peak at 200k assets)."""
    digest = hashlib.sha256()
    with mmap.mmap(-1, BLOCK) as block, memoryview(block) as view, path.open("rb",
                                                                            buffering=0) as fh:
        while True:
            n = fh.readinto(view)
            if not n:
                break
            digest.update(view[:n])
    return digest.hexdigest()
