"""The embedded default store: one SQLite file in WAL mode.

Safe for many processes on one machine. Not for a network file system: SQLite's
locking relies on POSIX locks and shared memory that NFS and similar do not provide
faithfully, so use MongoDB when machines share the journal.

Writes take the database lock with ``BEGIN IMMEDIATE`` and wait for it up to
``busy_timeout`` seconds, so concurrent writers queue instead of failing with
"database is locked".
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kleio.forking import at_fork
from kleio.store.base import (
    BlobInfo,
    DuplicateTrialError,
    Event,
    EventPage,
    Store,
    StoreError,
    StoreUnavailable,
    TrialQuery,
)

#: ``PRAGMA application_id`` of a Kleio database ("KLIO").
APPLICATION_ID = 0x4B4C494F
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE trials (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    status TEXT,
    project TEXT,
    parent TEXT,
    document TEXT NOT NULL
);
CREATE INDEX trials_created ON trials (created DESC, id);
CREATE INDEX trials_status ON trials (status);
CREATE INDEX trials_project ON trials (project);
CREATE INDEX trials_parent ON trials (parent);
CREATE TABLE trial_tags (
    trial TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (tag, trial)
) WITHOUT ROWID;
CREATE TABLE events (
    trial TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    time REAL NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (trial, kind, key)
) WITHOUT ROWID;
CREATE TABLE blobs (
    id TEXT PRIMARY KEY,
    length INTEGER NOT NULL,
    chunk_size INTEGER NOT NULL,
    uploaded REAL NOT NULL,
    metadata TEXT NOT NULL
);
CREATE TABLE blob_chunks (
    blob TEXT NOT NULL,
    n INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (blob, n)
);
"""


def _make_dumps():
    """Compact JSON of a value, NaN and infinities allowed, as fast as CPython allows.

    Every event is encoded once: calling the C encoder directly costs half of
    ``JSONEncoder.encode`` (whose Python wrapper dominates for small dicts), and
    ``json.dumps`` with options would also build a new encoder per call.
    """
    encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # another Python implementation: the portable way
        return encoder.encode
    chunks = make(
        None, encoder.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    join = "".join

    def dumps(value: Any) -> str:
        return join(chunks(value, 0))

    return dumps


_dumps = _make_dumps()


def _get_path(document: Mapping[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _set_path(document: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        child = document.get(part)
        if not isinstance(child, dict):
            child = document[part] = {}
        document = child
    document[last] = value


def _json_path(field: str) -> str:
    return "$" + "".join(f'."{part}"' for part in field.split("."))


def _json_param(value: Any) -> Any:
    """A metadata value as ``json_extract`` returns it, for an equality test."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, dict)):
        return _dumps(value)
    return value


def _unlocked(store: SQLiteStore) -> None:
    store._lock = threading.RLock()


#: SQLite's result codes for failures that may pass: SQLITE_IOERR, SQLITE_FULL,
#: SQLITE_CANTOPEN (Python 3.11+ gives the code; before, the message tells).
_TRANSIENT_CODES = {10, 13, 14}
_TRANSIENT_MESSAGES = ("disk is full", "disk I/O error", "unable to open database file")


def _is_transient(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _TRANSIENT_CODES
    return any(sign in str(error) for sign in _TRANSIENT_MESSAGES)


class SQLiteStore(Store):
    """A store in one SQLite file; see :mod:`kleio.store.base` for the contract."""

    def __init__(self, path: str | os.PathLike, busy_timeout: float = 120.0):
        self.path = Path(path).expanduser()
        self.address = str(self.path)
        self._busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None
        self._pid = -1
        # A fork waits for a write in progress: a child must not inherit the lock held
        # by a thread it does not have, nor a connection in the middle of a transaction.
        # The child starts unlocked and reconnects on first use.
        at_fork(
            self,
            before=lambda store: store._lock.acquire(),
            after_in_parent=lambda store: store._lock.release(),
            after_in_child=_unlocked,
        )

    @classmethod
    def open(cls, address: str, name: str = "kleio") -> SQLiteStore:
        """``sqlite:///PATH`` or a plain path; ``name`` is unused (one file, one journal)."""
        return cls(address[len("sqlite://") :] if address.startswith("sqlite://") else address)

    # -- connection ------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        # After a fork the parent's connection must be abandoned, never used or closed.
        self._connection = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailable(
                f"cannot create the folder of the database {self.address}: {error.strerror}"
            ) from None
        try:
            connection = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            self._prepare(connection)
        except sqlite3.DatabaseError as error:
            kind = StoreUnavailable if _is_transient(error) else StoreError
            raise kind(f"cannot open the database {self.address}: {error}") from None
        self._connection = connection
        self._pid = os.getpid()
        return connection

    def _prepare(self, connection: sqlite3.Connection) -> None:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        if application_id not in (0, APPLICATION_ID):
            connection.close()
            raise StoreError(f"{self.address} is not a Kleio database")
        if application_id == 0:
            with self._immediate(connection):
                application_id = connection.execute("PRAGMA application_id").fetchone()[0]
                tables = connection.execute(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                ).fetchone()[0]
                if application_id == 0 and tables:
                    raise StoreError(f"{self.address} is not a Kleio database")
                if application_id == 0:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            connection.execute(statement)
                    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.address} was written by a newer Kleio (schema {version}); upgrade kleio"
            )
        if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")

    @contextmanager
    def _immediate(self, connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database lock from its first statement."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
            connection.execute("COMMIT")
        except BaseException:
            # A full disk may have ended the transaction already, or left it open after
            # a failed COMMIT: either way the connection must come out of it usable.
            if connection.in_transaction:
                try:
                    connection.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            connection = self._connect()
            try:
                with self._immediate(connection) as transaction:
                    yield transaction
            except sqlite3.OperationalError as error:
                raise self._failure(error) from None

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            connection = self._connect()
            try:
                yield connection
            except sqlite3.OperationalError as error:
                raise self._failure(error) from None

    def _failure(self, error: sqlite3.Error) -> StoreError:
        message = str(error)
        if "locked" in message or "busy" in message:
            return StoreUnavailable(
                f"the database {self.address} stayed locked for {self._busy_timeout:g} s"
            )
        if _is_transient(error):  # a full disk or an I/O error: may work again later
            return StoreUnavailable(f"database {self.address}: {message}")
        return StoreError(f"database {self.address}: {message}")

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    # -- trial documents -------------------------------------------------------------
    @staticmethod
    def _columns(document: Mapping[str, Any]) -> tuple:
        refers = document.get("refers") or {}
        return (
            document.get("created", time.time()),
            document.get("status"),
            document.get("project"),
            refers.get("parent") if isinstance(refers, Mapping) else None,
            _dumps(document),
        )

    @staticmethod
    def _write_tags(connection: sqlite3.Connection, trial_id: str, tags: Any) -> None:
        connection.execute("DELETE FROM trial_tags WHERE trial = ?", (trial_id,))
        connection.executemany(
            "INSERT OR IGNORE INTO trial_tags (trial, tag) VALUES (?, ?)",
            [(trial_id, tag) for tag in tags or ()],
        )

    def create_trial(self, document: Mapping[str, Any]) -> None:
        trial_id = document["_id"]
        with self._writing() as connection:
            try:
                connection.execute(
                    "INSERT INTO trials (id, created, status, project, parent, document)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (trial_id, *self._columns(document)),
                )
            except sqlite3.IntegrityError:
                raise DuplicateTrialError(trial_id) from None
            self._write_tags(connection, trial_id, document.get("tags"))

    def get_trial(self, trial_id: str) -> dict | None:
        with self._reading() as connection:
            row = connection.execute(
                "SELECT document FROM trials WHERE id = ?", (trial_id,)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def _find_trials(self, query: TrialQuery) -> list[dict]:
        clauses, parameters = [], []
        if query.id_prefix:
            clauses.append("id >= ? AND id < ?")
            parameters += [query.id_prefix, query.id_prefix + "\U0010ffff"]
        if query.status is not None:
            status = list(query.status)
            clauses.append(f"status IN ({', '.join('?' * len(status))})")
            parameters += status
        for tag in dict.fromkeys(query.tags or ()):
            clauses.append("id IN (SELECT trial FROM trial_tags WHERE tag = ?)")
            parameters.append(tag)
        if query.project is not None:
            clauses.append("project = ?")
            parameters.append(query.project)
        if query.parent is not None:
            clauses.append("parent = ?")
            parameters.append(query.parent)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        order = " ORDER BY created DESC, id" + (" LIMIT ?" if query.limit is not None else "")
        if query.limit is not None:
            parameters.append(int(query.limit))
        if query.fields:
            # Only the fields asked for, extracted by SQLite: a listing does not parse
            # every environment snapshot. A document SQLite cannot parse (NaN in a
            # configuration file) makes the query fail: then read whole documents.
            names = ["_id", *(name for name in query.fields if name != "_id")]
            pairs = ", ".join(f"'{name}', json_extract(document, ?)" for name in names[1:])
            selected = f"json_object('_id', id{', ' if pairs else ''}{pairs})"
            try:
                with self._reading() as connection:
                    rows = connection.execute(
                        f"SELECT {selected} FROM trials{where}{order}",
                        [_json_path(name) for name in names[1:]] + parameters,
                    ).fetchall()
                return [json.loads(row[0]) for row in rows]
            except StoreError:
                pass
        with self._reading() as connection:
            rows = connection.execute(
                f"SELECT document FROM trials{where}{order}", parameters
            ).fetchall()
        documents = [json.loads(row[0]) for row in rows]
        if query.fields:
            keep = {"_id", *query.fields}
            documents = [{k: v for k, v in d.items() if k in keep} for d in documents]
        return documents

    def update_trial(
        self,
        trial_id: str,
        changes: Mapping[str, Any],
        expected: Mapping[str, Any] | None = None,
    ) -> bool:
        with self._writing() as connection:
            row = connection.execute(
                "SELECT document FROM trials WHERE id = ?", (trial_id,)
            ).fetchone()
            if row is None:
                return False
            document = json.loads(row[0])
            for path, value in (expected or {}).items():
                if _get_path(document, path) != value:
                    return False
            for path, value in changes.items():
                _set_path(document, path, value)
            created, status, project, parent, text = self._columns(document)
            connection.execute(
                "UPDATE trials SET status = ?, project = ?, parent = ?, document = ? WHERE id = ?",
                (status, project, parent, text, trial_id),
            )
            if "tags" in changes:
                self._write_tags(connection, trial_id, document.get("tags"))
        return True

    # -- events ----------------------------------------------------------------------
    def append_events(self, events: Sequence[Event]) -> None:
        if not events:
            return
        rows = [(e.trial, e.kind, e.key, e.time, _dumps(e.data)) for e in events]
        with self._writing() as connection:
            connection.executemany(
                "INSERT OR IGNORE INTO events (trial, kind, key, time, data)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def _event_kinds(self, trial: str) -> list[str]:
        # One index seek per kind rather than a scan of every event of the trial.
        kinds: list[str] = []
        with self._reading() as connection:
            while True:
                row = connection.execute(
                    "SELECT kind FROM events WHERE trial = ? AND kind > ? ORDER BY kind LIMIT 1",
                    (trial, kinds[-1] if kinds else ""),
                ).fetchone()
                if row is None:
                    return kinds
                kinds.append(row[0])

    def _event_page(self, page: EventPage) -> list[Event]:
        trial, kind = page.trial, page.kind
        clauses, parameters = ["trial = ?", "kind = ?"], [trial, kind]
        if page.low is not None:
            clauses.append("key > ?" if page.strict else "key >= ?")
            parameters.append(page.low)
        if page.high is not None:
            clauses.append("key < ?")
            parameters.append(page.high)
        with self._reading() as connection:
            rows = connection.execute(
                "SELECT key, time, data FROM events WHERE "
                + " AND ".join(clauses)
                + " ORDER BY key LIMIT ?",
                (*parameters, page.limit),
            ).fetchall()
        return [Event(trial, kind, key, seconds, json.loads(data)) for key, seconds, data in rows]

    def count_events(self, trial: str, kinds: Sequence[str] | None = None) -> int:
        query, parameters = "SELECT count(*) FROM events WHERE trial = ?", [trial]
        if kinds is not None:
            kinds = list(kinds)
            query += f" AND kind IN ({', '.join('?' * len(kinds))})"
            parameters += kinds
        with self._reading() as connection:
            return connection.execute(query, parameters).fetchone()[0]

    # -- blobs -----------------------------------------------------------------------
    def _write_chunks(self, blob_id: str, first: int, chunks: list[bytes]) -> None:
        with self._writing() as connection:
            self._insert_chunks(connection, blob_id, first, chunks)

    def _complete_blob(self, info: BlobInfo, first: int, chunks: list[bytes]) -> None:
        with self._writing() as connection:
            self._insert_chunks(connection, info.id, first, chunks)
            connection.execute(
                "INSERT INTO blobs (id, length, chunk_size, uploaded, metadata)"
                " VALUES (?, ?, ?, ?, ?)",
                (info.id, info.length, info.chunk_size, time.time(), _dumps(info.metadata)),
            )

    @staticmethod
    def _insert_chunks(
        connection: sqlite3.Connection, blob_id: str, first: int, chunks: list[bytes]
    ) -> None:
        connection.executemany(
            "INSERT INTO blob_chunks (blob, n, data) VALUES (?, ?, ?)",
            [(blob_id, first + index, chunk) for index, chunk in enumerate(chunks)],
        )

    def _discard_chunks(self, blob_id: str) -> None:
        with self._writing() as connection:
            connection.execute(
                "DELETE FROM blob_chunks WHERE blob = ?"
                " AND NOT EXISTS (SELECT 1 FROM blobs WHERE id = ?)",
                (blob_id, blob_id),
            )

    def find_blobs(self, where: Mapping[str, Any]) -> list[BlobInfo]:
        clauses, parameters = [], []
        for path, value in where.items():
            if value is None:
                clauses.append("json_extract(metadata, ?) IS NULL")
                parameters.append(_json_path(path))
            else:
                clauses.append("json_extract(metadata, ?) = ?")
                parameters += [_json_path(path), _json_param(value)]
        query = "SELECT id, length, chunk_size, metadata FROM blobs"
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        with self._reading() as connection:
            rows = connection.execute(query, parameters).fetchall()
        return [
            BlobInfo(blob_id, length, chunk_size, json.loads(metadata))
            for blob_id, length, chunk_size, metadata in rows
        ]

    def _blob_exists(self, blob_id: str) -> bool:
        with self._reading() as connection:
            return (
                connection.execute("SELECT 1 FROM blobs WHERE id = ?", (blob_id,)).fetchone()
                is not None
            )

    def _chunk_page(self, blob_id: str, start: int, stop: int) -> list[bytes]:
        with self._reading() as connection:
            rows = connection.execute(
                "SELECT data FROM blob_chunks WHERE blob = ? AND n >= ? AND n < ? ORDER BY n",
                (blob_id, start, stop),
            ).fetchall()
        return [data for (data,) in rows]
