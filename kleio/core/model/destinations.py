"""Writing a file where the user points (``-o PATH``), without destroying what is there.

Every command and function that writes a file the user names (``kleio export -o``,
``kleio artifacts get``, ``kleio plot -o``, ``Artifact.save``) writes through
:func:`destination`, which decides by what ``PATH`` is now:

``-``
    standard output (the caller's stream), where the command allows it;
a missing path or a regular file
    the bytes go to a hidden file beside it, created for the owner only (``0600``, as the
    journal is), and renamed over ``PATH`` once complete: a failed or interrupted write
    leaves ``PATH`` as it was; a replaced file keeps its permissions;
a FIFO or a character device (``/dev/null``, a terminal)
    written through, never replaced (as root, ``-o /dev/null`` once replaced the
    machine's ``/dev/null`` with a regular file);
anything else
    refused with one line: a symbolic link (replacing it would destroy the link, writing
    through it would write where the user did not name), a folder, a disk device, a
    socket.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from typing import BinaryIO

from kleio.core.model.errors import KleioError

#: Permissions of a file Kleio creates where the user points: the journal's.
FILE_MODE = 0o600


class DestinationError(KleioError):
    """``PATH`` cannot be written as asked; the message says why, in one line."""


def _refusal(path: str, mode: int) -> str | None:
    """Why a path of this ``lstat`` mode is not written to, or None."""
    if stat.S_ISLNK(mode):
        return f"{path} is a symbolic link: name the file it points to"
    if stat.S_ISDIR(mode):
        return f"{path} is a folder: name a file"
    if stat.S_ISBLK(mode):
        return f"{path} is a disk device: name a file"
    if stat.S_ISSOCK(mode):
        return f"{path} is a socket: name a file"
    return None


def check_destination(path: str | os.PathLike) -> None:
    """Refuse ``path`` now, before any work, if :func:`destination` would."""
    path = os.fspath(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise DestinationError(f"cannot write {path}: {error.strerror or error}") from None
    reason = _refusal(path, mode)
    if reason is not None:
        raise DestinationError(reason)


@contextlib.contextmanager
def destination(path: str | os.PathLike, stdout: BinaryIO | None = None) -> Iterator[BinaryIO]:
    """A binary stream that writes ``path`` as the module documentation says; ``-``
    means ``stdout`` when one is given. The file is complete at ``path`` when the block
    ends without an error, and untouched when it raises."""
    path = os.fspath(path)
    if path == "-" and stdout is not None:
        yield stdout
        stdout.flush()
        return
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise DestinationError(f"cannot write {path}: {error.strerror or error}") from None
    if mode is not None:
        reason = _refusal(path, mode)
        if reason is not None:
            raise DestinationError(reason)
        if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
            try:
                stream = open(path, "wb", buffering=0)
            except OSError as error:
                raise DestinationError(f"cannot write {path}: {error.strerror}") from None
            with stream:
                yield stream  # type: ignore[misc]
            return
    folder, name = os.path.split(os.path.abspath(path))
    partial = os.path.join(folder, f".{name}.{os.getpid()}.partial")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(partial, flags, FILE_MODE)
    except OSError as error:
        raise DestinationError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with open(descriptor, "wb") as stream:
            yield stream
        if mode is not None:
            os.chmod(partial, stat.S_IMODE(mode))
        os.replace(partial, path)
    except OSError as error:
        raise DestinationError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
