"""Files and folders that only their owner can read.

The journal holds diffs, outputs and command lines: on a shared machine nobody else may
read them. What Kleio creates (``KLEIO_HOME``, the SQLite file and its WAL, the spool) is
created for the owner only, ``0700`` for a folder and ``0600`` for a file; what exists
already keeps its permissions, so a user who chose to share a file keeps it shared.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: str | os.PathLike) -> Path:
    """``path`` as a folder, created with its missing parents for the owner only
    (as the XDG base directory specification asks); raises OSError as ``mkdir`` does."""
    path = Path(path)
    missing = []
    current = path
    while not os.path.lexists(current) and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            pass  # another process made it meanwhile
    if not path.is_dir():
        raise FileExistsError(errno.EEXIST, "not a folder", str(path))
    return path


def private_opener(path: str, flags: int) -> int:
    """For ``open(path, mode, opener=private_opener)``: a file it creates is ``0600``."""
    return os.open(path, flags, FILE_MODE)


def create_private_file(path: str | os.PathLike) -> None:
    """Create an empty file for the owner only, unless it exists (then it is untouched)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
