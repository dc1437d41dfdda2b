"""A trial run by the process itself (``kleio.start``): the life a launched execution
has (reserved, running, heartbeat and lease, output, resource samples, end), driven
from inside the process instead of from ``kleio`` around it.

Which trial it is (:func:`trial_to_run`), by ``resume``:

- ``True``: the trial of the snapshot, as ``kleio python ...`` finds it; with changed
  code or environment, its branch for them (made if needed: a process cannot be asked
  for ``--allow-code-change``, and an edited script is a new experiment). It runs if it
  is new, interrupted or lost; a completed or broken one is refused
  (:class:`~kleio.core.model.errors.TrialNotReservable`).
- ``"branch"``: the same, but a completed or broken trial gets a branch from its end
  (as ``kleio branch ID`` makes), which runs; one made so before is taken instead, and
  branched again if it ended too.
- ``False``: a new trial every time, a root whose ``refers`` holds ``reason: fresh``
  and a random token (so its id is new).

A trial held by another live process is refused in every case. Messages go through
``notify``; this module prints nothing.
"""

from __future__ import annotations

import os
import resource
import signal
import threading
import time

from kleio.core.capture.snapshot import Snapshot
from kleio.core.capture.usage import KIND, UsageSampler
from kleio.core.capture.written import WatchedFiles
from kleio.core.model import status as st
from kleio.core.model.trial import TrialDocument, short_id
from kleio.core.running.execution import Runner, _Execution
from kleio.core.running.launcher import Outcome, grace_period
from kleio.core.running.matching import create_trial, find_or_create_trial
from kleio.core.running.recorder import FLUSH_INTERVAL, OutputRecorder
from kleio.core.running.sink import background_thread
from kleio.store.base import Event, StoreError, StoreUnavailable

#: What ``resume`` may be.
RESUME_MODES = (True, False, "branch")
#: In-process, changed code or environment makes a branch (see the module documentation).
ALLOWED = frozenset({"code", "environment"})
#: The exit code recorded for each way a process's own trial ends (a script that raised
#: exits 1; one stopped by Ctrl-C, 130).
EXIT_CODES = {st.COMPLETED: 0, st.BROKEN: 1, st.INTERRUPTED: 130}


def trial_to_run(runner: Runner, snapshot: Snapshot, resume: bool | str) -> TrialDocument:
    """The trial a process asking for ``snapshot`` runs (see the module documentation),
    made if needed; not yet reserved."""
    store, options = runner.store, runner.options
    if resume is False:
        spec = snapshot.spec.replace(refers={"reason": "fresh", "fresh": os.urandom(8).hex()})
        return create_trial(store, spec, snapshot, options.tags, options.name)[0]
    document = find_or_create_trial(
        store, snapshot, options.tags, ALLOWED, runner.notify, options.name
    )
    ended = (st.COMPLETED, st.BROKEN)
    while resume == "branch" and st.observed_status(document, runner.settings.lease) in ended:
        from kleio.core.running.branching import branch_point

        refers = {
            "parent": document["_id"],
            "time": branch_point(store, document, None),
            "reason": "branch",
            "timestamp": None,
        }
        spec = snapshot.spec.replace(project=document["project"], refers=refers)
        parent = short_id(document["_id"])
        document, created = create_trial(store, spec, snapshot, options.tags, options.name)
        if created:
            runner.notify(f"branched trial {parent} into trial {short_id(document['_id'])}")
    return document


class OwnExecution:
    """The execution of a trial by the process itself, from its reservation to its end.

    What the launcher does around a child, done beside the caller's code: a thread
    renews the lease every ``heartbeat`` seconds and journals what the process printed
    (:meth:`printed`) at least every 0.2 s; another samples the process's resources
    (:mod:`kleio.core.capture.usage`). A process killed outright stops renewing: its
    trial is lost once the lease expires, and can be resumed.
    """

    def __init__(self, runner: Runner, document: TrialDocument):
        self.runner = runner
        worker = st.Worker()
        starting: list[Event] = []  # journalled with the execution's start, in one append
        document = st.reserve_trial(
            runner.store,
            document["_id"],
            worker,
            lease=runner.settings.lease,
            read=document,  # as trial_to_run read or made it a moment ago
            journal=starting,
        )
        try:
            execution = runner.started_execution(document, worker, starting=starting)
        except BaseException as error:
            # The start was not recorded: its statuses are (unless the database is away).
            if starting and not isinstance(error, StoreUnavailable):
                try:
                    runner.store.append_events(starting)
                except StoreError:
                    pass
            raise
        self.execution = execution
        self.trial_id, self.number = execution.trial_id, execution.number
        self.document = execution.document
        execution.watched = WatchedFiles(self.document)
        execution.record_start(os.getpid())
        self.outcome = Outcome(
            returncode=0, started=time.time(), grace=grace_period(runner.settings.lease)
        )
        self.outcome.pid = os.getpid()
        self._cpu = _cpu_seconds()
        sink, writer = execution.sink, execution.writer
        self._recorders = {
            kind: OutputRecorder(sink, writer, self.trial_id, kind) for kind in ("stdout", "stderr")
        }
        interval = runner.options.sample_interval or 0.0
        self._sampler = (
            UsageSampler(
                interval,
                lambda data: sink.put(writer.event(self.trial_id, KIND, data)),
                self.number,
                runner.environ,
            )
            if interval > 0
            else None
        )
        if self._sampler:
            self._sampler.start(os.getpid())
        self._stop = threading.Event()
        self._beater = background_thread(self._keep_alive, "kleio-heartbeat")
        self.ended = False

    def printed(self, kind: str, data: bytes) -> None:
        """Journal what the process wrote on ``kind`` (``stdout`` or ``stderr``)."""
        if not self.ended and not self.outcome.lease_lost:
            self._recorders[kind].add(data)

    def _keep_alive(self) -> None:
        settings, execution = self.runner.settings, self.execution
        next_beat = time.monotonic() + settings.heartbeat
        while not self._stop.wait(min(FLUSH_INTERVAL / 2, settings.heartbeat)):
            for recorder in self._recorders.values():
                recorder.tick()
            if time.monotonic() < next_beat:
                continue
            next_beat = time.monotonic() + settings.heartbeat
            try:
                alive = st.beat(self.runner.store, self.trial_id, execution.worker)
            except Exception:  # the database is away: the lease may still hold
                continue
            if not alive:
                self.outcome.lease_lost = True
                self.runner.notify(
                    f"trial {short_id(self.trial_id)} was taken over by another process "
                    "(heartbeat refused): nothing more is journalled"
                )
                return

    def end(self, status: str, exception: str | None = None, traceback: str | None = None) -> int:
        """Record the end (``status``: completed, broken or interrupted) as a launched
        execution's end is recorded; ``traceback`` joins the journalled stderr. Returns
        the exit status ``kleio`` would give. Raises
        :class:`~kleio.core.model.errors.KleioError` if another process took the trial."""
        self.ended = True
        self._stop.set()
        self._beater.join()
        if self._sampler:
            self._sampler.stop()
        outcome, execution = self.outcome, self.execution
        if traceback and not outcome.lease_lost:
            self._recorders["stderr"].add(traceback.encode("utf-8", "backslashreplace"))
        for recorder in self._recorders.values():
            recorder.finish()
        outcome.ended = time.time()
        outcome.returncode = EXIT_CODES[status]
        outcome.exception = exception
        if status == st.INTERRUPTED:
            outcome.interrupted_by = signal.SIGINT
        usage = resource.getrusage(resource.RUSAGE_SELF)  # Linux counts the peak in KB
        outcome.used = (_cpu_seconds() - self._cpu, usage.ru_maxrss * 1024)
        if self._sampler:
            execution.closing = execution_closing(self._sampler, execution, outcome)
        final, missing = execution.record_end(outcome)
        self.runner.replay_spools(self.trial_id)
        return execution.finish(outcome, final, missing)


def execution_closing(sampler: UsageSampler, execution: _Execution, outcome: Outcome) -> list:
    """A sample at the end for an execution shorter than the interval (see
    :meth:`~kleio.core.capture.usage.UsageSampler.at_end`)."""
    assert outcome.used is not None
    sample = sampler.at_end(*outcome.used, outcome.ended - outcome.started)
    return [] if sample is None else [execution.writer.event(execution.trial_id, KIND, sample)]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
