"""What a script calls to journal what it computes: ``kleio_logger``.

.. code:: python

    from kleio.client.logger import kleio_logger

    kleio_logger.log_statistic(epoch=3, loss=0.25, acc=0.91)
    kleio_logger.log_artifact("weights", open("model.pt", "rb"), epoch=3)
    latest = kleio_logger.load_artifacts("weights")[0]   # resume from here

Under ``kleio`` (``KLEIO_TRIAL_ID`` is set), statistics are queued and written to the
trial's journal by a background thread in batches, at least every half second, and
flushed when the script exits, on SIGTERM, and by :meth:`KleioLogger.flush`. A
database that fails is retried with backoff, then the statistics go to a spool file
under ``$KLEIO_HOME/spool`` that is replayed when the database answers again (and by
``kleio sync``): logging never raises because of the database.

Without ``kleio``, statistics are printed, artifacts are not saved (with one warning),
loads return nothing, and nothing is written anywhere.

Importing this module opens nothing: the logger starts on first use.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from time import time as _now
from typing import TYPE_CHECKING, Any

from kleio.client.values import checked_values

if TYPE_CHECKING:
    from kleio.core.trial import TrialDocument

#: Statistics waiting for the database before log_statistic waits for it to catch up.
_BACKLOG = 1_000_000


class _Outside:
    """Not under Kleio: print statistics, save nothing."""

    trial_id = None

    def __init__(self) -> None:
        self._warned = False

    def statistic(self, values: dict[str, Any]) -> None:
        print(" ".join(f"{key}={value!r}" for key, value in values.items()), flush=True)

    def artifact(self, filename: str, artifact: Any, attributes: dict[str, Any]) -> None:
        self._warn("artifacts are not saved")

    def resource(self, path: Any, attributes: dict[str, Any]) -> dict[str, Any]:
        from kleio.core.artifacts import describe_resource

        self._warn("resources are not recorded")
        return describe_resource(path)

    def load_statistics(self, where: dict[str, Any]):
        from kleio.core.statistics import Statistics

        return Statistics()

    def load_artifacts(self, filename: str | None, where: dict[str, Any]) -> list:
        return []

    def flush(self, timeout: float | None) -> bool:
        return True

    def _warn(self, what: str) -> None:
        if not self._warned:
            self._warned = True
            print(
                f"kleio: not running under kleio (no KLEIO_TRIAL_ID): {what}",
                file=sys.stderr,
                flush=True,
            )


class _Inside:
    """Under Kleio: journal everything in the trial's store."""

    def __init__(self, trial_id: str) -> None:
        from kleio.core.journal import EventWriter
        from kleio.core.settings import load_settings
        from kleio.core.sink import EventSink
        from kleio.core.spool import spool_folder

        self.trial_id = trial_id
        # Under kleio every setting is in KLEIO_* variables: no file is read.
        settings = load_settings()
        self._address, self._db_name = settings.db_address, settings.db_name
        self._spool = spool_folder(settings.home)
        self._store = None
        self._store_lock = threading.Lock()
        self._writer = EventWriter()
        self._spooled_artifacts = 0
        self._closed = False
        self._terminating = False
        # Leaving must not outlast the lease: past it, another process may resume the
        # trial. What is not written by then waits in the spool.
        self._close_timeout = max(0.5, min(30.0, settings.lease / 2))
        self._sink = EventSink(
            self._open_store,
            self._spool,
            name="statistics",
            prepare=self._events,
            on_dropped=_say_dropped,
        )
        self._install_exit_handlers()

    # -- plumbing ----------------------------------------------------------------------
    def _open_store(self):
        with self._store_lock:
            if self._store is None:
                from kleio.store import open_store

                self._store = open_store(self._address, self._db_name)
            return self._store

    def _events(self, items: list[tuple[str, float, dict]]):
        return self._writer.events(self.trial_id, items)

    def _install_exit_handlers(self) -> None:
        import atexit
        import signal

        atexit.register(self.close)
        if "multiprocessing" in sys.modules:  # a multiprocessing child skips atexit
            from multiprocessing import util

            util.Finalize(None, self.close, exitpriority=100)
        if threading.current_thread() is threading.main_thread():
            try:
                if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                    signal.signal(signal.SIGTERM, self._terminated)
            except ValueError:  # not the main interpreter
                pass

    def _terminated(self, signum: int, _frame: Any) -> None:
        """SIGTERM with no handler of the script's: leave as Python leaves on Ctrl-C.

        Raising SystemExit unwinds the interrupted code first (an artifact upload rolls
        back and lets go of the database) and then runs the exit handlers, which flush
        the statistics; flushing here, under the interrupted code, could wait forever
        for a lock it holds. A SIGTERM while already leaving changes nothing: the exit
        under way finishes its flush (a killed ``kleio`` may send several).
        """
        if self._closed or self._terminating:
            return
        self._terminating = True
        raise SystemExit(128 + signum)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._sink.close(timeout=self._close_timeout)
        spooled = self._sink.spooled
        if spooled or self._spooled_artifacts:
            what = f"{spooled} events" + (
                f" and {self._spooled_artifacts} artifacts" if self._spooled_artifacts else ""
            )
            print(
                f"kleio: the database did not answer ({self._sink.last_error}); {what} of "
                f"trial {self.trial_id[:7]} are kept in {self._spool}: `kleio sync` uploads "
                "them",
                file=sys.stderr,
                flush=True,
            )

    def _patiently(self, action, patience: float):
        from kleio.core.sink import retrying

        return retrying(action, patience)

    # -- the logger's verbs ------------------------------------------------------------
    def statistic(self, values: dict[str, Any]) -> None:
        self._sink.put(("statistic", time.time(), values))

    @property
    def backlog(self):
        self._sink.start()
        return self._sink.backlog

    def slow_down(self) -> None:
        self._sink.wait_below(_BACKLOG // 2)

    def artifact(self, filename: str, artifact: Any, attributes: dict[str, Any]) -> None:
        from kleio.core.artifacts import put_artifact
        from kleio.store.base import StoreError

        moment = time.time()
        source, close = _binary_source(artifact)
        try:
            start = source.tell() if hasattr(source, "seek") and source.seekable() else None

            def upload():
                if start is not None:
                    source.seek(start)
                return put_artifact(
                    self._open_store(), self.trial_id, filename, source, attributes, moment
                )

            try:
                data = (
                    self._patiently(upload, self._sink.patience) if start is not None else upload()
                )
            except StoreError:
                data = self._spool_artifact(filename, source, start, attributes, moment)
        finally:
            if close:
                source.close()
        self._sink.put(("artifact", moment, data))

    def _spool_artifact(
        self,
        filename: str,
        source: Any,
        start: int | None,
        attributes: dict[str, Any],
        moment: float,
    ) -> dict[str, Any]:
        from kleio.core.spool import spool_artifact

        if start is not None:
            source.seek(start)
        self._spooled_artifacts += 1
        return spool_artifact(self._spool, self.trial_id, filename, source, attributes, moment)

    def resource(self, path: Any, attributes: dict[str, Any]) -> dict[str, Any]:
        from kleio.core.artifacts import describe_resource

        description = {**describe_resource(path), "attributes": attributes}
        self._sink.put(("resource", time.time(), description))
        return description

    def _document(self) -> TrialDocument:
        from kleio.core.errors import UnknownTrial

        document = self._patiently(lambda: self._open_store().get_trial(self.trial_id), 30.0)
        if document is None:
            raise UnknownTrial(f"trial {self.trial_id} is not in the database")
        return document

    def load_statistics(self, where: dict[str, Any]):
        from kleio.core.statistics import statistics_of

        self._sink.flush(timeout=30)
        document = self._document()
        return self._patiently(lambda: statistics_of(self._open_store(), document, where), 30.0)

    def load_artifacts(self, filename: str | None, where: dict[str, Any]) -> list:
        from kleio.core.artifacts import find_artifacts

        document = self._document()
        return self._patiently(
            lambda: find_artifacts(self._open_store(), document, filename, where), 30.0
        )

    def flush(self, timeout: float | None) -> bool:
        return self._sink.flush(timeout)


def _check_artifact(artifact: Any) -> None:
    """TypeError unless ``artifact`` is bytes, a path or a binary file object."""
    import io

    if isinstance(artifact, (bytes, bytearray, memoryview, str, os.PathLike)):
        return
    if isinstance(artifact, io.TextIOBase):
        raise TypeError("log_artifact needs a binary file: open it with 'rb', not 'r'")
    if not hasattr(artifact, "read"):
        kind = type(artifact).__name__
        raise TypeError(f"log_artifact needs bytes, a path or a binary file object, not {kind}")


def _binary_source(artifact: Any) -> tuple[Any, bool]:
    """A binary file object for bytes, a path or a file object; whether to close it."""
    import io

    if isinstance(artifact, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(artifact)), True
    if isinstance(artifact, (str, os.PathLike)):
        return open(artifact, "rb"), True
    return artifact, False


class KleioLogger:
    """The script's interface to its trial's journal (see the module documentation)."""

    def __init__(self) -> None:
        self._state: _Inside | _Outside | None = None
        #: Under Kleio, the statistics queue itself: the in-loop fast path.
        self._backlog = None
        self._lock = threading.Lock()

    def _start(self) -> _Inside | _Outside:
        with self._lock:
            if self._state is None:
                trial_id = os.environ.get("KLEIO_TRIAL_ID")
                self._state = _Inside(trial_id) if trial_id else _Outside()
                if trial_id:
                    self._backlog = self._state.backlog
            return self._state

    @property
    def trial_id(self) -> str | None:
        """The id of the trial this script runs as, or None outside Kleio."""
        return os.environ.get("KLEIO_TRIAL_ID") or None

    def log_statistic(self, *args: Any, **values: Any) -> None:
        """Journal named values, such as ``log_statistic(epoch=3, loss=0.25)``.

        Values are int, float (NaN and infinities kept), str, bool, None, and lists and
        dicts of these; numpy scalars and 0-d arrays are converted. Anything else raises
        TypeError naming the key, here and now.
        """
        # The hot path of a training loop: the checks, then one deque append.
        if args or not values:
            raise TypeError(
                "statistics must be named: log_statistic(loss=0.5), not log_statistic(0.5)"
                if args
                else "log_statistic needs at least one named value"
            )
        checked_values(values)
        backlog = self._backlog
        if backlog is not None:
            backlog.append(("statistic", _now(), values))
            if len(backlog) > _BACKLOG:
                self._state.slow_down()
        else:
            (self._state or self._start()).statistic(values)

    def log_artifact(self, filename: str, artifact: Any, **metadata: Any) -> None:
        """Store a file: ``artifact`` is a binary file object, bytes, or a path.

        ``metadata`` (``epoch=10``) is saved with it and selects it in
        :meth:`load_artifacts`. The bytes are streamed to the database in chunks.
        """
        if not isinstance(filename, str) or not filename:
            raise TypeError("log_artifact needs a file name (a non-empty str) first")
        _check_artifact(artifact)
        attributes = checked_values(dict(metadata))
        (self._state or self._start()).artifact(filename, artifact, attributes)

    def log_resource(self, path: str | os.PathLike, **metadata: Any) -> dict[str, Any]:
        """Record an input the script read (a data set, a pretrained model) by path,
        size and sha256, without copying it. Returns what was recorded."""
        attributes = checked_values(dict(metadata))
        return (self._state or self._start()).resource(path, attributes)

    def load_statistics(self, **where: Any):
        """The trial's statistics in logging order, including those of its earlier
        executions and, for a branch, its parent's up to the branch point. ``where``
        keeps those whose keys equal the values given. The result is a list of dicts
        with ``sorted_by(key)``, ``where(...)``, ``column(key)`` and ``to_pandas()``."""
        return (self._state or self._start()).load_statistics(where)

    def load_artifacts(self, filename: str | None = None, **where: Any) -> list:
        """Artifacts named ``filename`` (all when None) whose metadata equal ``where``,
        latest first; each has ``read()``, ``save(path)``, ``attributes``, ``time``."""
        return (self._state or self._start()).load_artifacts(filename, where)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything logged so far is in the database (or spooled)."""
        return (self._state or self._start()).flush(timeout)


def _say_dropped(count: int, reason: str) -> None:
    print(
        f"kleio: {count} statistics events could not be journalled ({reason})",
        file=sys.stderr,
        flush=True,
    )


def _preload() -> None:
    """Under Kleio, import now, in the importing thread, what the logger will use.

    A script that forks (``multiprocessing``, data-loader workers) while one of its
    threads is in the middle of an import leaves the child waiting forever for that
    import's lock. Importing everything up front, before the script starts any thread,
    leaves no import in progress for the logger's thread or first use to be caught in.
    Outside Kleio nothing is imported: the logger stays cheap to import.
    """
    import kleio.core.artifacts
    import kleio.core.journal
    import kleio.core.settings
    import kleio.core.sink
    import kleio.core.statistics  # noqa: F401 - the logger imports these lazily
    from kleio.store import StoreError, backend_class

    try:
        backend_class(os.environ.get("KLEIO_DB_ADDRESS", "")).preload()
    except StoreError:
        pass  # an address no backend takes: the first use says so


def _forget_in_child() -> None:
    # A forked child starts its own logger: the parent's queue and thread are not its.
    kleio_logger.__init__()


kleio_logger = KleioLogger()
os.register_at_fork(after_in_child=_forget_in_child)
if os.environ.get("KLEIO_TRIAL_ID"):
    _preload()
