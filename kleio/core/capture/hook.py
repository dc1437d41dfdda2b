"""The configuration hook, seen from Kleio: when it applies, how the script gets it,
and the pipe its reports come back through.

The hook itself is ``kleio/client/startup/sitecustomize.py`` (what it touches in the
script is said there). Kleio puts its folder first on the script's ``PYTHONPATH`` and
passes the writing end of a pipe; a thread reads one JSON record per line and hands
each to ``on_record`` (see :mod:`kleio.core.capture.resolved` for what a record means).

It applies when the command starts a Python interpreter (``python ...``,
``python3.11 -m ...``) or a ``.py`` script, unless ``--no-hook`` or ``KLEIO_HOOK=0``, or
the interpreter is told to ignore ``PYTHONPATH`` or ``site`` (``-I``, ``-E``, ``-S``).

Kleio sets ``PYTHONUNBUFFERED=1`` for a script whose user did not choose (so that its
output is live, and that of the Python programs it starts). Unbuffered, each ``print``
is a write to the pipe: a script printing 1,000,000 lines runs 3 to 7 times slower. So
the hook, in the script's own interpreter only, makes its stdout block-buffered again
and flushes it every :data:`FLUSH_EVERY` seconds from a thread: output stays live
within a fraction of a second, written in blocks of 8 KB (not for ``python -u``).
"""

from __future__ import annotations

import json
import os
import select
import threading
from collections.abc import Callable
from typing import Any

from kleio.core.model.commandline import split_command

#: The folder holding the hook's ``sitecustomize.py`` (nothing else).
HOOK_FOLDER = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "client",
    "startup",
)
#: Seconds the reader waits for the pipe's last records after the script ended (a
#: forked worker of the script may still hold the pipe open).
_CLOSING = 2.0
#: Seconds between two flushes of a hooked script's stdout (see the module's doc).
FLUSH_EVERY = 0.2


def _interpreter_flags(argv: list[str]) -> set[str]:
    """The one-letter options of a Python interpreter's command line (``-uB``: u, B)."""
    command = split_command(argv)
    if command.interpreter is None:
        return set()
    return {
        letter
        for word in command.argv[1 : command.start]
        if word.startswith("-") and not word.startswith(("--", "-X", "-W", "-m", "-c"))
        for letter in word[1:]
    }


def hook_wanted(argv: list[str], environ: dict[str, str], enabled: bool = True) -> bool:
    """Whether the hook goes into this command (see the module documentation)."""
    if not enabled or environ.get("KLEIO_HOOK", "").strip().lower() in ("0", "false", "no"):
        return False
    command = split_command(argv)
    if command.interpreter is not None:
        # -I, -E and -S make Python ignore PYTHONPATH or site: the hook would not load,
        # and its variables would be left for the script to see.
        return not _interpreter_flags(argv) & set("IES")
    return (command.program or "").endswith(".py")


def buffering_wanted(argv: list[str], environ: dict[str, str]) -> bool:
    """Whether the hook makes the script's stdout buffered, flushed every
    :data:`FLUSH_EVERY` seconds: when Kleio, not the user, made it unbuffered
    (``PYTHONUNBUFFERED`` unset in ``environ``, no ``-u``)."""
    return "PYTHONUNBUFFERED" not in environ and "u" not in _interpreter_flags(argv)


class HookChannel:
    """The pipe a hooked script reports through, and the thread reading it."""

    def __init__(self, on_record: Callable[[dict[str, Any]], None]):
        self._on_record = on_record
        self._read, self._write = os.pipe()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def fds(self) -> tuple[int, ...]:
        """The descriptors the script inherits."""
        return (self._write,)

    def environment(self, environ: dict[str, str], buffered: bool = False) -> dict[str, str]:
        """The variables that load the hook in the script; with ``buffered``, the hook
        makes the script's stdout buffered, flushed every :data:`FLUSH_EVERY` seconds."""
        added = {"KLEIO_HOOK_FD": str(self._write)}
        if buffered:
            added["KLEIO_HOOK_FLUSH"] = repr(FLUSH_EVERY)
        original = environ.get("PYTHONPATH")
        if original is None:
            added["PYTHONPATH"] = HOOK_FOLDER
        else:  # given back to the script by the hook, as it was (even if empty)
            added["PYTHONPATH"] = HOOK_FOLDER + (os.pathsep + original if original else "")
            added["KLEIO_HOOK_PYTHONPATH"] = original
        return added

    def started(self) -> None:
        """The script runs: only it holds the writing end now."""
        os.close(self._write)
        self._write = -1
        self._thread = threading.Thread(target=self._read_records, name="kleio-hook", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Read what is left (for a moment at most), then close the pipe."""
        if self._write != -1:  # the script never started
            os.close(self._write)
            self._write = -1
        if self._thread is not None:
            self._thread.join(_CLOSING)
            self._stop.set()
            self._thread.join()
        os.close(self._read)

    def _read_records(self) -> None:
        pending = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._read], [], [], 0.2)
            if not ready:
                continue
            data = os.read(self._read, 1 << 16)
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    try:
                        self._on_record(record)
                    except Exception:  # a record Kleio cannot use never stops the reader
                        continue
