"""The SQLite store: connections, transactions, and each method of the contract as SQL
over the tables of :mod:`kleio.store.sqlite.schema`.

Writes take the database lock with ``BEGIN IMMEDIATE`` and wait for it up to
``busy_timeout`` seconds, so concurrent writers queue instead of failing with
"database is locked". A wait longer than :data:`WAIT_NOTICE` is said once on stderr,
naming the process holding the lock when the system tells (Linux's ``/proc/locks``):
a journal locked for minutes by a forgotten process does not look like a hung command.
"""

from __future__ import annotations

import itertools
import json
import operator
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path
from typing import Any

from kleio.codec import compact_json as _dumps
from kleio.codec import decode_array
from kleio.forking import at_fork
from kleio.private_files import create_private_file, private_folder
from kleio.store.base import (
    ABANDONED_UPLOAD_AGE,
    BlobInfo,
    Block,
    Catalogue,
    Columns,
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
from kleio.store.blocks import block_summary
from kleio.store.keys import group_events
from kleio.store.sqlite import schema
from kleio.store.sqlite.documents import (
    LISTING_ORDER,
    get_path,
    json_param,
    json_path,
    listing,
    set_path,
)
from kleio.store.sqlite.rows import (
    SUMMARY_COLUMNS,
    bounds,
    inside,
    row_events,
    rows_of,
    summary_of,
    summary_row,
)
from kleio.store.summaries import (
    SUMMARY_PAGE,
    merge_summaries,
    summarise_events,
)

#: Events deleted per transaction: the lock is held a fraction of a second at a time.
DELETE_BATCH = 20_000
#: Seconds a write waits for the lock before Kleio says what it waits for: longer than
#: any transaction of Kleio's own (a batch of deletions holds it a fraction of a second).
WAIT_NOTICE = 3.0
#: Parameters per statement at most (SQLite's default limit is 32,766 since 3.32).
_PARAMETERS = 900
_key_of, _time_of, _data_of = itemgetter(2), itemgetter(3), itemgetter(4)  # an event's


def _insert_rows(connection: sqlite3.Connection, columns: Columns) -> dict[str, Summary]:
    """Insert the rows of events of one trial and kind, and their blocks; their
    summaries, worked out with the blocks (see kleio.store.blocks.summarise_block)."""
    blocks: list[tuple] = []
    connection.executemany(
        "INSERT INTO events (trial, kind, first_key, last_key, count, keys, times, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows_of(columns, blocks),
    )
    _insert_blocks(connection, [block for block, _ in blocks])
    return merge_summaries(*(summaries for _, summaries in blocks))


def _insert_blocks(connection: sqlite3.Connection, blocks: list[tuple]) -> None:
    connection.executemany(
        "INSERT OR REPLACE INTO event_blocks (trial, kind, first_key, last_key, count, summary)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        blocks,
    )


def _without(columns: Columns, stored: set[str]) -> Columns:
    """The events of ``columns`` whose keys are not in ``stored``."""
    kept = [index for index, key in enumerate(columns.keys) if key not in stored]
    keys, times, datas = columns.keys, columns.times, columns.datas
    return Columns(
        columns.trial,
        columns.kind,
        [keys[index] for index in kept],
        [times[index] for index in kept],
        [datas[index] for index in kept],
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


def _is_locked(error: sqlite3.Error) -> bool:
    message = str(error)
    return "locked" in message or "busy" in message


def _lock_holders(paths: Sequence[Path]) -> list[int]:
    """The other processes holding a lock on any of ``paths`` (the journal, its WAL
    index), from Linux's ``/proc/locks``; none where the system does not tell."""
    files = set()
    for path in paths:
        try:
            found = os.stat(path)
        except OSError:
            continue
        files.add(f"{os.major(found.st_dev):02x}:{os.minor(found.st_dev):02x}:{found.st_ino}")
    holders: list[int] = []
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            for line in locks:
                fields = line.split()
                # "1: POSIX  ADVISORY  WRITE 4242 08:01:1234 120 120"; "->" marks a waiter.
                if len(fields) < 6 or fields[1] == "->" or fields[5] not in files:
                    continue
                pid = int(fields[4]) if fields[4].isdigit() else 0
                if pid and pid != os.getpid() and pid not in holders:
                    holders.append(pid)
    except OSError:
        pass
    return holders


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
        taken = schema.OWN_COLUMNS.intersection(catalogue.indexed)
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
        #: Whether this store said it waits for the lock (once is enough).
        self._said_waiting = False
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
        """Make a new journal's tables, or bring an older journal to this version (see
        :mod:`kleio.store.sqlite.schema`), each in a transaction holding the lock: of
        processes opening one journal at once, the first does it, the others find it
        done."""
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        if application_id not in (0, schema.APPLICATION_ID):
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
                    schema.create_tables(connection, self.catalogue)
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"{self.address} was written by a newer Kleio (schema {version}); upgrade kleio"
            )
        if version < schema.SCHEMA_VERSION:
            with self._immediate(connection):
                schema.upgrade(connection, self.catalogue)
        if schema.lacks_indexed_columns(connection, self.catalogue):
            with self._immediate(connection):
                schema.add_indexed_columns(connection, self.catalogue)
        self._use_wal(connection)
        connection.execute("PRAGMA synchronous = NORMAL")

    def _use_wal(self, connection: sqlite3.Connection) -> None:
        """Switch a new journal to WAL. The switch needs the database to itself and
        SQLite does not wait for it: processes opening a new journal at once (an array
        of jobs) try again until ``busy_timeout``."""
        started = time.monotonic()
        while True:
            try:
                if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    connection.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                waited = time.monotonic() - started
                if "locked" not in str(error) or waited > self._busy_timeout:
                    raise
                if waited > WAIT_NOTICE:
                    self._say_waiting()
                time.sleep(0.01)

    def _begin(self, connection: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``, waiting for the lock up to ``busy_timeout``; after
        :data:`WAIT_NOTICE` seconds, saying so (two ``PRAGMA busy_timeout``, a
        microsecond each, tell a long wait from a short one)."""
        if self._said_waiting or self._busy_timeout <= WAIT_NOTICE:
            connection.execute("BEGIN IMMEDIATE")
            return
        connection.execute(f"PRAGMA busy_timeout = {int(WAIT_NOTICE * 1000)}")
        try:
            connection.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if not _is_locked(error):
                raise
        finally:
            connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        self._say_waiting()
        connection.execute("BEGIN IMMEDIATE")

    def _say_waiting(self) -> None:
        """Say once on stderr what this process waits for, and for whom."""
        if self._said_waiting:
            return
        self._said_waiting = True
        holders = _lock_holders([self.path, Path(f"{self.path}-shm"), Path(f"{self.path}-wal")])
        holder = f" (pid {', '.join(map(str, holders))})" if holders else ""
        print(
            f"kleio: waiting for the journal {self.address}, locked by another process"
            f"{holder}; waiting up to {self._busy_timeout:g} s",
            file=sys.stderr,
            flush=True,
        )

    @contextmanager
    def _immediate(self, connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database lock from its first statement."""
        self._begin(connection)
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
        if _is_locked(error):
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
            *[get_path(document, path) for path in self._paths],
            _dumps(document),
            listing(document, self.catalogue.listed),
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
        """Three ways to read the trials of a query, the cheapest the query allows: the
        listings alone when every field asked for is listed (``kleio ls``), the fields
        extracted by SQLite when some are not, whole documents when no fields are asked
        for (or when SQLite cannot read a document: see :meth:`_extracted_fields`)."""
        clauses = self._clauses(query)
        names = [name for name in dict.fromkeys(query.fields or ()) if name != "_id"]
        if names and set(self.catalogue.listed).issuperset(names):
            return self._listed_fields(names, *clauses)
        if query.fields:
            found = self._extracted_fields(names, *clauses)
            if found is not None:
                return found
        return self._whole_documents(query.fields, *clauses)

    def _count_trials(self, query: TrialQuery) -> int:
        # COUNT(*) of the rows the query's clauses find, through the same indexes.
        where, parameters = self._clauses(
            TrialQuery(query.id_prefix, query.tags, query.where), order=False
        )
        with self._reading() as connection:
            found = connection.execute(f"SELECT count(*) FROM trials{where}", parameters)
            return found.fetchone()[0]

    @staticmethod
    def _clauses(query: TrialQuery, order: bool = True) -> tuple[str, list]:
        """The ``WHERE``, ``ORDER BY`` and ``LIMIT`` of a query, and their parameters."""
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
        if not order:
            return where, parameters
        order = " ORDER BY created DESC, id" + (" LIMIT ?" if query.limit is not None else "")
        if query.limit is not None:
            parameters.append(int(query.limit))
        return where + order, parameters

    def _listed_fields(self, names: list[str], clauses: str, parameters: list) -> list[dict]:
        """Every field asked for is listed: the listings (which hold the id), joined by
        SQLite into one JSON text parsed at once; past the longest text SQLite makes
        (1 GB by default, some 4 million trials), joined here."""
        with self._reading() as connection:
            try:
                (text,) = connection.execute(
                    f"SELECT '[' || group_concat(listing, ','{LISTING_ORDER}) || ']'"
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

    def _extracted_fields(
        self, names: list[str], clauses: str, parameters: list
    ) -> list[dict] | None:
        """Some fields asked for are not listed: only those, extracted by SQLite, so that
        a query does not parse every environment snapshot in Python. None when a document
        SQLite cannot parse (NaN in a configuration file) fails the query: then whole
        documents are read.

        One json_extract of every path parses each document once (json_object of one
        json_extract per field parsed it once per field: 2.5x slower over 10,000 trials)
        and gives each value's own text (json_object rounds floats to 15 digits). With
        two paths or more it returns a JSON array (a lone path is given twice: zip drops
        the copy)."""
        paths = [json_path(name) for name in names] or ["$._id"]
        paths += paths[:1] * (len(paths) < 2)
        try:
            with self._reading() as connection:
                rows = connection.execute(
                    f"SELECT id, json_extract(document, {', '.join('?' * len(paths))})"
                    f" FROM trials{clauses}",
                    paths + parameters,
                ).fetchall()
        except StoreError:
            return None
        return [
            {"_id": trial_id, **dict(zip(names, json.loads(values), strict=False))}
            for trial_id, values in rows
        ]

    def _whole_documents(
        self, fields: Sequence[str] | None, clauses: str, parameters: list
    ) -> list[dict]:
        """No fields asked for, or documents SQLite cannot parse: whole documents, parsed
        here, and cut to the ``fields`` asked for."""
        with self._reading() as connection:
            rows = connection.execute(
                f"SELECT document FROM trials{clauses}", parameters
            ).fetchall()
        documents = [json.loads(row[0]) for row in rows]
        if fields:
            keep = {"_id", *fields}
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
                if get_path(document, path) != value:
                    return False
            for path, value in changes.items():
                set_path(document, path, value)
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
            fresh: dict[tuple[str, str], tuple[list[Event], list]] = {}
            for (trial, kind), group in groups.items():
                stored, spans = self._stored_keys(
                    connection, trial, kind, group[0].key, group[-1].key
                )
                new = [e for e in group if e.key not in stored] if stored else group
                if not new:
                    continue
                fresh[(trial, kind)] = new, spans
            for (trial, kind), (new, spans) in fresh.items():
                columns = [list(map(column, new)) for column in (_key_of, _time_of, _data_of)]
                self._keep(connection, Columns(trial, kind, *columns), spans)
        return sum(len(new) for new, _ in fresh.values())

    def append_columns(self, columns: Columns) -> int:
        keys = columns.keys
        if not keys:
            return 0
        if not all(map(operator.lt, keys, itertools.islice(keys, 1, None))):
            return self.append_events(list(columns))  # not in key order, or a key twice
        with self._writing() as connection:
            stored, spans = self._stored_keys(
                connection, columns.trial, columns.kind, keys[0], keys[-1]
            )
            if stored:
                columns = _without(columns, stored)
                if not columns:
                    return 0
            self._keep(connection, columns, spans)
        return len(columns)

    @staticmethod
    def _stored_keys(
        connection: sqlite3.Connection, trial: str, kind: str, low: str, high: str
    ) -> tuple[set[str], list[tuple[str, str]]]:
        """The keys of the trial's events of ``kind`` stored in the rows that reach into
        ``low`` to ``high``, and those rows' spans (first and last keys)."""
        # Events already stored (a batch appended again) are neither inserted nor
        # summarised. The rows whose keys reach into the group's range are few, and
        # none when the group comes after everything stored: one index seek.
        spans, stored = [], set()
        for first, last, count, keys in connection.execute(
            "SELECT first_key, last_key, count, keys FROM events"
            " WHERE trial = ? AND kind = ? AND last_key >= ? AND first_key <= ?",
            (trial, kind, low, high),
        ):
            spans.append((first, last))
            stored.update(decode_array(keys, count))
        return stored, spans

    def _keep(
        self, connection: sqlite3.Connection, columns: Columns, spans: list[tuple[str, str]]
    ) -> None:
        """Insert the rows of events none of which is stored (of one trial and kind, in
        key order) and add them to the summaries; mark their trial and kind overlapping
        when they fall within the ``spans`` of stored rows. The end of both appends."""
        trial, kind, keys = columns.trial, columns.kind, columns.keys
        low, high = keys[0], keys[-1]
        if any(first <= high and last >= low for first, last in spans):
            connection.execute(
                "INSERT OR IGNORE INTO overlapping_events (trial, kind) VALUES (?, ?)",
                (trial, kind),
            )
        self._add_to_summaries(connection, trial, kind, _insert_rows(connection, columns))

    @staticmethod
    def _add_to_summaries(
        connection: sqlite3.Connection, trial: str, kind: str, added: dict[str, Summary]
    ) -> None:
        query = f"SELECT field, {SUMMARY_COLUMNS} FROM summaries WHERE trial = ? AND kind = ?"
        parameters: list[Any] = [trial, kind]
        if len(added) < _PARAMETERS:
            query += f" AND field IN ({', '.join('?' * len(added))})"
            parameters += added
        stored = {
            field: summary_of(rest)
            for field, *rest in connection.execute(query, parameters)
            if field in added
        }
        merged = merge_summaries(stored, added)
        connection.executemany(
            "INSERT OR REPLACE INTO summaries (trial, kind, field, count, first_key, first,"
            " last_key, last, min, max) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [summary_row(trial, kind, field, summary) for field, summary in merged.items()],
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
                    f"SELECT trial, field, {SUMMARY_COLUMNS} FROM summaries"
                    f" WHERE kind = ? AND trial IN ({marks})",
                    (kind, *some),
                ):
                    found.setdefault(trial, {})[field] = summary_of(rest)
                untrusted += [
                    trial
                    for (trial,) in connection.execute(
                        f"SELECT trial FROM stale_summaries WHERE kind = ? AND trial IN ({marks})",
                        (kind, *some),
                    )
                ]
        return found, untrusted

    def _stored_field(self, kind: str, field: str) -> tuple[dict[str, Summary], list[str]]:
        # One pass over the summaries, no document read; the first and last values of
        # every trial decoded in one call (a call each took half the time of the read).
        with self._reading() as connection:
            rows = connection.execute(
                "SELECT trial, count, first_key, first, last_key, last, min, max"
                " FROM summaries WHERE kind = ? AND field = ?",
                (kind, field),
            ).fetchall()
            untrusted = [
                trial
                for (trial,) in connection.execute(
                    "SELECT trial FROM stale_summaries WHERE kind = ?", (kind,)
                )
            ]
        values = json.loads(f"[{','.join([f'{row[3]},{row[5]}' for row in rows])}]")
        found = {
            trial: Summary(count, values[2 * n], values[2 * n + 1], low, high, first, last)
            for n, (trial, count, first, _, last, _, low, high) in enumerate(rows)
        }
        return found, untrusted

    def _recompute_summaries(self, trial: str, kind: str) -> dict[str, Summary]:
        # One transaction: no event can be appended between the reading and the keeping.
        with self._writing() as connection:
            summaries = summarise_events(self._every_event(connection, trial, kind))
            connection.execute("DELETE FROM summaries WHERE trial = ? AND kind = ?", (trial, kind))
            connection.executemany(
                "INSERT INTO summaries (trial, kind, field, count, first_key, first,"
                " last_key, last, min, max) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [summary_row(trial, kind, field, summary) for field, summary in summaries.items()],
            )
            connection.execute(
                "DELETE FROM stale_summaries WHERE trial = ? AND kind = ?", (trial, kind)
            )
        return summaries

    # -- blocks ----------------------------------------------------------------------
    def read_blocks(self, trial: str, kind: str) -> list[Block] | None:
        with self._reading() as connection:
            if self._overlapping(connection, EventPage(trial, kind, None, False, None, 0)):
                return None
            stale = connection.execute(
                "SELECT 1 FROM stale_blocks WHERE trial = ? AND kind = ?", (trial, kind)
            ).fetchone()
        if stale:
            self._summarise_rows(trial, kind)
        with self._reading() as connection:
            blocks = connection.execute(
                "SELECT first_key, last_key, count, summary FROM event_blocks"
                " WHERE trial = ? AND kind = ? ORDER BY first_key",
                (trial, kind),
            ).fetchall()
            # As many rows (counted in the index on last keys, not read): each has its
            # block, since each block is kept under its row's first key.
            (rows,) = connection.execute(
                "SELECT count(*) FROM events WHERE trial = ? AND kind = ?", (trial, kind)
            ).fetchone()
        if rows != len(blocks):  # rows another program wrote, or deleted meanwhile
            return None
        return [Block(*block) for block in blocks]

    def _summarise_rows(self, trial: str, kind: str) -> None:
        """The block of each row of an older journal's (trial, kind), in one transaction
        (none of its rows changes meanwhile), row by row: a million statistics in a few
        seconds, once."""
        with self._writing() as connection:
            if not connection.execute(
                "SELECT 1 FROM stale_blocks WHERE trial = ? AND kind = ?", (trial, kind)
            ).fetchone():
                return  # another process did it
            page = EventPage(trial, kind, None, False, None, 0)
            blocks = []
            for row in connection.execute(
                "SELECT first_key, last_key, count, keys, times, data FROM events"
                " WHERE trial = ? AND kind = ? ORDER BY first_key",
                (trial, kind),
            ):
                summary = block_summary(row_events(page, row))
                blocks.append((trial, kind, row[0], row[1], row[2], summary))
                if len(blocks) >= 1000:
                    _insert_blocks(connection, blocks)
                    blocks = []
            _insert_blocks(connection, blocks)
            connection.execute(
                "DELETE FROM stale_blocks WHERE trial = ? AND kind = ?", (trial, kind)
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
            events += row_events(page, row)
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
                if row_count <= room and inside(page, first, final):
                    pieces.append(data)
                    count, last = count + row_count, final
                    continue
                keys = decode_array(keys, row_count)
                start, stop = bounds(page, keys)
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
                    for table in (
                        "summaries",
                        "stale_summaries",
                        "overlapping_events",
                        "event_blocks",
                        "stale_blocks",
                    ):
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
                parameters.append(json_path(path))
            else:
                clauses.append("json_extract(metadata, ?) = ?")
                parameters += [json_path(path), json_param(value)]
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
        from kleio.store.blobs import blob_age  # `kleio gc` alone: not on a run's start

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

    @contextmanager
    def maintenance(self, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """A lock file beside the journal (``kleio.db.gc.lock``): two ``kleio gc`` at once
        would each count the other's write-ahead log and the space the other gave back.
        filelock is imported here only: tens of milliseconds off every other command."""
        from filelock import FileLock, Timeout

        private_folder(self.path.parent)
        lock = FileLock(f"{self.path}.gc.lock", mode=0o600)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if on_wait is not None:
                on_wait()
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

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
