"""Files appear under their final name complete or not at all.

A killed job leaves at most a ``.partial-*`` temporary beside the target (callers that
resume remove those), never a half-written file that a rerun would trust.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable

PARTIAL_PREFIX = ".partial-"


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` on a temporary in the target's directory, then rename it to ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=PARTIAL_PREFIX, suffix="-" + os.path.basename(path))
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)

    atomic_write(path, write)


def atomic_write_parquet(table, path: str, row_group_size=None) -> None:
    import pyarrow.parquet as pq

    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd", row_group_size=row_group_size))


def parquet_files(path: str) -> list[str]:
    """A parquet file, or a directory's parquet files in name order. The temporaries of a killed
    write (``.partial-*``) are dotfiles, which glob never returns."""
    files = sorted(glob.glob(os.path.join(path, "*.parquet"))) if os.path.isdir(path) else [path]
    if not files or not all(os.path.exists(f) for f in files):
        raise FileNotFoundError(f"no parquet data at {path}")
    return files


def file_sha256(path: str) -> str:
    """A file's SHA-256, read in 1 MiB blocks (manifests record shard and input digests)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
