"""The embedded default store: one SQLite file in WAL mode.

Safe for many processes on one machine. Not for a network file system: SQLite's
locking relies on POSIX locks and shared memory that NFS and similar do not provide
faithfully, so use MongoDB when machines share the journal.

The file, its WAL and their folder are created for the owner only (``0600``, ``0700``:
SQLite gives the WAL the permissions of the database file); an existing file keeps its
permissions.

One module a job: ``schema`` (the tables, the journal's version and its upgrades),
``documents`` (field paths in a document, the listing kept beside it), ``rows`` (events
and summaries as rows), ``store`` (:class:`SQLiteStore`, the contract as SQL).
"""

from kleio.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
