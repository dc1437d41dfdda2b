"""TensorBoard scalars as Kleio statistics: ``kleio import-tensorboard DIR`` and
``kleio run --tensorboard``.

Each record of an event file that holds scalars (:mod:`kleio.core.capture.event_files`)
becomes one ``statistic`` event: its data ``{TAG: value, ..., "step": step}``, its time
the record's ``wall_time``. Records are not merged by step: a file read while its
writer still writes may end between two records of one step, and a merged event
read again later would have the same key and other data (the store keeps the first).

Keys are made from the file, never from the clock, so importing again adds nothing
(the store skips an event whose key it holds): the writer part of the key is a hash of
the file's name and first record (wherever the file was moved, and however it grew),
the counter is the record's byte offset in the file. A file that grew since is read
again whole and only its new records are added.

A trial made for a run folder (a folder holding event files, as TensorBoard sees runs)
is identified like any trial, by its project and command line: the project is
``--project``, else ``KLEIO_PROJECT``, else the name of the git repository holding the
folder imported, else that folder's name; the command line is ``["tensorboard", RUN]``,
RUN the run folder's path from the repository's top (outside git: from the folder
imported; ``.`` for that folder itself), and the configuration is empty. The same run
imported again, from anywhere in the repository, is the same trial. Such a trial is
``completed``, tagged ``tensorboard``, and its ``cwd`` is the folder RUN is relative to.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kleio.core.capture.event_files import PREFIX, EventFile, Record
from kleio.core.model.status import COMPLETED
from kleio.core.model.trial import TrialDocument, TrialSpec, new_trial_document
from kleio.store.base import DuplicateTrialError, Event, Store
from kleio.store.keys import event_key

#: The program of a trial made for a run folder (the first word of its command line),
#: and the tag it gets.
PROGRAM = "tensorboard"
#: Statistics appended per call.
BATCH = 5_000
#: Folders a search for event files does not enter: version control, environments,
#: caches (a run's working folder may hold a virtual environment of 50,000 files).
_SKIPPED = frozenset(("node_modules", "__pycache__", "site-packages", "venv"))
#: Entries (files and folders) a search looks at, at most: reading the folder a script
#: ran in must not walk a whole home folder (100,000 entries take about a second).
SEARCH_LIMIT = 100_000


def event_files(
    folder: str, since: float | None = None, limit: int | None = None, skip: str | None = None
) -> tuple[list[str], bool]:
    """The event files under ``folder`` (itself included), sorted, and whether the search
    stopped after ``limit`` entries. Hidden folders and those of :data:`_SKIPPED` are
    not entered, links to folders are not followed. ``since``: only files modified at
    or after that time (seconds since the epoch). ``skip``: a folder not entered."""
    found: list[str] = []
    seen = 0
    skipped = os.path.realpath(skip) if skip else None
    for root, folders, files in os.walk(folder):
        folders[:] = sorted(
            name
            for name in folders
            if not name.startswith(".")
            and name not in _SKIPPED
            and (skipped is None or os.path.realpath(os.path.join(root, name)) != skipped)
        )
        seen += len(folders) + len(files)
        for name in files:
            if not name.startswith(PREFIX):
                continue
            path = os.path.join(root, name)
            if since is not None:
                try:
                    if os.stat(path).st_mtime < since:
                        continue
                except OSError:
                    continue
            found.append(path)
        if limit is not None and seen > limit:
            return sorted(found), True
    return sorted(found), False


def _writer(reading: EventFile) -> str:
    """The writer part of the keys of a file's statistics (see the module's docstring)."""
    name = os.path.basename(reading.path).encode("utf-8", "surrogateescape")
    return hashlib.sha256(name + b"\0" + reading.first_record).hexdigest()[:16]


def _events(trial_id: str, reading: EventFile, records: Iterator[Record]) -> Iterator[Event]:
    writer = ""
    for record in records:
        if not writer:  # known once the first record is read
            writer = _writer(reading)
        wall_time = record.wall_time
        if not 0.0 <= wall_time < 1e11:  # none, damaged or NaN: the key needs a time
            wall_time = 0.0
        data = {**record.values, "step": record.step}
        yield Event(
            trial_id, "statistic", event_key(wall_time, writer, record.offset), wall_time, data
        )


@dataclass
class FileImport:
    """What importing one event file found and did."""

    path: str
    #: Statistics read (records that hold scalars), and those new to the journal.
    read: int = 0
    added: int = 0
    #: Values that are no scalars, by kind (``image``, ``histogram``...).
    skipped: dict[str, int] = field(default_factory=dict)
    #: Where the file is damaged or cut short; what came before was imported.
    damage: str | None = None


def import_file(store: Store, trial_id: str, path: str) -> FileImport:
    """Add the scalars of the event file at ``path`` to the trial ``trial_id`` as
    statistics; appending is idempotent, so importing twice adds nothing."""
    reading = EventFile(path)
    result = FileImport(path)
    batch: list[Event] = []
    try:
        for event in _events(trial_id, reading, reading.records()):
            batch.append(event)
            if len(batch) >= BATCH:
                result.added += store.append_events(batch)
                result.read += len(batch)
                batch = []
    except OSError as error:  # unreadable, or vanished since it was found
        reading.damage = f"cannot be read ({error.strerror or error})"
    if batch:
        result.added += store.append_events(batch)
        result.read += len(batch)
    result.skipped, result.damage = reading.skipped, reading.damage
    return result


def run_folders(paths: list[str]) -> dict[str, list[str]]:
    """Event files by the folder that holds them (a run, as TensorBoard sees runs)."""
    folders: dict[str, list[str]] = {}
    for path in paths:
        folders.setdefault(os.path.dirname(path), []).append(path)
    return folders


def run_root(folder: str, project: str | None) -> tuple[str, str]:
    """``(folder run folders are named from, project)`` of the trials made for the runs
    under ``folder`` (see the module's docstring)."""
    from kleio.core.capture.code import repository_of

    folder = os.path.abspath(folder)
    repository = repository_of(folder)
    root = os.path.abspath(repository[0]) if repository else folder
    if not project:
        project = os.environ.get("KLEIO_PROJECT") or (
            repository[1] if repository else os.path.basename(folder) or "tensorboard"
        )
    return root, project


def run_trial(
    store: Store, root: str, project: str, run_folder: str, tags: list[str]
) -> tuple[TrialDocument, bool]:
    """The trial of a run folder, made if the journal lacks it; the bool says whether
    this call made it."""
    run = os.path.relpath(os.path.abspath(run_folder), root).replace(os.sep, "/")
    spec = TrialSpec(project, [PROGRAM, run])
    existing = store.get_trial(spec.id)
    if existing is not None:
        return existing, False
    document = new_trial_document(
        spec,
        status=COMPLETED,
        tags=[PROGRAM, *tags],
        cwd=root,
        program=PROGRAM,
        executions=0,
        run_time=0.0,
        exit_code=None,
    )
    try:
        store.create_trial(document)
    except DuplicateTrialError:  # another import made it a moment ago
        return store.get_trial(spec.id) or document, False
    return document, True


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def file_messages(result: FileImport, shown: str) -> list[str]:
    """The lines that tell of a file's skipped values and damage (``shown``: its name
    as the user knows it); none for a file read whole that held scalars only."""
    lines = []
    if result.skipped:
        kinds = ", ".join(_plural(n, kind) for kind, n in sorted(result.skipped.items()))
        lines.append(f"{shown}: skipped {kinds} (Kleio imports scalars only)")
    if result.damage is not None:
        lines.append(
            f"warning: {shown} is damaged: {result.damage}; the "
            f"{_plural(result.read, 'statistic')} before it were imported"
        )
    return lines


def import_run_files(
    store: Store,
    trial_id: str,
    working_dir: str,
    cwd: str,
    since: float,
    notify: Callable[[str], None],
    home: str | None = None,
) -> list[FileImport]:
    """``kleio run --tensorboard``: at the end of an execution, the event files of the
    trial's working folder (all of them: the folder is the trial's own) and those of
    the folder it ran in modified since ``since`` (the execution's start: that folder
    may hold other runs' files), imported into the trial; each file is read once. The
    Kleio ``home`` is not searched in the folder it ran in: it holds the working
    folders of other trials, which may have ended a moment ago."""
    seen: set[str] = set()
    results: list[FileImport] = []
    for folder, after, skip in ((working_dir, None, None), (cwd, since, home)):
        if not folder or not os.path.isdir(folder):
            continue
        # A writer writes to the end of the run, so a file system that keeps modification
        # times to the second still dates its files after the start.
        paths, stopped = event_files(folder, after, SEARCH_LIMIT, skip=skip)
        if stopped:
            notify(
                f"--tensorboard looked at {SEARCH_LIMIT:,} files and folders under {folder} "
                "and stopped: write event files in {trial.working_dir} to have them all read"
            )
        for path in paths:
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            results.append(import_file(store, trial_id, path))
            for line in file_messages(results[-1], path):
                notify(line)
    return results
