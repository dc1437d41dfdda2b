"""Finding a program on the ``PATH``.

:func:`which` answers as ``shutil.which`` does on POSIX; ``shutil`` itself is not
imported on a run's path, since it imports the compression modules (zlib, bz2, lzma):
3 ms of every ``kleio python ...`` start.
"""

from __future__ import annotations

import os


def _runnable(path: str) -> bool:
    return os.path.exists(path) and os.access(path, os.F_OK | os.X_OK) and not os.path.isdir(path)


def which(name: str, path: str | None = None) -> str | None:
    """The file ``name`` runs: itself when it holds a folder, else the first runnable
    file of that name in ``path`` (default: the ``PATH`` variable); None if none."""
    if os.path.dirname(name):
        return name if _runnable(name) else None
    if path is None:
        path = os.environ.get("PATH")
        if path is None:
            try:
                path = os.confstr("CS_PATH")
            except (AttributeError, ValueError):
                path = os.defpath
    if not path:
        return None
    seen: set[str] = set()
    for folder in os.fsdecode(path).split(os.pathsep):
        if folder in seen:
            continue
        seen.add(folder)
        candidate = os.path.join(folder, name)
        if _runnable(candidate):
            return candidate
    return None
