"""Opening the journal: a store told what it keeps beside each trial document.

The store knows nothing of trials (see :class:`kleio.store.base.Catalogue`): the core
declares here which fields of a trial a listing reads and which ones trials are found
by, and every opener of a journal (the commands, the script's logger, the reading API,
the dashboard) opens it with :func:`open_journal`, so that every process writing one
journal keeps the same things beside its documents.

A module of its own, not ``trial.py``: a script's logger opens the journal, and
``trial.py`` imports :mod:`hashlib` (3 ms) that the logger needs nowhere else.
"""

from __future__ import annotations

from kleio.store import Store, open_store
from kleio.store.base import Catalogue

#: The small top-level fields of a trial document that a listing shows (``kleio ls``):
#: SQLite keeps them beside the document, so a listing of 10,000 trials reads 2 MB
#: instead of every 5 KB document. SQLite keeps them in the file: a field added here is
#: an upgrade of its schema, which rebuilds every listing (as version 4 made them).
LISTED_FIELDS = (
    "status",
    "heartbeat",
    "created",
    "started",
    "run_time",
    "tags",
    "commandline",
    "refers",
    "project",
    "job",
    "incomplete",
    # A trial's human name (kleio.core.model.names): shown by ls, found by name. Trials
    # named before it was listed have none: no listing lacks it wrongly.
    "name",
    # The study a sweep saved the trial in: `kleio studies` counts every trial by it
    # (schema 6 of SQLite journals added it to every listing).
    "study",
    # The ranks of a parallel execution (issue 25), each with its heartbeat: one that
    # vanished makes the trial lost (observed_status), which ls and compare show.
    "members",
)
#: The fields trials are found by, by the name a query gives them:
#: ``store.find_trials(parent=trial_id)`` finds a trial's branches. SQLite keeps each in
#: a column of that name, in this order (the order of every journal made so far); a
#: field added here becomes a column of older journals when they are first opened.
INDEXED_FIELDS = {
    "status": "status",
    "project": "project",
    "parent": "refers.parent",
    # The study a sweep saved the trial in (kleio.core.running.study): a study's workers
    # and readers find its trials by it.
    "study": "study",
}
#: What every store Kleio opens keeps beside its trial documents.
TRIAL_CATALOGUE = Catalogue(LISTED_FIELDS, INDEXED_FIELDS)


def open_journal(address: str, name: str = "kleio") -> Store:
    """The store at ``address`` (database ``name`` where the backend has several), with
    Kleio's :data:`TRIAL_CATALOGUE`. Nothing slow happens here: a server is contacted,
    a file opened, on first use."""
    return open_store(address, name, catalogue=TRIAL_CATALOGUE)
