"""Files replaced whole or not at all: the one write-fsync-rename that the
index pointer (CURRENT), the side-car arrays and the alerts files share."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["fsync_dir", "replace_file"]


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (best effort: some file systems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_file(path: Path, data: bytes, *, tmp: Path | None = None, sync_dir: bool = True) -> None:
    """Write `data` to `path` atomically: under `tmp` (default ``NAME.PID.tmp``
    beside it), fsync, rename over `path`, then fsync the folder unless told
    not to.  A failure removes the temporary file and raises."""
    tmp = tmp or path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if sync_dir:
        fsync_dir(path.parent)
