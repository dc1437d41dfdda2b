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
``kleio sync``); when the spool cannot be written either (a full disk), they are held
in memory, within a bound, and retried: logging never raises because of the database.
What could not be journalled is said on stderr and told to ``kleio``
(:mod:`kleio.core.running.losses`).

A process whose ``kleio`` is gone writes into the trial only while the trial is still
its execution's: once another execution may take it over, it journals nothing more.

What is logged after the logger closed (from an ``atexit`` function registered before
the logger's own, a ``multiprocessing`` finalizer, a thread still running as the
interpreter leaves) is written before the call returns. A signal handler that logs while
the code it interrupted is in the logger never waits for it: its statistics are queued,
its artifacts uploaded as the interrupted call returns, and only the loads are refused.

Without ``kleio``, statistics are printed, artifacts are not saved (with one warning),
loads return nothing, and nothing is written anywhere.

In one rank of a parallel launch (torchrun, ``srun -n``: :mod:`kleio.core.capture.ranks`),
what is logged says which rank logged it (the writer's id ends with the rank: see
:func:`~kleio.store.keys.ranked_writer`; an artifact's metadata hold it). With
``KLEIO_LOG_RANKS=0`` (or ``kleio_logger.log_ranks = False``), the other ranks than 0
journal nothing they log (the calls check their arguments and return); loads work on
every rank.

Importing this module opens nothing: the logger starts on first use.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from functools import partial, wraps
from threading import get_ident
from time import time as _now
from typing import TYPE_CHECKING, Any, TypeVar

from kleio.client.values import checked_values

if TYPE_CHECKING:
    from collections.abc import Callable

    from kleio.client.images import Image
    from kleio.core.model.trial import TrialDocument
    from kleio.core.running.sink import StatisticQueue

#: Statistics held in memory at most while the database and the spool take none.
_BACKLOG = 1_000_000
#: Statistics a loop may be ahead of the database before log_statistic waits for it to
#: catch up: a burst of this many costs only the calls, and memory stays bounded (about
#: 35 MB for three numbers a call, whatever the number of calls).
_AHEAD = 100_000

#: The methods _unless_reentered guards.
_Method = TypeVar("_Method", bound="Callable[..., Any]")


class _Outside:
    """Not under Kleio: print statistics, save nothing."""

    trial_id = None

    def __init__(self) -> None:
        self._warned = False

    def statistic(self, values: dict[str, Any], moment: float | None = None) -> None:
        print(" ".join(f"{key}={value!r}" for key, value in values.items()), flush=True)

    def artifact(self, filename: str, artifact: Any, attributes: dict[str, Any]) -> None:
        self._warn("artifacts are not saved")

    def image(self, name: str, image: Image, attributes: dict[str, Any]) -> None:
        self._warn("images are not saved")  # checked at the call, never encoded

    def resource(self, path: Any, attributes: dict[str, Any]) -> dict[str, Any]:
        from kleio.core.model.artifacts import describe_resource

        self._warn("resources are not recorded")
        return describe_resource(path)

    def load_statistics(self, where: dict[str, Any]):
        from kleio.core.reading.statistics import Statistics

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


def _unless_reentered(on_reentry: Callable[..., Any]) -> Callable[[_Method], _Method]:
    """Run an :class:`_Inside` method with its thread marked as inside the logger.

    Python runs a signal handler in the main thread between two bytecodes of whatever
    that thread runs, the logger included. A handler that logs while the code it
    interrupted is in the logger must not wait for that code: the interrupted call may be
    the one waiting (a back-pressure wait re-entered from a timer's handler nested a wait
    in a wait, every millisecond, until RecursionError), or hold the store's lock, which
    the writer needs before the wait can end. Such a call runs ``on_reentry`` instead,
    which never waits: it queues what it was given, and leaves what it cannot do at once
    in ``_later``, for the interrupted call to do before it returns.
    """

    def decorate(method: _Method) -> _Method:
        @wraps(method)
        def guarded(self: _Inside, *args: Any) -> Any:
            ident = get_ident()
            if ident in self._within:
                return on_reentry(self, *args)
            self._within.add(ident)
            try:
                return method(self, *args)
            finally:
                self._within.discard(ident)
                self._do_later()

        return guarded  # type: ignore[return-value]

    return decorate


def _refused_in_handler(verb: str, interrupted: str = "a call of the logger") -> RuntimeError:
    return RuntimeError(
        f"kleio_logger.{verb}() cannot run in a signal handler that interrupted "
        f"{interrupted}: it would wait for the code it interrupted; call it from the "
        "script's code (the handler may set a flag for it)"
    )


def _refusing(verb: str) -> Callable[..., Any]:
    """An ``on_reentry`` for a call that must answer, and cannot before the call it
    interrupted returns."""

    def refuse(*args: Any) -> Any:
        raise _refused_in_handler(verb)

    return refuse


class _Inside:
    """Under Kleio: journal everything in the trial's store."""

    def __init__(
        self, trial_id: str, on_close: Callable[[_Inside], None], rank: int | None = None
    ) -> None:
        from kleio.core.model.journal import EventWriter
        from kleio.core.model.settings import load_settings
        from kleio.core.running.sink import EventSink, StatisticQueue, leaving_time
        from kleio.core.running.spool import spool_folder

        self.trial_id = trial_id
        self.pid = os.getpid()
        #: A multiprocessing worker may be killed by SIGTERM at any moment after its task
        #: returned (``Pool.terminate()``, and ``with Pool()``): there, a statistic is
        #: written before ``log_statistic`` returns.
        self.synchronous = _in_multiprocessing_child()
        # Under kleio every setting is in KLEIO_* variables: no file is read.
        settings = load_settings()
        self._address, self._db_name = settings.db_address, settings.db_name
        self._spool = spool_folder(settings.home)
        self._store = None
        self._store_lock = threading.Lock()
        #: The rank of a parallel launch this process is (None: a process alone): its
        #: events' keys and its artifacts' metadata say it.
        self.rank = rank
        self._writer = EventWriter(rank)
        self._spooled_artifacts = 0
        self._artifact_error: str | None = None  # why the last artifact was kept on disk
        self._closed = False
        self._on_close = on_close
        self._terminating = False
        # Leaving must not outlast the lease: past it, another process may resume the
        # trial. What is not written by then waits in the spool.
        self._close_timeout = leaving_time(settings.lease)
        self._leave_by = float("inf")  # when closing, the end of that time
        #: Threads inside a call that may wait or use the store (see _unless_reentered),
        #: and what calls made meanwhile by their signal handlers left them to do.
        self._within: set[int] = set()
        self._later: deque[Callable[[], Any]] = deque()
        self._late = threading.Lock()  # one thread at a time writes after the close
        self._told_kept = (0, 0)
        self._told_missing: Counter[str] = Counter()
        self._holder = _Holder(trial_id, settings.lease, self._open_store)
        self._lost_artifacts = 0
        self._statistics = StatisticQueue(
            partial(self._writer.events_of, trial_id),
            partial(self._writer.columns, trial_id, "statistic"),
        )
        self._sink = EventSink(
            self._open_store,
            self._spool,
            name="statistics",
            limit=_BACKLOG,
            # A loop's burst runs alone and is written after it or at the interval: the
            # writer would take half of the interpreter from the loop while it runs.
            wake_at=_AHEAD // 2,
            queue=self._statistics,
            # KLEIO_WRITE_PATIENCE, as kleio was given it: statistics and artifacts
            # wait as long for the database as the script's output does.
            patience=settings.write_patience,
            allowed=self._holder.holds,
            on_trouble=_say,
        )
        self._install_exit_handlers()

    # -- plumbing ----------------------------------------------------------------------
    def _open_store(self):
        with self._store_lock:
            if self._store is None:
                from kleio.core.model.catalogue import open_journal

                self._store = open_journal(self._address, self._db_name)
            return self._store

    def _install_exit_handlers(self) -> None:
        import atexit

        atexit.register(self.close)
        if "multiprocessing" in sys.modules:  # a multiprocessing child skips atexit
            from multiprocessing import util

            util.Finalize(None, self.close, exitpriority=100)
        _install_sigterm_handler()

    def start(self) -> StatisticQueue | None:
        """Start the writer. The queue the in-loop path appends statistics to itself;
        None when each statistic is written before ``log_statistic`` returns."""
        self._sink.start()
        return None if self.synchronous else self._statistics

    @_unless_reentered(lambda self: self._later.append(self.close))
    def close(self) -> None:
        """Write what is queued (within half the lease) and say what was not. Anything
        logged afterwards is written as it is logged (:meth:`_settle`)."""
        if self._closed:
            return
        self._closed = True
        self._on_close(self)  # the in-loop path ends: each statistic comes through _put
        self._holder.leaving = True  # the lease may be gone though kleio lives: check it
        self._leave_by = time.monotonic() + self._close_timeout
        with self._late:
            self._sink.close(timeout=self._close_timeout)
            self._upload_kept_artifacts()
            self._report()
        if self._sink.backlog:  # appended by a thread that was in the in-loop path
            self._write_late()

    def _write_late(self) -> None:
        """Write what was put after the close, in this thread (no thread may start as
        the interpreter leaves), by the sink's own rounds: its retries, its spool, its
        holder's check. Once the leaving time is spent, each write gets one try."""
        with self._late:
            self._sink.close(timeout=max(0.0, self._leave_by - time.monotonic()))
            self._report()

    def _upload_kept_artifacts(self) -> None:
        """Upload the artifacts this process kept on disk, once the store answers again:
        only what is still waiting is the user's to sync."""
        if not self._spooled_artifacts or self._sink.last_error is not None:
            return
        from kleio.core.running.spool import pending_spools, replay_artifact
        from kleio.store.base import StoreError

        mine = f"{self.trial_id}-artifact-{os.getpid()}-"
        for record in pending_spools(self._spool, self.trial_id):
            if not record.name.startswith(mine):
                continue
            try:
                replay_artifact(self._open_store(), record)
            except StoreError as error:
                self._artifact_error = str(error)
                return
            except FileNotFoundError:  # uploaded meanwhile by another replayer
                pass
            self._spooled_artifacts -= 1

    def _missing(self) -> Counter[str]:
        sink = self._sink
        return sink.lost + sink.refused + Counter(artifact=self._lost_artifacts)

    def _report(self) -> None:
        """Say what is spooled and what was not journalled, each time either grew."""
        sink, label = self._sink, self.trial_id[:7]
        kept = (sink.spooled, self._spooled_artifacts)
        if any(kept) and kept != self._told_kept:
            self._told_kept = kept
            spooled, artifacts = kept
            what = f"{spooled} events" + (f" and {artifacts} artifacts" if artifacts else "")
            error = sink.last_error or self._artifact_error
            _say(
                f"the database did not answer ({error}); {what} of "
                f"trial {label} are kept in {self._spool}: `kleio sync` uploads them"
            )
        missing = self._missing()
        new = missing - self._told_missing
        if new:
            from kleio.core.running.losses import describe, tell_kleio

            self._told_missing = missing
            reason = "; ".join(dict.fromkeys(sink.reasons.values())) or "unknown"
            _say(f"{describe(new)} of trial {label} were not journalled ({reason})")
            tell_kleio(new, reason)

    def _do_later(self) -> None:
        """Do what signal handlers left to do while this thread was in the logger."""
        later = self._later
        while later:
            try:
                action = later.popleft()
            except IndexError:  # another thread took it
                return
            action()

    def _patiently(self, action, patience: float):
        from kleio.core.running.sink import retrying

        return retrying(action, patience)

    # -- the logger's verbs ------------------------------------------------------------
    def _put(self, item: tuple[str, float, Any]) -> None:
        self._sink.put(item)
        if self.synchronous or self._closed:
            self._settle()

    @_unless_reentered(lambda self: self._later.append(self._settle))
    def _settle(self) -> None:
        """Write what was put before returning: after the close, or in a worker."""
        if self._closed:
            self._write_late()
        else:
            self._sink.flush(self._close_timeout)

    def statistic(self, values: dict[str, Any], moment: float | None = None) -> None:
        self._put(("statistic", time.time() if moment is None else moment, values))

    @_unless_reentered(lambda self: None)  # the statistic is queued: that is enough
    def slow_down(self) -> None:
        self._sink.wait_below(_AHEAD // 2)

    def _artifact_later(
        self, filename: str, artifact: Any, attributes: dict[str, Any], moment: Any = None
    ) -> None:
        # Its bytes now: a file object may be closed, a file changed, once the handler
        # returned.
        data = _bytes_of(artifact)
        self._later.append(partial(self.artifact, filename, data, attributes, time.time()))

    @_unless_reentered(_artifact_later)
    def artifact(
        self,
        filename: str,
        artifact: Any,
        attributes: dict[str, Any],
        moment: float | None = None,
    ) -> None:
        from kleio.core.model.artifacts import put_artifact
        from kleio.store.base import StoreError

        moment = time.time() if moment is None else moment
        source, close = _binary_source(artifact)
        try:
            start = source.tell() if hasattr(source, "seek") and source.seekable() else None

            def upload():
                if start is not None:
                    source.seek(start)
                return put_artifact(
                    self._open_store(),
                    self.trial_id,
                    filename,
                    source,
                    attributes,
                    moment,
                    rank=self.rank,
                )

            try:
                data = (
                    self._patiently(upload, self._sink.patience) if start is not None else upload()
                )
            except StoreError as error:
                self._artifact_error = str(error)
                try:
                    data = self._spool_artifact(filename, source, start, attributes, moment)
                except OSError as spool_error:  # a full disk under the spool too
                    self._lost_artifacts += 1
                    self._sink.reasons.setdefault("artifact", f"{error}; {spool_error}")
                    _say(
                        f"artifact {filename!r} could not be journalled ({error}) nor kept "
                        f"in {self._spool} ({spool_error.strerror or spool_error})"
                    )
                    return
        finally:
            if close:
                source.close()
        self._put(("artifact", moment, data))

    def _spool_artifact(
        self,
        filename: str,
        source: Any,
        start: int | None,
        attributes: dict[str, Any],
        moment: float,
    ) -> dict[str, Any]:
        from kleio.core.running.spool import spool_artifact

        if start is not None:
            source.seek(start)
        self._spooled_artifacts += 1
        return spool_artifact(
            self._spool, self.trial_id, filename, source, attributes, moment, rank=self.rank
        )

    def image(self, name: str, image: Image, attributes: dict[str, Any]) -> None:
        self.artifact(name, image.encode(), attributes)

    def resource(self, path: Any, attributes: dict[str, Any]) -> dict[str, Any]:
        from kleio.core.model.artifacts import describe_resource

        description = {**describe_resource(path), "attributes": attributes}
        self._put(("resource", time.time(), description))
        return description

    def _document(self) -> TrialDocument:
        from kleio.core.model.errors import UnknownTrial

        document = self._patiently(lambda: self._open_store().get_trial(self.trial_id), 30.0)
        if document is None:
            raise UnknownTrial(f"trial {self.trial_id} is not in the database")
        return document

    @_unless_reentered(_refusing("load_statistics"))
    def load_statistics(self, where: dict[str, Any]):
        from kleio.core.model.unreadable import noting_unreadable, on_stderr
        from kleio.core.reading.statistics import statistics_of

        self._flush(30)
        document = self._document()
        # statistics another program damaged are skipped: said in one line
        with noting_unreadable(on_stderr):
            return self._patiently(lambda: statistics_of(self._open_store(), document, where), 30.0)

    @_unless_reentered(_refusing("load_artifacts"))
    def load_artifacts(self, filename: str | None, where: dict[str, Any]) -> list:
        from kleio.core.model.artifacts import find_artifacts

        document = self._document()
        return self._patiently(
            lambda: find_artifacts(self._open_store(), document, filename, where), 30.0
        )

    def _flush_later(self, timeout: float | None) -> bool:
        if self._closed:
            self._later.append(self._settle)
        return False  # queued, and written as usual; not yet

    @_unless_reentered(_flush_later)
    def flush(self, timeout: float | None) -> bool:
        return self._flush(timeout)

    def _flush(self, timeout: float | None) -> bool:
        if not self._closed:
            return self._sink.flush(timeout)
        missing = self._missing()
        self._write_late()  # written, spooled or counted lost: nothing waits
        return self._missing() == missing


def _check_artifact(artifact: Any) -> None:
    """TypeError unless ``artifact`` is bytes, a path or a binary file object; ValueError
    for a path or a file that is not a regular file (a FIFO would block the script for
    ever, ``/dev/zero`` never ends): such bytes are the script's to read and pass."""
    import io

    if isinstance(artifact, (bytes, bytearray, memoryview)):
        return
    if isinstance(artifact, (str, os.PathLike)):
        _check_regular(os.stat(artifact).st_mode, os.fspath(artifact))
        return
    if isinstance(artifact, io.TextIOBase):
        raise TypeError("log_artifact needs a binary file: open it with 'rb', not 'r'")
    if not hasattr(artifact, "read"):
        kind = type(artifact).__name__
        raise TypeError(f"log_artifact needs bytes, a path or a binary file object, not {kind}")
    try:
        descriptor = artifact.fileno()
    except (AttributeError, OSError, ValueError):  # in memory (BytesIO): it ends
        return
    _check_regular(os.fstat(descriptor).st_mode, getattr(artifact, "name", "the file"))


def _check_regular(mode: int, name: Any) -> None:
    import stat

    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a folder"
            if stat.S_ISDIR(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        raise ValueError(
            f"log_artifact stores regular files: {name} is {kind} (read the bytes you want "
            "from it and pass them)"
        )


def _bytes_of(artifact: Any) -> bytes:
    source, close = _binary_source(artifact)
    try:
        return source.read()
    finally:
        if close:
            source.close()


def _binary_source(artifact: Any) -> tuple[Any, bool]:
    """A binary file object for bytes, a path or a file object; whether to close it."""
    import io

    if isinstance(artifact, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(artifact)), True
    if isinstance(artifact, (str, os.PathLike)):
        # Without blocking: a FIFO put in the path's place since the check opens at once.
        descriptor = os.open(artifact, os.O_RDONLY | os.O_NONBLOCK)
        try:
            _check_regular(os.fstat(descriptor).st_mode, os.fspath(artifact))
        except ValueError:
            os.close(descriptor)
            raise
        return os.fdopen(descriptor, "rb"), True
    return artifact, False


class _Quiet(_Inside):
    """Under Kleio, in a rank other than 0 of a parallel launch that logs from rank 0
    alone (``KLEIO_LOG_RANKS=0``): what is logged is dropped, loads work."""

    def start(self) -> None:
        super().start()
        return None  # each call comes here, and returns at once

    def statistic(self, values: dict[str, Any], moment: float | None = None) -> None:
        pass

    def artifact(self, filename: str, artifact: Any, attributes: dict[str, Any], moment=None):
        pass

    def image(self, name: str, image: Image, attributes: dict[str, Any]) -> None:
        pass

    def resource(self, path: Any, attributes: dict[str, Any]) -> dict[str, Any]:
        from kleio.core.model.artifacts import describe_resource

        return {**describe_resource(path), "attributes": attributes}


class _Starting:
    """What a signal handler finds when it interrupted the logger's start (a few
    milliseconds, in the first call): its statistics wait here, and the logger puts them
    once made; what needs the logger itself is refused, since the start it would wait
    for cannot go on before the handler returns."""

    def __init__(self) -> None:
        self._statistics: deque[tuple[dict[str, Any], float]] = deque()

    def statistic(self, values: dict[str, Any], moment: float | None = None) -> None:
        self._statistics.append((values, time.time()))

    def hand_over(self, state: _Inside | _Outside) -> None:
        while self._statistics:
            try:
                values, moment = self._statistics.popleft()
            except IndexError:  # another thread handed it over
                return
            state.statistic(values, moment)

    def flush(self, timeout: float | None) -> bool:
        return False

    def _refuse(self, verb: str) -> RuntimeError:
        return _refused_in_handler(verb, "the logger's start")

    def artifact(self, *args: Any) -> None:
        raise self._refuse("log_artifact")

    def image(self, *args: Any) -> None:
        raise self._refuse("log_image")

    def resource(self, *args: Any) -> dict[str, Any]:
        raise self._refuse("log_resource")

    def load_statistics(self, *args: Any) -> Any:
        raise self._refuse("load_statistics")

    def load_artifacts(self, *args: Any) -> list:
        raise self._refuse("load_artifacts")


class KleioLogger:
    """The script's interface to its trial's journal (see the module documentation)."""

    def __init__(self) -> None:
        self._state: _Inside | _Outside | None = None
        #: Under Kleio, the statistics queue itself: the in-loop fast path; None once
        #: the logger closed (each statistic is then written as it is logged).
        self._statistics: StatisticQueue | None = None
        self._lock = threading.Lock()
        #: Threads in _start, and what signal handlers logged meanwhile (see _Starting).
        self._starting: set[int] = set()
        self._early = _Starting()
        #: ``log_ranks`` as the script set it (None: as the settings say).
        self._log_ranks: bool | None = None

    def _start(self) -> _Inside | _Outside | _Starting:
        ident = get_ident()
        if ident in self._starting:  # a signal handler interrupted the start below
            return self._early
        self._starting.add(ident)
        try:
            with self._lock:
                if self._state is None:
                    self._state, self._statistics = self._made()
        finally:
            self._starting.discard(ident)
        self._early.hand_over(self._state)
        return self._state

    def _made(self) -> tuple[_Inside | _Outside, StatisticQueue | None]:
        trial_id = os.environ.get("KLEIO_TRIAL_ID")
        if not trial_id:
            return _Outside(), None
        ranks = self._ranks()
        rank = ranks.rank if ranks.world_size > 1 else None
        quiet = bool(rank) and not self._logs_ranks()
        state = (_Quiet if quiet else _Inside)(trial_id, self._closing, rank)
        if _exiting():  # its close would never run: it writes each call as it comes
            state.close()
            return state, None
        return state, state.start()

    def _restart(self) -> None:
        """Close the journal this logger writes to, if any (what is queued is written or
        spooled first), and forget it: the next call starts again from
        ``KLEIO_TRIAL_ID``. For a trial the process starts or ends itself
        (:mod:`kleio.client.inprocess`)."""
        with self._lock:
            state, self._state, self._statistics = self._state, None, None
        if isinstance(state, _Inside):
            state.close()

    def _closing(self, state: _Inside) -> None:
        if self._state is state:  # not a forked child's copy of its parent's logger
            self._statistics = None

    @property
    def trial_id(self) -> str | None:
        """The id of the trial this script runs as, or None outside Kleio."""
        return os.environ.get("KLEIO_TRIAL_ID") or None

    @property
    def rank(self) -> int:
        """This process's rank of a parallel launch (torchrun, ``srun -n``, ``mpirun``:
        :mod:`kleio.core.capture.ranks`), 0 for a process alone: ``if
        kleio_logger.rank == 0`` logs from one rank only."""
        return self._ranks().rank

    @property
    def world_size(self) -> int:
        """How many ranks the launch has, 1 for a process alone."""
        return self._ranks().world_size

    @property
    def log_ranks(self) -> bool:
        """Whether every rank of a parallel launch journals what it logs (the default);
        False: rank 0 alone, the others' ``log_*`` calls check their arguments and
        return (loads work on every rank). Set by ``KLEIO_LOG_RANKS`` or ``log_ranks:``
        in the settings, or here by the script."""
        return self._logs_ranks()

    @log_ranks.setter
    def log_ranks(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"log_ranks is True or False, not {value!r}")
        if value == self._logs_ranks():
            self._log_ranks = value
            return
        self._log_ranks = value
        self._restart()  # what is queued is written; the next call starts anew

    def _logs_ranks(self) -> bool:
        if self._log_ranks is not None:
            return self._log_ranks
        if not os.environ.get("KLEIO_TRIAL_ID"):
            return True
        from kleio.core.model.settings import _SWITCHES

        text = os.environ.get("KLEIO_LOG_RANKS", "").strip().lower()
        return _SWITCHES.get(text, True)  # kleio checked it: a child has 0 or 1

    @staticmethod
    def _ranks():
        from kleio.core.capture.ranks import detect_ranks  # read when asked, never at import

        return detect_ranks(os.environ)

    def log_statistic(self, *args: Any, **values: Any) -> None:
        """Journal named values, such as ``log_statistic(epoch=3, loss=0.25)``.

        Values are int, float (NaN and infinities kept), str, bool, None, and lists and
        dicts of these; numpy scalars and 0-d arrays are converted. Anything else raises
        TypeError naming the key, here and now.
        """
        # The hot path of a training loop: the checks, then one append to the queue.
        if args or not values:
            raise TypeError(
                "statistics must be named: log_statistic(loss=0.5), not log_statistic(0.5)"
                if args
                else "log_statistic needs at least one named value"
            )
        checked_values(values)
        statistics = self._statistics
        if statistics is not None:
            statistics.append(values, _now())
            if len(statistics) > _AHEAD:
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

    def log_image(self, name: str, image: Any, **metadata: Any) -> None:
        """Store an image as an artifact named ``name``, with ``metadata`` (``step=3``).

        ``image`` is a PIL image, a NumPy array (``HxW`` grey, ``HxWx3`` RGB, ``HxWx4``
        RGBA; ``uint8``, ``bool``, or floats in [0, 1]), or the path or bytes of a PNG or
        JPEG file. Arrays and PIL images are stored as PNG, files as they are; the
        metadata gain ``kind="image"``, ``width``, ``height``, ``mode`` and ``format``.
        What is no image raises TypeError, an image that cannot be one (a shape, NaN,
        values outside [0, 1], nothing in it, another format, more than 50 megapixels)
        ValueError, here and now (see :mod:`kleio.client.images`).
        """
        from kleio.client.images import prepare

        if not isinstance(name, str) or not name:
            raise TypeError("log_image needs a name (a non-empty str) first")
        prepared = prepare(image, _bytes_of)
        attributes = checked_values(prepared.attributes(dict(metadata)))
        (self._state or self._start()).image(name, prepared, attributes)

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


def _say(message: str) -> None:
    """One line on the script's stderr (which ``kleio`` journals and shows)."""
    try:
        print(f"kleio: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr closed, or its reader gone with kleio
        pass


class _Holder:
    """Whether this process may still write into its trial.

    While its ``kleio`` lives, the lease is renewed and the trial is this execution's,
    so yes. Once ``kleio`` is gone (killed; the script ignored the SIGTERM that
    followed), only while the trial document still shows this execution running with a
    lease that is not about to expire: after that another ``kleio`` may resume the
    trial, and two writers would journal the same steps. When the process leaves, the
    document is read once even though ``kleio`` lives: its lease may have been taken
    (``kleio`` then stops the script, whose last flush must not land in another
    execution). A database that does not answer cannot say: the events are kept.
    """

    def __init__(self, trial_id: str, lease: float, open_store: Any):
        from kleio.core.running.losses import LAUNCHER

        self._trial, self._lease, self._open_store = trial_id, lease, open_store
        self._margin = min(lease / 4, 5.0)
        self._launcher = _int(os.environ.get(LAUNCHER))
        self._execution = _int(os.environ.get("KLEIO_EXECUTION"))
        self._started = _start_time(self._launcher) if self._launcher else None
        self.leaving = False
        self._checked_leaving = False
        self._held = True

    def holds(self) -> bool:
        if not self._held or self._launcher is None:
            return self._held
        alive = self._launcher_alive()
        if alive and not (self.leaving and not self._checked_leaving):
            return True
        self._checked_leaving = self.leaving
        self._held = self._document_holds(expiring=not alive)
        return self._held

    def _launcher_alive(self) -> bool:
        try:
            os.kill(self._launcher, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process now has that pid
            return False
        return self._started is None or _start_time(self._launcher) == self._started

    def _document_holds(self, expiring: bool) -> bool:
        """The trial is still this execution's; with ``expiring`` (nobody renews the
        lease any more), for longer than the margin."""
        from kleio.core.model import status as st
        from kleio.store.base import StoreError

        try:
            document = self._open_store().get_trial(self._trial)
        except StoreError:
            return True
        if document is None:
            return False
        heartbeat = document.get("heartbeat") or 0.0
        return (
            document.get("status") == st.RUNNING
            and document.get("executions") == self._execution
            and (not expiring or time.time() < heartbeat + self._lease - self._margin)
        )


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _start_time(pid: int) -> str | None:
    """When ``pid`` started (Linux), so a recycled pid is not taken for it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM with no handler of the script's: leave as Python leaves on Ctrl-C.

    Raising SystemExit unwinds the interrupted code first (an artifact upload rolls back
    and lets go of the database) and then runs the exit handlers, which flush the
    statistics; flushing here, under the interrupted code, could wait forever for a lock
    it holds. While an exit is already under way (the logger closing, multiprocessing's
    exit handlers in a pool worker that got its stop sentinel just before
    ``Pool.terminate()``), it changes nothing: raising there would cut the flush short.
    The handler is one function for every process: a forked child that logged nothing
    yet has no statistics to flush and ends as SIGTERM ends it by default, even before
    its fork hooks forgot its parent's logger (an exception raised there would be
    swallowed, and the SIGTERM with it).
    """
    state = kleio_logger._state
    if not isinstance(state, _Inside) or state.pid != os.getpid():
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    if state._closed or state._terminating or _exit_under_way(frame):
        return
    state._terminating = True
    raise SystemExit(128 + signum)


def _exiting() -> bool:
    """Whether the interpreter is leaving (its ``atexit`` functions run, or ran): an exit
    handler registered now is never called, and a thread started now may never run
    (Python 3.12 refuses to start one)."""
    return bool(getattr(threading, "_SHUTTING_DOWN", False)) or sys.is_finalizing()


def _exit_under_way(frame: Any) -> bool:
    exits = {_Inside.close.__wrapped__.__code__}  # type: ignore[attr-defined]
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        exits.update(f.__code__ for f in (util._exit_function, util._run_finalizers) if callable(f))
    while frame is not None:
        if frame.f_code in exits:
            return True
        frame = frame.f_back
    return False


def _install_sigterm_handler() -> None:
    """Handle SIGTERM with :func:`_on_sigterm` unless the script has a handler of its
    own (then it decides). Only the main thread may: the first import of the logger
    happens there, so a script whose first statistic comes from a thread is covered.

    Not in a multiprocessing worker: a signal that comes just before the worker blocks
    on its task queue's lock is never seen by a Python handler (the wait is not
    interrupted), and ``Pool.terminate()`` would wait for that worker forever. Workers
    keep SIGTERM's default, and write each statistic before ``log_statistic`` returns.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if _in_multiprocessing_child():
        return
    try:
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main interpreter
        pass


def _preload() -> None:
    """Under Kleio, import now, in the importing thread, what the logger will use.

    A script that forks (``multiprocessing``, data-loader workers) while one of its
    threads is in the middle of an import leaves the child waiting forever for that
    import's lock. Importing everything up front, before the script starts any thread,
    leaves no import in progress for the logger's thread or first use to be caught in.
    Outside Kleio nothing is imported: the logger stays cheap to import.
    """
    # What the first statistic imports (see _Inside): the script's threads may log their
    # first while it forks, and the child then waits for their import forever.
    import atexit  # noqa: F401 - the logger imports these lazily

    import kleio.core.capture.ranks
    import kleio.core.model.artifacts
    import kleio.core.model.catalogue
    import kleio.core.model.journal
    import kleio.core.model.settings
    import kleio.core.model.status
    import kleio.core.reading.statistics
    import kleio.core.running.losses
    import kleio.core.running.sink
    import kleio.core.running.spool  # noqa: F401 - the logger imports these lazily
    from kleio.codec import orjson_module
    from kleio.store import StoreError, backend_class

    orjson_module()  # the writer's encoder

    _install_sigterm_handler()

    try:
        backend_class(os.environ.get("KLEIO_DB_ADDRESS", "")).preload()
    except StoreError:
        pass  # an address no backend takes: the first use says so


def _in_multiprocessing_child() -> bool:
    """Whether multiprocessing started this process (a ``Pool`` worker...), whatever
    its start method; while a spawned child imports its parent's modules too."""
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is None:
        return False
    try:
        current = multiprocessing.current_process()
        return multiprocessing.parent_process() is not None or bool(
            getattr(current, "_inheriting", False)
        )
    except Exception:  # a multiprocessing without these: assume a plain process
        return False


def _forget_in_child() -> None:
    # A forked child starts its own logger: the parent's queue and thread are not its.
    # It gets SIGTERM's default back until it logs (see _install_sigterm_handler).
    try:
        if signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except ValueError:  # not the main interpreter
        pass
    kleio_logger.__init__()


kleio_logger = KleioLogger()
os.register_at_fork(after_in_child=_forget_in_child)
if os.environ.get("KLEIO_TRIAL_ID"):
    _preload()
