"""The embedded default store: one SQLite file in WAL mode.

Safe for many processes on one machine. Not for a network file system: SQLite's
locking relies on POSIX locks and shared memory that NFS and similar do not provide
faithfully, so use MongoDB when machines share the journal.

The file, its WAL and their folder are created for the owner only (``0600``, ``0700``:
SQLite gives the WAL the permissions of the database file); an existing file keeps its
permissions.

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
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

from kleio.forking import at_fork
from kleio.private_files import create_private_file, private_folder
from kleio.store.base import (
    ABANDONED_UPLOAD_AGE,
    UNSET,
    BlobInfo,
    Catalogue,
    DuplicateTrialError,
    Event,
    EventPage,
    Store,
    StoreError,
    StoreUnavailable,
    Summary,
    TrialQuery,
    one_of,
)
from kleio.store.blobs import blob_age
from kleio.store.codec import compact_array, decode_array
from kleio.store.codec import compact_json as _dumps
from kleio.store.keys import group_events
from kleio.store.summaries import SUMMARY_PAGE, merge_summaries, summarise_events

#: ``PRAGMA application_id`` of a Kleio database ("KLIO").
APPLICATION_ID = 0x4B4C494F
SCHEMA_VERSION = 4
#: Events deleted per transaction: the lock is held a fraction of a second at a time.
DELETE_BATCH = 20_000


def _trials_table(catalogue: Catalogue) -> str:
    """The trials of a new journal: the id, the time of creation, one column for each
    indexed field of the catalogue (before the document, whose 5 KB a filter then never
    reads), the listing and the document; each indexed column has its index. Kleio's
    catalogue (status, project, parent) makes the table of every version before."""
    indexed = "".join(f'    "{name}" TEXT,\n' for name in catalogue.indexed)
    return (
        "CREATE TABLE trials (\n    id TEXT PRIMARY KEY,\n    created REAL NOT NULL,\n"
        f"{indexed}    listing TEXT,\n    document TEXT NOT NULL\n);\n"
        "CREATE INDEX trials_created ON trials (created DESC, id);\n"
        + "".join(_column_index(name) + ";\n" for name in catalogue.indexed)
    )


def _column_index(name: str) -> str:
    return f'CREATE INDEX IF NOT EXISTS "trials_{name}" ON trials ("{name}")'


#: The columns of the trials table that no indexed field may take.
_OWN_COLUMNS = frozenset(("id", "created", "listing", "document"))

_SCHEMA = """
CREATE TABLE trial_tags (
    trial TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (tag, trial)
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
# Version 2: summaries of events (``first`` and ``last`` as JSON text; ``min`` and
# ``max`` without a type, so an integer stays an integer) and the (trial, kind) pairs
# whose summaries must be recomputed from the events.
_SUMMARIES = """
CREATE TABLE summaries (
    trial TEXT NOT NULL,
    kind TEXT NOT NULL,
    field TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_key TEXT NOT NULL,
    first TEXT NOT NULL,
    last_key TEXT NOT NULL,
    last TEXT NOT NULL,
    min,
    max,
    PRIMARY KEY (trial, kind, field)
) WITHOUT ROWID;
CREATE TABLE stale_summaries (
    trial TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (trial, kind)
) WITHOUT ROWID;
"""
# Version 3: events stored as rows of up to ROW_EVENTS consecutive events of one trial
# and kind (their keys, times and data as three JSON arrays), rather than one row each:
# a batch of statistics costs a few inserts, and is read back in one decode per row.
# ``overlapping_events`` names the (trial, kind) pairs whose rows' key ranges overlap
# (two processes writing at once): their pages are read in a way that merges the rows.
_EVENT_ROWS = """
CREATE TABLE events (
    trial TEXT NOT NULL,
    kind TEXT NOT NULL,
    first_key TEXT NOT NULL,
    last_key TEXT NOT NULL,
    count INTEGER NOT NULL,
    keys TEXT NOT NULL,
    times TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (trial, kind, first_key)
);
CREATE INDEX events_last_key ON events (trial, kind, last_key, first_key);
CREATE TABLE overlapping_events (
    trial TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (trial, kind)
) WITHOUT ROWID;
"""
#: Events per row at most, and the JSON text of a row's data beyond which it is split
#: (output chunks are large).
ROW_EVENTS = 1_000
ROW_TEXT = 1 << 22


def _events_as_rows(connection: sqlite3.Connection) -> None:
    """Version 2 to 3: each trial's events of each kind, in key order, as rows. The data
    texts are joined as they are (no value is decoded): a million events in seconds."""
    connection.execute("ALTER TABLE events RENAME TO events_2")
    _run_script(connection, _EVENT_ROWS)
    insert = (
        "INSERT INTO events (trial, kind, first_key, last_key, count, keys, times, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    held: list[tuple] = []
    size = 0

    def write() -> None:
        keys = [row[2] for row in held]
        times = _dumps([row[3] for row in held])
        data = f"[{','.join(row[4] for row in held)}]"
        group = held[0][:2]
        connection.execute(
            insert, (*group, keys[0], keys[-1], len(held), _dumps(keys), times, data)
        )

    for row in connection.execute(
        "SELECT trial, kind, key, time, data FROM events_2 ORDER BY 1, 2, 3"
    ):
        if held and (row[:2] != held[0][:2] or len(held) == ROW_EVENTS or size > ROW_TEXT):
            write()
            held, size = [], 0
        held.append(row)
        size += len(row[4])
    if held:
        write()
    connection.execute("DROP TABLE events_2")


# Version 4: ``listing``, the JSON object of the id and the listed fields a document holds
# (not None, see Catalogue), written with it, and an index holding it in listing order:
# ``kleio ls`` reads 200 bytes a trial from the index, not the whole document
# (json_extract over 10,000 documents of 5 KB took 0.1 s; the column alone, after the
# document in each row, 30 ms).
_LISTING_INDEX = "CREATE INDEX IF NOT EXISTS trials_listing ON trials (created DESC, id, listing)"
#: Trials given their listing (or a new column) per transaction when a journal is upgraded.
_UPGRADE_BATCH = 1_000


def _listing(document: Mapping[str, Any], listed: Sequence[str]) -> str:
    kept = {name: document[name] for name in listed if document.get(name) is not None}
    return _dumps({"_id": document["_id"], **kept})


def _add_listings(connection: sqlite3.Connection, catalogue: Catalogue) -> None:
    """Version 3 -> 4: the listing of every trial, from its document (json_extract would
    refuse a document holding NaN, which Python reads)."""
    columns = _trial_columns(connection)
    if "listing" not in columns:  # present where a test made a new journal look older
        connection.execute("ALTER TABLE trials ADD COLUMN listing TEXT")
    connection.execute(_LISTING_INDEX)
    _fill(connection, "listing = ?", lambda document: (_listing(document, catalogue.listed),))


def _trial_columns(connection: sqlite3.Connection) -> set[str]:
    return {row[1] for row in connection.execute("PRAGMA table_info(trials)")}


def _add_indexed_columns(connection: sqlite3.Connection, catalogue: Catalogue) -> None:
    """The columns of indexed fields a journal lacks (a field indexed since it was made),
    each after the document, with its index, filled from every document."""
    missing = [name for name in catalogue.indexed if name not in _trial_columns(connection)]
    if not missing:  # another process added them meanwhile
        return
    for name in missing:
        connection.execute(f'ALTER TABLE trials ADD COLUMN "{name}" TEXT')
        connection.execute(_column_index(name))
    paths = [catalogue.indexed[name] for name in missing]
    _fill(
        connection,
        ", ".join(f'"{name}" = ?' for name in missing),
        lambda document: [_get_path(document, path) for path in paths],
    )


def _fill(connection: sqlite3.Connection, assignments: str, values_of: Any) -> None:
    """``UPDATE trials SET assignments`` of every trial, with the values ``values_of``
    gives for its document, in batches of :data:`_UPGRADE_BATCH` trials."""
    last = ""
    while True:
        rows = connection.execute(
            "SELECT id, document FROM trials WHERE id > ? ORDER BY id LIMIT ?",
            (last, _UPGRADE_BATCH),
        ).fetchall()
        if not rows:
            return
        connection.executemany(
            f"UPDATE trials SET {assignments} WHERE id = ?",
            [(*values_of(json.loads(document)), trial) for trial, document in rows],
        )
        last = rows[-1][0]


#: What brings a database of each older schema version to the next one, in the
#: transaction of the upgrade: statements, or a function of the connection and the
#: store's catalogue.
_UPGRADES: dict[int, Any] = {
    # The events journalled before summaries existed are summarised when first read.
    1: _SUMMARIES + "INSERT INTO stale_summaries SELECT DISTINCT trial, kind FROM events;",
    2: lambda connection, catalogue: _events_as_rows(connection),
    3: _add_listings,
}


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
            if value is UNSET:
                return
            child = document[part] = {}
        document = child
    if value is UNSET:
        document.pop(last, None)
    else:
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


#: group_concat's own ORDER BY, where SQLite knows it (3.44).
_LISTING_ORDER = " ORDER BY created DESC, id" if sqlite3.sqlite_version_info >= (3, 44) else ""


def _run_script(connection: sqlite3.Connection, script: str) -> None:
    """Statements separated by ``;``, in the current transaction (``executescript``
    would commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            connection.execute(statement)


def _summary_row(trial: str, kind: str, field: str, summary: Summary) -> tuple:
    return (
        trial,
        kind,
        field,
        summary.count,
        summary.first_key,
        _dumps(summary.first),
        summary.last_key,
        _dumps(summary.last),
        summary.min,
        summary.max,
    )


def _summary_of(row: Sequence) -> Summary:
    """A summary from ``count, first_key, first, last_key, last, min, max``."""
    count, first_key, first, last_key, last, low, high = row
    return Summary(count, json.loads(first), json.loads(last), low, high, first_key, last_key)


_SUMMARY_COLUMNS = "count, first_key, first, last_key, last, min, max"
#: Parameters per statement at most (SQLite's default limit is 32,766 since 3.32).
_PARAMETERS = 900


# The columns of an event (a named tuple), for the loops over every event that the
# builtins run faster than a comprehension.
_key_of, _time_of, _data_of = itemgetter(2), itemgetter(3), itemgetter(4)


def _rows_of(events: list[Event]) -> Iterator[tuple]:
    """The rows of events of one trial and kind in key order: ``ROW_EVENTS`` at most,
    split further while their data is longer than ``ROW_TEXT``."""
    for start in range(0, len(events), ROW_EVENTS):
        yield from _row_of(events[start : start + ROW_EVENTS])


def _row_of(events: list[Event]) -> Iterator[tuple]:
    data = compact_array(list(map(_data_of, events)))
    if len(data) > ROW_TEXT and len(events) > 1:
        middle = len(events) // 2
        yield from _row_of(events[:middle])
        yield from _row_of(events[middle:])
        return
    first, last = events[0], events[-1]
    keys = compact_array(list(map(_key_of, events)))
    times = compact_array(list(map(_time_of, events)))
    yield first.trial, first.kind, first.key, last.key, len(events), keys, times, data


def _insert_rows(connection: sqlite3.Connection, events: list[Event]) -> None:
    connection.executemany(
        "INSERT INTO events (trial, kind, first_key, last_key, count, keys, times, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        _rows_of(events),
    )


def _bounds(page: EventPage, keys: list[str]) -> tuple[int, int]:
    """The slice of a row's sorted ``keys`` that lies in ``page``'s key range."""
    start = 0
    if page.low is not None:
        start = (bisect_right if page.strict else bisect_left)(keys, page.low)
    stop = len(keys) if page.high is None else bisect_left(keys, page.high)
    return start, stop


def _inside(page: EventPage, first: str, last: str) -> bool:
    """Whether a row's keys, ``first`` to ``last``, all lie in ``page``'s key range."""
    above = page.low is None or first > page.low or (first == page.low and not page.strict)
    return above and (page.high is None or last < page.high)


def _row_events(page: EventPage, row: Sequence) -> list[Event]:
    """The events of a row (``first_key, last_key, count, keys, times, data``) in
    ``page``'s key range."""
    count = row[2]
    keys = decode_array(row[3], count)
    start, stop = _bounds(page, keys)
    if start >= stop:
        return []
    times, datas = decode_array(row[4], count), decode_array(row[5], count)
    return list(
        map(
            Event,
            repeat(page.trial),
            repeat(page.kind),
            keys[start:stop],
            times[start:stop],
            datas[start:stop],
        )
    )


def _close(rows: Any) -> None:
    """Finish a cursor left before its end, so it holds no read transaction."""
    if isinstance(rows, sqlite3.Cursor):
        rows.close()


def _blob_info(row: Sequence) -> BlobInfo:
    blob_id, length, chunk_size, metadata, uploaded = row
    return BlobInfo(blob_id, length, chunk_size, json.loads(metadata), uploaded)


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

    def __init__(
        self, path: str | os.PathLike, busy_timeout: float = 120.0, *, catalogue: Catalogue
    ):
        taken = _OWN_COLUMNS.intersection(catalogue.indexed)
        if taken:
            raise ValueError(f"an indexed field cannot be named {', '.join(sorted(taken))}")
        self.path = Path(path).expanduser()
        self.address = str(self.path)
        self.catalogue = catalogue
        # The statements that write a document with the columns of its catalogue.
        self._paths = list(catalogue.indexed.values())
        columns = "".join(f'"{name}", ' for name in catalogue.indexed)
        self._insert_sql = (
            f"INSERT INTO trials (id, created, {columns}document, listing)"
            f" VALUES ({', '.join('?' * (len(self._paths) + 4))})"
        )
        self._update_sql = (
            "UPDATE trials SET "
            + "".join(f'"{name}" = ?, ' for name in catalogue.indexed)
            + "document = ?, listing = ? WHERE id = ?"
        )
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
    def open(cls, address: str, name: str, catalogue: Catalogue) -> SQLiteStore:
        """``sqlite:///PATH`` or a plain path; ``name`` is unused (one file, one journal)."""
        path = address[len("sqlite://") :] if address.startswith("sqlite://") else address
        return cls(path, catalogue=catalogue)

    # -- connection ------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        # After a fork the parent's connection must be abandoned, never used or closed.
        self._connection = None
        try:
            private_folder(self.path.parent)
        except OSError as error:
            raise StoreUnavailable(
                f"cannot create the folder of the database {self.address}: {error.strerror}"
            ) from None
        if not self.path.exists():
            try:
                create_private_file(self.path)
            except OSError as error:
                raise StoreUnavailable(
                    f"cannot create the database {self.address}: {error.strerror}"
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
                    _run_script(
                        connection,
                        _trials_table(self.catalogue)
                        + _SCHEMA
                        + _SUMMARIES
                        + _EVENT_ROWS
                        + _LISTING_INDEX,
                    )
                    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.address} was written by a newer Kleio (schema {version}); upgrade kleio"
            )
        if version < SCHEMA_VERSION:
            with self._immediate(connection):
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                while version < SCHEMA_VERSION:  # another process may have upgraded it
                    upgrade = _UPGRADES[version]
                    if callable(upgrade):
                        upgrade(connection, self.catalogue)
                    else:
                        _run_script(connection, upgrade)
                    version += 1
                    connection.execute(f"PRAGMA user_version = {version}")
        if not _trial_columns(connection).issuperset(self.catalogue.indexed):
            with self._immediate(connection):
                _add_indexed_columns(connection, self.catalogue)
        self._use_wal(connection)
        connection.execute("PRAGMA synchronous = NORMAL")

    def _use_wal(self, connection: sqlite3.Connection) -> None:
        """Switch a new journal to WAL. The switch needs the database to itself and
        SQLite does not wait for it: processes opening a new journal at once (an array
        of jobs) try again until ``busy_timeout``."""
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    connection.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

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
    def _columns(self, document: Mapping[str, Any]) -> tuple:
        """The values of a document's row: its time of creation, its indexed fields, its
        text and its listing."""
        return (
            document.get("created", time.time()),
            *[_get_path(document, path) for path in self._paths],
            _dumps(document),
            _listing(document, self.catalogue.listed),
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
                connection.execute(self._insert_sql, (trial_id, *self._columns(document)))
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
        for tag in dict.fromkeys(query.tags or ()):
            clauses.append("id IN (SELECT trial FROM trial_tags WHERE tag = ?)")
            parameters.append(tag)
        for name, value in query.where.items():  # each indexed field is a column
            if one_of(value):
                values = list(value)
                clauses.append(f'"{name}" IN ({", ".join("?" * len(values))})')
                parameters += values
            else:
                clauses.append(f'"{name}" = ?')
                parameters.append(value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        order = " ORDER BY created DESC, id" + (" LIMIT ?" if query.limit is not None else "")
        if query.limit is not None:
            parameters.append(int(query.limit))
        names = [name for name in dict.fromkeys(query.fields or ()) if name != "_id"]
        if names and set(self.catalogue.listed).issuperset(names):
            return self._find_listings(names, f"{where}{order}", parameters)
        if query.fields:
            # Only the fields asked for, extracted by SQLite: a listing does not parse
            # every environment snapshot. A document SQLite cannot parse (NaN in a
            # configuration file) makes the query fail: then read whole documents.
            # One json_extract of every path parses each document once (json_object of
            # one json_extract per field parsed it once per field: 2.5x slower over
            # 10,000 trials) and gives each value's own text (json_object rounds floats
            # to 15 digits). With two paths or more it returns a JSON array (a lone
            # path is given twice: zip drops the copy).
            paths = [_json_path(name) for name in names] or ["$._id"]
            paths += paths[:1] * (len(paths) < 2)
            try:
                with self._reading() as connection:
                    rows = connection.execute(
                        f"SELECT id, json_extract(document, {', '.join('?' * len(paths))})"
                        f" FROM trials{where}{order}",
                        paths + parameters,
                    ).fetchall()
                return [
                    {"_id": trial_id, **dict(zip(names, json.loads(values), strict=False))}
                    for trial_id, values in rows
                ]
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

    def _find_listings(self, names: list[str], clauses: str, parameters: list) -> list[dict]:
        """``names`` (all listed fields) of the trials of ``clauses``, from the listings
        (which hold the id): SQLite joins them into one JSON text, parsed at once, unless
        that text would pass its limit (1 GB by default, some 4 million trials)."""
        with self._reading() as connection:
            try:
                (text,) = connection.execute(
                    f"SELECT '[' || group_concat(listing, ','{_LISTING_ORDER}) || ']'"
                    f" FROM (SELECT id, created, listing FROM trials{clauses})",
                    parameters,
                ).fetchone()
            except sqlite3.DataError:  # string or blob too big
                rows = connection.execute(
                    f"SELECT listing FROM trials{clauses}", parameters
                ).fetchall()
                text = "[" + ",".join([row[0] for row in rows]) + "]"
        documents = json.loads(text) if text else []
        if len(names) == len(self.catalogue.listed):
            return documents
        kept = ("_id", *names)
        return [{name: d[name] for name in kept if name in d} for d in documents]

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
            _, *columns = self._columns(document)
            connection.execute(self._update_sql, (*columns, trial_id))
            if "tags" in changes:
                self._write_tags(connection, trial_id, document.get("tags"))
        return True

    def delete_trial(self, trial_id: str) -> bool:
        with self._writing() as connection:
            connection.execute("DELETE FROM trial_tags WHERE trial = ?", (trial_id,))
            return connection.execute("DELETE FROM trials WHERE id = ?", (trial_id,)).rowcount > 0

    # -- events ----------------------------------------------------------------------
    def append_events(self, events: Sequence[Event]) -> int:
        if not events:
            return 0
        groups = group_events(events)
        with self._writing() as connection:
            fresh: dict[tuple[str, str], list[Event]] = {}
            for (trial, kind), group in groups.items():
                # Events already stored (a batch appended again) are neither inserted nor
                # summarised. The rows whose keys reach into the group's range are few, and
                # none when the group comes after everything stored: one index seek.
                spans, stored = [], set()
                for first, last, count, keys in connection.execute(
                    "SELECT first_key, last_key, count, keys FROM events"
                    " WHERE trial = ? AND kind = ? AND last_key >= ? AND first_key <= ?",
                    (trial, kind, group[0].key, group[-1].key),
                ):
                    spans.append((first, last))
                    stored.update(decode_array(keys, count))
                new = [e for e in group if e.key not in stored] if stored else group
                if not new:
                    continue
                low, high = new[0].key, new[-1].key
                if any(first <= high and last >= low for first, last in spans):
                    connection.execute(
                        "INSERT OR IGNORE INTO overlapping_events (trial, kind) VALUES (?, ?)",
                        (trial, kind),
                    )
                fresh[(trial, kind)] = new
            for group in fresh.values():
                _insert_rows(connection, group)
            for (trial, kind), new in fresh.items():
                self._add_to_summaries(connection, trial, kind, summarise_events(new))
        return sum(map(len, fresh.values()))

    @staticmethod
    def _add_to_summaries(
        connection: sqlite3.Connection, trial: str, kind: str, added: dict[str, Summary]
    ) -> None:
        query = f"SELECT field, {_SUMMARY_COLUMNS} FROM summaries WHERE trial = ? AND kind = ?"
        parameters: list[Any] = [trial, kind]
        if len(added) < _PARAMETERS:
            query += f" AND field IN ({', '.join('?' * len(added))})"
            parameters += added
        stored = {
            field: _summary_of(rest)
            for field, *rest in connection.execute(query, parameters)
            if field in added
        }
        merged = merge_summaries(stored, added)
        connection.executemany(
            "INSERT OR REPLACE INTO summaries (trial, kind, field, count, first_key, first,"
            " last_key, last, min, max) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_summary_row(trial, kind, field, summary) for field, summary in merged.items()],
        )

    def _stored_summaries(
        self, trials: list[str], kind: str
    ) -> tuple[dict[str, dict[str, Summary]], list[str]]:
        found: dict[str, dict[str, Summary]] = {}
        untrusted: list[str] = []
        with self._reading() as connection:
            for start in range(0, len(trials), _PARAMETERS):
                some = trials[start : start + _PARAMETERS]
                marks = ", ".join("?" * len(some))
                for trial, field, *rest in connection.execute(
                    f"SELECT trial, field, {_SUMMARY_COLUMNS} FROM summaries"
                    f" WHERE kind = ? AND trial IN ({marks})",
                    (kind, *some),
                ):
                    found.setdefault(trial, {})[field] = _summary_of(rest)
                untrusted += [
                    trial
                    for (trial,) in connection.execute(
                        f"SELECT trial FROM stale_summaries WHERE kind = ? AND trial IN ({marks})",
                        (kind, *some),
                    )
                ]
        return found, untrusted

    def _recompute_summaries(self, trial: str, kind: str) -> dict[str, Summary]:
        # One transaction: no event can be appended between the reading and the keeping.
        with self._writing() as connection:
            summaries = summarise_events(self._every_event(connection, trial, kind))
            connection.execute("DELETE FROM summaries WHERE trial = ? AND kind = ?", (trial, kind))
            connection.executemany(
                "INSERT INTO summaries (trial, kind, field, count, first_key, first,"
                " last_key, last, min, max) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_summary_row(trial, kind, field, summary) for field, summary in summaries.items()],
            )
            connection.execute(
                "DELETE FROM stale_summaries WHERE trial = ? AND kind = ?", (trial, kind)
            )
        return summaries

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
        with self._reading() as connection:
            return self._page_events(connection, page)

    def _every_event(
        self, connection: sqlite3.Connection, trial: str, kind: str
    ) -> Iterator[Event]:
        page = EventPage(trial, kind, None, False, None, SUMMARY_PAGE)
        while True:
            events = self._page_events(connection, page)
            yield from events
            if len(events) < page.limit:
                return
            page = page._replace(low=events[-1].key, strict=True)

    @staticmethod
    def _overlapping(connection: sqlite3.Connection, page: EventPage) -> bool:
        return (
            connection.execute(
                "SELECT 1 FROM overlapping_events WHERE trial = ? AND kind = ?",
                (page.trial, page.kind),
            ).fetchone()
            is not None
        )

    @staticmethod
    def _rows(connection: sqlite3.Connection, page: EventPage, overlapping: bool) -> Any:
        """A cursor over the rows that may hold events of ``page``, by first key."""
        start: str | None = ""
        if page.low is not None:
            if overlapping:  # the first row that reaches past ``low``
                above = ">" if page.strict else ">="
                start = connection.execute(
                    "SELECT min(first_key) FROM events WHERE trial = ? AND kind = ?"
                    f" AND last_key {above} ?",
                    (page.trial, page.kind, page.low),
                ).fetchone()[0]
                if start is None:
                    return iter(())
            else:  # rows do not overlap: the row holding ``low`` starts at or before it
                start = connection.execute(
                    "SELECT max(first_key) FROM events WHERE trial = ? AND kind = ?"
                    " AND first_key <= ?",
                    (page.trial, page.kind, page.low),
                ).fetchone()[0]
                if start is None:
                    start = page.low
        query = (
            "SELECT first_key, last_key, count, keys, times, data FROM events"
            " WHERE trial = ? AND kind = ? AND first_key >= ?"
        )
        parameters = [page.trial, page.kind, start]
        if page.high is not None:
            query += " AND first_key < ?"
            parameters.append(page.high)
        return connection.execute(query + " ORDER BY first_key", parameters)

    def _page_events(
        self, connection: sqlite3.Connection, page: EventPage, overlapping: bool | None = None
    ) -> list[Event]:
        if overlapping is None:
            overlapping = self._overlapping(connection, page)
        events: list[Event] = []
        rows = self._rows(connection, page, overlapping)
        for row in rows:
            if len(events) >= page.limit:
                if not overlapping:
                    break
                # Rows come by first key: what lies below this row's first key is final.
                events.sort(key=_key_of)
                if events[page.limit - 1].key < row[0]:
                    break
            events += _row_events(page, row)
        _close(rows)
        if overlapping:
            events.sort(key=_key_of)
        return events[: page.limit]

    def _fetch_data(self, page: EventPage) -> tuple[list, int, str | None]:
        # Whole rows are handed over as their JSON text and joined into one array,
        # decoded in one call: a million statistics make no million keys and times.
        with self._reading() as connection:
            if self._overlapping(connection, page):
                events = self._page_events(connection, page, overlapping=True)
                datas = [event.data for event in events]
                return [datas], len(events), events[-1].key if events else None
            pieces: list[Any] = []
            count, last = 0, None
            rows = self._rows(connection, page, False)
            for row in rows:
                room = page.limit - count
                if room <= 0:
                    break
                first, final, row_count, keys, _, data = row
                if row_count <= room and _inside(page, first, final):
                    pieces.append(data)
                    count, last = count + row_count, final
                    continue
                keys = decode_array(keys, row_count)
                start, stop = _bounds(page, keys)
                stop = min(stop, start + room)
                if start < stop:
                    pieces.append(decode_array(data, row_count)[start:stop])
                    count, last = count + stop - start, keys[stop - 1]
            _close(rows)
        return pieces, count, last

    def _decoded(self, pieces: list) -> list[Any]:
        values: list[Any] = []
        texts: list[str] = []
        for piece in [*pieces, None]:
            if isinstance(piece, str):
                texts.append(piece[1:-1])  # the events of a row, without its brackets
                continue
            if texts:
                values += decode_array(f"[{','.join(texts)}]")
                texts = []
            if piece is not None:
                values += piece
        return values

    def count_events(self, trial: str, kinds: Sequence[str] | None = None) -> int:
        query, parameters = "SELECT coalesce(sum(count), 0) FROM events WHERE trial = ?", [trial]
        if kinds is not None:
            kinds = list(kinds)
            query += f" AND kind IN ({', '.join('?' * len(kinds))})"
            parameters += kinds
        with self._reading() as connection:
            return connection.execute(query, parameters).fetchone()[0]

    def delete_events(self, trial: str) -> int:
        deleted = 0
        while True:
            with self._writing() as connection:
                rows, count = [], 0
                for kind, first, events in connection.execute(
                    "SELECT kind, first_key, count FROM events WHERE trial = ? LIMIT ?",
                    (trial, DELETE_BATCH),
                ):
                    rows.append((trial, kind, first))
                    count += events
                    if count >= DELETE_BATCH:
                        break
                connection.executemany(
                    "DELETE FROM events WHERE trial = ? AND kind = ? AND first_key = ?", rows
                )
                deleted += count
                if not rows:
                    for table in ("summaries", "stale_summaries", "overlapping_events"):
                        connection.execute(f"DELETE FROM {table} WHERE trial = ?", (trial,))
                    return deleted

    def event_trials(self) -> set[str]:
        # One index seek per trial rather than a scan of every event.
        trials: set[str] = set()
        last = ""
        with self._reading() as connection:
            while True:
                row = connection.execute(
                    "SELECT trial FROM events WHERE trial > ? ORDER BY trial LIMIT 1", (last,)
                ).fetchone()
                if row is None:
                    return trials
                last = row[0]
                trials.add(last)

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
        query = "SELECT id, length, chunk_size, metadata, uploaded FROM blobs"
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        with self._reading() as connection:
            rows = connection.execute(query, parameters).fetchall()
        return [_blob_info(row) for row in rows]

    def _blob_info(self, blob_id: str) -> BlobInfo | None:
        with self._reading() as connection:
            row = connection.execute(
                "SELECT id, length, chunk_size, metadata, uploaded FROM blobs WHERE id = ?",
                (blob_id,),
            ).fetchone()
        return _blob_info(row) if row else None

    def delete_blob(self, blob_id: str) -> bool:
        # One transaction: freeing even a 1 GB blob's pages takes a fraction of a second.
        with self._writing() as connection:
            found = connection.execute("DELETE FROM blobs WHERE id = ?", (blob_id,)).rowcount
            connection.execute("DELETE FROM blob_chunks WHERE blob = ?", (blob_id,))
        return found > 0

    # -- space -----------------------------------------------------------------------
    def reclaim(self, abandoned_after: float = ABANDONED_UPLOAD_AGE) -> int:
        now = time.time()
        with self._reading() as connection:
            orphans = [
                blob_id
                for (blob_id,) in connection.execute(
                    "SELECT DISTINCT blob FROM blob_chunks WHERE blob NOT IN (SELECT id FROM blobs)"
                )
                if blob_age(blob_id, now) > abandoned_after
            ]
        removed = 0
        for blob_id in orphans:
            with self._writing() as connection:
                removed += connection.execute(
                    "DELETE FROM blob_chunks WHERE blob = ?"
                    " AND NOT EXISTS (SELECT 1 FROM blobs WHERE id = ?)",
                    (blob_id, blob_id),
                ).rowcount
        with self._lock:
            connection = self._connect()
            try:
                # VACUUM rewrites the file without its free pages; the checkpoint then
                # empties the write-ahead log, which held the rewritten pages.
                connection.execute("VACUUM")
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.OperationalError as error:
                raise self._failure(error) from None
        return removed

    def size(self) -> int | None:
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.stat(f"{self.path}{suffix}").st_size
            except OSError:
                pass
        return total

    def _chunk_page(self, blob_id: str, start: int, stop: int) -> list[bytes]:
        with self._reading() as connection:
            rows = connection.execute(
                "SELECT data FROM blob_chunks WHERE blob = ? AND n >= ? AND n < ? ORDER BY n",
                (blob_id, start, stop),
            ).fetchall()
        return [data for (data,) in rows]
