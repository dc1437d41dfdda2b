"""The tables of a SQLite journal, the version a journal is at, and the upgrades that
bring an older journal to this version, run in the transaction of the process that first
opens it (see :meth:`kleio.store.sqlite.store.SQLiteStore._prepare`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from kleio.codec import compact_json as _dumps
from kleio.store.base import Catalogue
from kleio.store.sqlite.documents import get_path, listing

#: ``PRAGMA application_id`` of a Kleio database ("KLIO").
APPLICATION_ID = 0x4B4C494F
SCHEMA_VERSION = 6


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
OWN_COLUMNS = frozenset(("id", "created", "listing", "document"))

# Version 1: besides the trials, their tags (a row each, so that a tag is an index
# seek), blobs and their chunks.
_TABLES = """
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
EVENT_ROWS = """
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
# Version 4: ``listing``, the JSON object of the id and the listed fields a document holds
# (see kleio.store.sqlite.documents.listing), written with it, and an index holding it in
# listing order: ``kleio ls`` reads 200 bytes a trial from the index, not the whole
# document (json_extract over 10,000 documents of 5 KB took 0.1 s; the column alone,
# after the document in each row, 30 ms).
_LISTING_INDEX = "CREATE INDEX IF NOT EXISTS trials_listing ON trials (created DESC, id, listing)"
# Version 5: a block summary of each row of events (see kleio.store.blocks), written in
# the transaction of the row, in a table of its own with the row's key range and count:
# 300 bytes a row read without the row's 30 KB of keys, times and data (a column after
# them would be read by following each row's overflow pages; 10,000 blocks read in
# 0.09 s, joined to their rows in 0.16 to 0.34 s, on a loaded machine).
# ``stale_blocks`` names the (trial, kind) pairs whose rows have no block yet (a journal
# from before): they are summarised when first read.
EVENT_BLOCKS = """
CREATE TABLE IF NOT EXISTS event_blocks (
    trial TEXT NOT NULL,
    kind TEXT NOT NULL,
    first_key TEXT NOT NULL,
    last_key TEXT NOT NULL,
    count INTEGER NOT NULL,
    summary TEXT NOT NULL,
    PRIMARY KEY (trial, kind, first_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stale_blocks (
    trial TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (trial, kind)
) WITHOUT ROWID;
"""
# Also in version 5: the tags of each trial found by an index. Writing a trial's tags
# deletes its rows first (`WHERE trial = ?`), which the table's key (tag, trial) cannot
# seek: every tag of the journal was read, and creating a journal's 30,000th tagged
# trial took 30 ms instead of 1.
_TAGS_BY_TRIAL = "CREATE INDEX IF NOT EXISTS trial_tags_trial ON trial_tags (trial);"
#: Trials given their listing (or a new column) per transaction when a journal is upgraded.
_UPGRADE_BATCH = 1_000


def create_tables(connection: sqlite3.Connection, catalogue: Catalogue) -> None:
    """The tables of a new journal, marked as Kleio's at :data:`SCHEMA_VERSION`."""
    tables = (
        (_trials_table(catalogue) + _TABLES + _SUMMARIES + EVENT_ROWS + EVENT_BLOCKS)
        + _TAGS_BY_TRIAL
        + _LISTING_INDEX
    )
    _run_script(connection, tables)
    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def upgrade(connection: sqlite3.Connection, catalogue: Catalogue) -> None:
    """Bring the journal from its version to :data:`SCHEMA_VERSION`, step by step, in
    the caller's transaction (another process may have upgraded it meanwhile)."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    while version < SCHEMA_VERSION:
        step = _UPGRADES[version]
        if callable(step):
            step(connection, catalogue)
        else:
            _run_script(connection, step)
        version += 1
        connection.execute(f"PRAGMA user_version = {version}")


def lacks_indexed_columns(connection: sqlite3.Connection, catalogue: Catalogue) -> bool:
    """Whether the catalogue indexes a field the journal has no column for (one read of
    the table's columns: every process opening a journal asks)."""
    return not _trial_columns(connection).issuperset(catalogue.indexed)


def add_indexed_columns(connection: sqlite3.Connection, catalogue: Catalogue) -> None:
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
        lambda document: [get_path(document, path) for path in paths],
    )


def _events_as_rows(connection: sqlite3.Connection, catalogue: Catalogue) -> None:
    """Version 2 to 3: each trial's events of each kind, in key order, as rows. The data
    texts are joined as they are (no value is decoded): a million events in seconds."""
    connection.execute("ALTER TABLE events RENAME TO events_2")
    _run_script(connection, EVENT_ROWS)
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


def _add_listings(connection: sqlite3.Connection, catalogue: Catalogue) -> None:
    """Version 3 to 4: the listing of every trial, from its document (json_extract would
    refuse a document holding NaN, which Python reads)."""
    if "listing" not in _trial_columns(connection):  # there where a test aged a journal
        connection.execute("ALTER TABLE trials ADD COLUMN listing TEXT")
    connection.execute(_LISTING_INDEX)
    _fill(connection, "listing = ?", lambda document: (listing(document, catalogue.listed),))


def _relist(connection: sqlite3.Connection, catalogue: Catalogue) -> None:
    """Version 5 to 6: every listing made again, with the fields listed since (the
    ``study`` of each trial, which ``kleio studies`` counts trials by: read from the
    listings, 100,000 trials are counted without parsing their documents)."""
    _fill(connection, "listing = ?", lambda document: (listing(document, catalogue.listed),))


#: What brings a database of each older schema version to the next one, in the
#: transaction of the upgrade: statements, or a function of the connection and the
#: store's catalogue.
_UPGRADES: dict[int, Any] = {
    # The events journalled before summaries existed are summarised when first read.
    1: _SUMMARIES + "INSERT INTO stale_summaries SELECT DISTINCT trial, kind FROM events;",
    2: _events_as_rows,
    3: _add_listings,
    # The rows of events written before blocks existed are summarised when first read.
    4: EVENT_BLOCKS
    + _TAGS_BY_TRIAL
    + "INSERT OR IGNORE INTO stale_blocks SELECT DISTINCT trial, kind FROM events;",
    5: _relist,
}


def _trial_columns(connection: sqlite3.Connection) -> set[str]:
    return {row[1] for row in connection.execute("PRAGMA table_info(trials)")}


def _fill(
    connection: sqlite3.Connection, assignments: str, values_of: Callable[[dict], Any]
) -> None:
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


def _run_script(connection: sqlite3.Connection, script: str) -> None:
    """Statements separated by ``;``, in the current transaction (``executescript``
    would commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            connection.execute(statement)
