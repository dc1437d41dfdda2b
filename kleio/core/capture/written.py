"""Files named on the command line that a trial writes: its outputs, not its configuration.

``python out.py --out metrics.json`` names a file the script writes. A configuration file
named on the command line is read into the trial's configuration (so editing an input
makes a new trial); read naively, the script's own ``metrics.json`` would be configuration
on the next run, and the same command would make a new trial every time.

The rule, and why no state on disk can make two different inputs share a trial:

- Kleio watches every file named on the command line during each execution (size,
  modification time, inode, before and after). The files that appeared or changed are
  the trial's ``outputs``, recorded on its document with, for configuration files, the
  sha256 of what the execution left.
- A trial made while such a file was missing has its name as configuration (as before).
  The same command run again finds it when the file is missing, or when the file holds
  exactly the bytes that trial last wrote (same sha256): the file is then not read
  (:func:`kleio.core.model.commandline.configuration_of` with ``unread``).
- Any other content is an input, read into the configuration: a new trial, as for an
  edited ``config.yaml``. A file whose content parses to its own name is refused, since
  its configuration would equal that of the missing file.

So the inputs a trial can be found with are its configuration, byte for byte where a file
was read, plus, for a file it had as a name, nothing or the exact bytes it wrote itself.
Times and names on disk are only used to decide what to record, never to find a trial:
the decision is by content, checked against the database.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from kleio.core.capture.code import sha256_file
from kleio.core.model import clock
from kleio.core.model.commandline import CONFIG_SUFFIXES, named_files, split_command
from kleio.core.model.trial import TrialDocument

#: Arguments longer than this name no file Kleio watches (a long text value).
_LONGEST_NAME = 4096

State = tuple[int, int, int]


def _path(cwd: str, text: str) -> str:
    return os.path.join(cwd, os.path.expanduser(text))


def _state(path: str) -> State | None:
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    if not os.path.isfile(path):
        return None
    return (status.st_size, status.st_mtime_ns, status.st_ino)


class WatchedFiles:
    """The files named on a trial's command line, observed before an execution so that
    :meth:`written` can tell which ones it wrote."""

    def __init__(self, document: TrialDocument):
        self.document = document
        self.cwd = document.get("cwd") or os.getcwd()
        command = split_command(document["commandline"])
        self.texts = [text for text in named_files(command) if len(text) <= _LONGEST_NAME]
        self.before = {text: _state(_path(self.cwd, text)) for text in self.texts}

    def written(self, execution: int) -> list[dict[str, Any]]:
        """The trial's outputs after this execution: those recorded before, with the
        files this execution created or changed replacing their earlier entries."""
        outputs = {entry["path"]: entry for entry in self.document.get("outputs") or []}
        for text in self.texts:
            path = _path(self.cwd, text)
            after = _state(path)
            if after is None or after == self.before[text]:
                continue
            outputs[text] = {
                "path": text,
                "size": after[0],
                # The content identifies a configuration file for the next run; other
                # files (a model of gigabytes) are recorded, not read.
                "sha256": sha256_file(path) if text.endswith(CONFIG_SUFFIXES) else None,
                "execution": execution,
                "time": clock.now(),
            }
        return list(outputs.values())


def own_outputs(document: TrialDocument, texts: Iterable[str], cwd: str) -> set[str]:
    """Those of ``texts`` whose file holds exactly what ``document``'s trial last wrote."""
    recorded = {
        entry["path"]: entry.get("sha256")
        for entry in document.get("outputs") or []
        if entry.get("sha256")
    }
    return {
        text
        for text in texts
        if text in recorded and sha256_file(_path(cwd, text)) == recorded[text]
    }
