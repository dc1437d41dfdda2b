"""The spool: events and artifacts kept on disk while the database does not answer.

A writer that cannot reach the store appends its events to a spool file of its own under
``$KLEIO_HOME/spool/`` (``TRIAL-WRITER-PID-NS.jsonl``, one JSON event per line) and keeps
an artifact as a ``.bin`` file beside a ``.artifact`` record. Replaying appends them to
the store and removes the files; appending is idempotent, so a file replayed twice, or
after an uncertain failure, duplicates nothing.

A replay (``kleio sync``, the end of a run, the writer itself) may run while the writer
still appends to the same file. The folder's lock file (``filelock``) is held by a
writer for each append and by a replayer while it claims a file: it renames the file to
a name of its own (``...replaying.jsonl``), which no writer appends to, and replays that
at leisure. A line is thus either in the claimed file or in a new file the writer starts
after the claim, never appended to a file being removed. The lock is held for one
append or one rename, never during a replay.

Everything here is created for the owner only (see :mod:`kleio.private_files`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kleio.private_files import FILE_MODE, private_folder, private_opener
from kleio.store.base import Event, Store, StoreError
from kleio.value import Value

#: Events appended per call while replaying.
REPLAY_BATCH = 5000
#: The lock file of a spool folder, between its writers and its replayers.
LOCK_NAME = ".lock"
#: Seconds to wait for the lock; each holder keeps it for one append or one rename.
LOCK_TIMEOUT = 60.0
#: The end of the name of a spool file claimed by a replayer.
_CLAIMED = ".replaying.jsonl"


def spool_folder(home: Path) -> Path:
    return Path(home) / "spool"


def new_spool_path(folder: Path, trial_id: str, writer: str) -> Path:
    """A spool file of its own for one writer (a sink) of one process."""
    return folder / f"{trial_id}-{writer}-{os.getpid()}-{time.time_ns()}.jsonl"


def _lock(folder: Path):
    """The lock of a spool folder (filelock is imported only when something spools:
    importing it costs tens of milliseconds)."""
    from filelock import FileLock

    return FileLock(folder / LOCK_NAME, timeout=LOCK_TIMEOUT, mode=FILE_MODE)


def write_spool(path: Path, events: list[Event]) -> None:
    """Append events to a spool file, durably (fsync) before returning."""
    private_folder(path.parent)
    with _lock(path.parent), open(path, "a", encoding="utf-8", opener=private_opener) as stream:
        stream.writelines(_event_line(event) for event in events)
        stream.flush()
        os.fsync(stream.fileno())


def _event_line(event: Event) -> str:
    return (
        json.dumps(
            {
                "trial": event.trial,
                "kind": event.kind,
                "key": event.key,
                "time": event.time,
                "data": event.data,
            },
            ensure_ascii=False,
        )
        + "\n"
    )


def read_spool(path: Path) -> Iterator[Event]:
    """The events in a spool file; a torn last line (a crash mid-write) is skipped."""
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            try:
                record = json.loads(line)
                yield Event(
                    record["trial"], record["kind"], record["key"], record["time"], record["data"]
                )
            except (ValueError, KeyError, TypeError):
                continue


def _claim(path: Path) -> Path | None:
    """The spool file renamed for this replayer alone; None if another replayer took it."""
    if path.name.endswith(_CLAIMED):  # a replay that stopped midway: nobody appends to it
        return path if path.exists() else None
    claimed = path.with_name(f"{path.stem}.{os.getpid()}-{time.time_ns()}{_CLAIMED}")
    with _lock(path.parent):
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return None
    return claimed


def replay_spool(
    store: Store,
    path: Path,
    on_refused: Callable[[Event, Exception], None] | None = None,
) -> int:
    """Append a spool file's events to the store, then remove it; returns the count
    appended. Safe while the file's writer still appends to it (see the module
    documentation). An event the store refuses (see :func:`append_isolating`) is left out
    and told to ``on_refused``: it can never be stored, and must not keep the others out."""
    from kleio.core.model.journal import append_isolating

    claimed = _claim(path)
    if claimed is None:
        return 0
    count, batch = 0, []

    def append() -> int:
        refused = append_isolating(store, batch) if batch else []
        for event, error in refused:
            if on_refused is not None:
                on_refused(event, error)
        return len(batch) - len(refused)

    try:
        for event in read_spool(claimed):
            batch.append(event)
            if len(batch) >= REPLAY_BATCH:
                count += append()
                batch = []
    except FileNotFoundError:  # a stopped replay's file, replayed meanwhile by another
        return count
    count += append()
    claimed.unlink(missing_ok=True)
    return count


def spool_artifact(
    folder: Path,
    trial_id: str,
    filename: str,
    source: Any,
    attributes: dict[str, Any],
    moment: float,
    rank: int | None = None,
) -> dict[str, Any]:
    """Keep an artifact the store refused on disk, for :func:`replay_artifact`; ``rank``
    as :func:`~kleio.core.model.artifacts.put_artifact` takes it."""
    import hashlib

    from kleio.store.base import BLOB_CHUNK_SIZE
    from kleio.store.blobs import chunks_of

    private_folder(folder)
    stem = folder / f"{trial_id}-artifact-{os.getpid()}-{time.time_ns()}"
    digest, size = hashlib.sha256(), 0
    with open(stem.with_suffix(".bin"), "wb", opener=private_opener) as stream:
        for chunk in chunks_of(source, BLOB_CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
            stream.write(chunk)
        stream.flush()
        os.fsync(stream.fileno())
    data = {
        "filename": filename,
        "size": size,
        "sha256": digest.hexdigest(),
        "attributes": attributes,
    }
    record = {"trial": trial_id, "time": moment, **data}
    if rank is not None:
        record["rank"] = rank
    temporary = stem.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8", opener=private_opener) as stream:
        stream.write(json.dumps(record, ensure_ascii=False))
    os.replace(temporary, stem.with_suffix(".artifact"))  # complete: ready to replay
    return data


def replay_artifact(store: Store, record_path: Path) -> None:
    """Upload a spooled artifact (once: a retry finds it already there), then remove it."""
    from kleio.core.model.artifacts import ARTIFACT, put_artifact

    record = json.loads(record_path.read_text())
    existing = store.find_blobs(
        {
            "trial": record["trial"],
            "kind": ARTIFACT,
            "filename": record["filename"],
            "time": record["time"],
        }
    )
    if not existing:
        with open(record_path.with_suffix(".bin"), "rb") as stream:
            put_artifact(
                store,
                record["trial"],
                record["filename"],
                stream,
                record["attributes"],
                record["time"],
                rank=record.get("rank") if type(record.get("rank")) is int else None,
            )
    record_path.with_suffix(".bin").unlink(missing_ok=True)
    record_path.unlink(missing_ok=True)


def pending_spools(folder: Path, trial_id: str | None = None) -> list[Path]:
    """Spool files waiting for the store: events (``.jsonl``) and artifacts."""
    if not folder.is_dir():
        return []
    prefix = f"{trial_id}-" if trial_id else ""
    return sorted(
        p
        for p in folder.iterdir()
        if p.name.startswith(prefix) and p.suffix in (".jsonl", ".artifact")
    )


def replay_trial_spools(
    store: Store,
    folder: Path,
    trial_id: str | None = None,
    on_refused: Callable[[Event, Exception], None] | None = None,
) -> tuple[int, int]:
    """Replay the spool files of one trial (or all); returns (events, artifacts) uploaded.

    Stops at the first store error, leaving the rest for later. Events the store refuses
    are left out and told to ``on_refused`` (see :func:`replay_spool`).
    """
    events = artifacts = 0
    for path in pending_spools(folder, trial_id):
        if path.suffix == ".jsonl":
            events += replay_spool(store, path, on_refused)
        else:
            replay_artifact(store, path)
            artifacts += 1
    return events, artifacts


class Replay(Value):
    """What a replay of spool files did (see :func:`replay_spools`), for
    :func:`replay_messages` to say. A :class:`~kleio.value.Value`, not a NamedTuple:
    every run imports this module, and making a NamedTuple costs 0.2 ms.

    ``trial_id``: whose files were replayed, one trial's (at the end of its run), or None
    for every trial's (``kleio sync``). ``files`` and ``left``: spool files waiting when
    the replay began, and when it ended. ``refused``: why the store refused each event
    it left out (see :func:`replay_spool`). ``error``: the store error that stopped the
    replay, leaving the rest for later.
    """

    FIELDS = ("trial_id", "folder", "files", "left", "events", "artifacts", "refused", "error")

    def __init__(
        self,
        trial_id: str | None,
        folder: Path,
        files: int,
        left: int,
        events: int,
        artifacts: int,
        refused: list[str],
        error: StoreError | None,
    ):
        self.trial_id, self.folder, self.files, self.left = trial_id, folder, files, left
        self.events, self.artifacts, self.refused, self.error = events, artifacts, refused, error


def replay_spools(opened: Callable[[], Store], folder: Path, trial_id: str | None = None) -> Replay:
    """Replay the spool files of one trial (or all) as :func:`replay_trial_spools` does,
    and keep what it did; a store error is kept in the result, not raised. ``opened``
    gives the store, asked only when something waits: ``kleio sync`` with nothing to
    upload opens no journal (opening a SQLite one creates it)."""
    files = len(pending_spools(folder, trial_id))
    refused: list[str] = []
    if not files:
        return Replay(trial_id, folder, 0, 0, 0, 0, refused, None)
    try:
        events, artifacts = replay_trial_spools(
            opened(), folder, trial_id, lambda event, error: refused.append(str(error))
        )
    except StoreError as error:
        left = len(pending_spools(folder, trial_id))
        return Replay(trial_id, folder, files, left, 0, 0, refused, error)
    return Replay(trial_id, folder, files, 0, events, artifacts, refused, None)


def replay_messages(replay: Replay) -> list[str]:
    """What ``replay`` did, in the words the user reads, in order; a store error is the
    only message when there is one. One trial's replay (the end of a run) says nothing
    when nothing waited and speaks of that trial; ``kleio sync``'s speaks of spool files."""
    if replay.trial_id is None:
        return _sync_messages(replay)
    from kleio.core.model.trial import short_id

    trial = short_id(replay.trial_id)
    if replay.error is not None:
        return [
            f"the database did not answer ({replay.error}): {replay.files} spool files "
            f"of trial {trial} wait in {replay.folder}; `kleio sync` uploads them"
        ]
    messages = []
    if replay.refused:
        messages.append(
            f"left out {len(replay.refused)} spooled events of trial {trial} "
            f"that the database refuses ({replay.refused[0]})"
        )
    if replay.events or replay.artifacts:
        messages.append(
            f"uploaded {replay.events} events and {replay.artifacts} artifacts of trial "
            f"{trial} kept on disk while the database did not answer"
        )
    return messages


def _sync_messages(replay: Replay) -> list[str]:
    if replay.error is not None:
        return [f"{replay.error}; {replay.left} spool files remain in {replay.folder}"]
    if not replay.files:
        return [f"nothing to upload: {replay.folder} holds no spooled events"]
    messages = [
        f"uploaded {replay.events} events and {replay.artifacts} artifacts "
        f"from {replay.files} spool files"
    ]
    if replay.refused:
        messages.append(
            f"left out {len(replay.refused)} events the database refuses "
            f"({replay.refused[0]}): they can never be stored"
        )
    return messages
