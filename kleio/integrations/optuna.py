"""Optuna's journal kept in a Kleio journal: workers on several machines share one
Optuna study through the SQLite file or the MongoDB database they already journal to,
with no other database (``pip install 'kleio[optuna]'``).

Optuna's :class:`~optuna.storages.JournalStorage` keeps a study as a log of operations
(study made, trial made, parameter set, value told) that every worker replays: a
trial's number is how many trials the logs before it made. :class:`KleioJournalBackend`
keeps that log as events of the store, and guarantees what replaying needs:

One order
    Log number ``n`` is the event with key :func:`~kleio.store.keys.sequence_key` ``(n)``
    of kind :data:`KIND`. A writer appends its log at the first slot it believes free;
    :meth:`~kleio.store.base.Store.append_events` is idempotent per key, so if another
    writer holds the slot, nothing is written and the writer tries the slot after the
    last one stored. A writer tries slot ``n`` only once it has seen slot ``n - 1``
    stored, so the slots fill without gaps, in the order every reader reads them: a
    reader that read up to log ``n`` never later finds a log before ``n``. (A reader
    stops at a gap all the same, and the next writer fills it.)
Once each
    Each log's event holds a random token beside the log. An append that failed (the
    store unreachable, or a MongoDB connection dropped after the server applied the
    write) is tried again at the same slot, and a slot found taken is read: holding
    this log's token, it is this log, appended by the attempt that seemed to fail.
    Only then is the next slot tried, so a log lands in one slot at most.
Logs of one call in order
    The logs of one :meth:`~KleioJournalBackend.append_logs` call are appended one by
    one, each after the previous one landed: in order, though another writer's logs may
    come between them. That is all Optuna needs: each log is a whole operation on its
    own (Optuna's storage appends one log per call), and replaying applies them in the
    one order every worker reads.

Where the log is kept: its events belong to the id ``study:NAME``
(:func:`kleio.core.model.trial.study_log_id`), which no trial can have (trial ids are
32 hexadecimal digits), and no trial document owns it. So no listing, comparison, ``kleio
rm`` or ``kleio export`` ever meets it (they start from trial documents), and ``kleio gc``,
which deletes the events of trials without a document, keeps those of study logs
(:func:`kleio.core.model.trial.is_study_log`). A document for the log would have been
listed as a trial, and the schema readers check documents against would call it
damaged. An export carries trials, not study logs: the log stays in its journal.

On a MongoDB replica set, write with ``w=majority`` (an option of the address): a log
acknowledged by a primary alone may be rolled back by a failover after another worker
read it, and the workers would then disagree about the study.

Optuna is imported with this module: importing it without Optuna raises a
:class:`~kleio.core.model.errors.KleioError` saying how to install it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from kleio.core.model import clock
from kleio.core.model.errors import KleioError
from kleio.core.model.trial import study_log_id
from kleio.integrations import OPTUNA, missing
from kleio.store.base import Event, Store, StoreUnavailable
from kleio.store.keys import sequence_key

try:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import BaseJournalBackend
except ImportError as error:  # not installed, or older than 4.0 (no storages.journal)
    raise missing(OPTUNA, error, "optuna") from None

__all__ = ["KIND", "KleioJournalBackend", "journal_storage"]

#: The kind of the events a study's log is made of.
KIND = "optuna"
#: Tries of one append or read while the store is unreachable, and the wait before the
#: second (doubled each time: 0.5 + 1 + 2 + 4 s, about what an election of a new MongoDB
#: primary takes, 10 s at most by default).
ATTEMPTS = 5
RETRY_DELAY = 0.5

_T = TypeVar("_T")


class KleioJournalBackend(BaseJournalBackend):
    """Optuna's journal backend over a Kleio store: the log of the study ``study``, shared
    by every process that opens it on the same journal (see the module documentation for
    the guarantees). Safe for the threads of a process."""

    def __init__(self, store: Store, study: str):
        if not isinstance(study, str) or not study:
            raise KleioError("a study needs a name (some text)")
        self.store = store
        self.study = study
        self.trial = study_log_id(study)
        self._lock = threading.Lock()
        #: Logs known stored (slots 0 to this - 1): where this writer tries first.
        self._known = 0

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        """The logs from number ``log_number_from`` on, in their one order."""
        logs = _patiently(self._logs_from, log_number_from)
        self._saw(log_number_from + len(logs))
        return logs

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append ``logs``, each once, in order (see the module documentation)."""
        for log in logs:
            self._append(log)

    def _append(self, log: dict[str, Any]) -> None:
        data = {"token": uuid.uuid4().hex, "log": log}
        with self._lock:
            slot = self._known
        while True:
            event = Event(self.trial, KIND, sequence_key(slot), clock.now(), data)
            new = _patiently(self.store.append_events, [event])
            if new or _patiently(self._holds, slot, data["token"]):
                self._saw(slot + 1)
                return
            slot = _patiently(self._first_free, slot + 1)

    def _holds(self, slot: int, token: str) -> bool:
        """Whether slot ``slot`` holds the log of ``token`` (an earlier attempt landed)."""
        after = sequence_key(slot - 1) if slot else None
        stored = next(self.store.read_events(self.trial, [KIND], after=after, page_size=1), None)
        return (
            stored is not None
            and stored.key == sequence_key(slot)
            and isinstance(stored.data, dict)
            and stored.data.get("token") == token
        )

    def _first_free(self, slot: int) -> int:
        """The first slot from ``slot`` on that holds no log."""
        after = sequence_key(slot - 1) if slot else None
        for event in self.store.read_events(self.trial, [KIND], after=after):
            if event.key != sequence_key(slot):
                break
            slot += 1
        return slot

    def _logs_from(self, number: int) -> list[dict[str, Any]]:
        logs = []
        after = sequence_key(number - 1) if number else None
        for event in self.store.read_events(self.trial, [KIND], after=after):
            if event.key != sequence_key(number + len(logs)):
                break  # a gap: never read past it (the next writer fills it)
            log = event.data.get("log") if isinstance(event.data, dict) else None
            if not isinstance(log, dict):
                raise KleioError(
                    f"the log of study {self.study!r} is damaged at entry "
                    f"{number + len(logs)}: it holds no Optuna log"
                )
            logs.append(log)
        return logs

    def _saw(self, known: int) -> None:
        with self._lock:
            self._known = max(self._known, known)


def _patiently(call: Callable[..., _T], *args: Any) -> _T:
    """``call(*args)``, tried again while the store is unreachable (:data:`ATTEMPTS`)."""
    for attempt in range(ATTEMPTS - 1):
        try:
            return call(*args)
        except StoreUnavailable:
            time.sleep(RETRY_DELAY * 2**attempt)
    return call(*args)


def journal_storage(store: Store, study: str) -> JournalStorage:
    """Optuna's storage for the study ``study`` kept in ``store``: give it to
    ``optuna.create_study(study_name=study, storage=..., load_if_exists=True)`` in every
    worker, on every machine that opens the same journal."""
    return JournalStorage(KleioJournalBackend(store, study))
