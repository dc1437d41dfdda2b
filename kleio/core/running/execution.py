"""Executing a trial: reserve it, run its command, record its end.

The :class:`Runner` bundles what every way of running shares (store, settings, the
user's environment, how to tell the user, the run options); which trial a command is
comes from :mod:`kleio.core.running.matching`, and the life of one execution (start, launch,
end) is :class:`_Execution`.

Messages for the user go through a ``notify`` callback; this module prints nothing.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

from kleio.core.capture.host import host_snapshot, scheduler_job
from kleio.core.capture.ranks import detect_ranks
from kleio.core.capture.redact import MaskedValuesError
from kleio.core.capture.snapshot import Background, Snapshot, take_snapshot
from kleio.core.capture.usage import sample_interval
from kleio.core.capture.written import WatchedFiles
from kleio.core.model import clock
from kleio.core.model import status as st
from kleio.core.model.commandline import split_command
from kleio.core.model.errors import KleioError, TrialNotReservable
from kleio.core.model.journal import EventWriter
from kleio.core.model.settings import Settings
from kleio.core.model.trial import TrialDocument, short_id
from kleio.core.running.launcher import Outcome, exit_status, launch
from kleio.core.running.losses import describe
from kleio.core.running.matching import Notify, find_or_create_trial, matching_trial, reading_like
from kleio.core.running.observers import Observers
from kleio.core.running.signals import STOPPING, stopping_signals
from kleio.core.running.sink import CLOSING_PATIENCE, EventSink, leaving_time, retrying
from kleio.core.running.spool import (
    new_spool_path,
    replay_messages,
    replay_spools,
    spool_folder,
    write_spool,
)
from kleio.core.running.templates import (
    check_templates,
    default_working_root,
    expand_templates,
    make_working_dir,
    working_dir_of,
)
from kleio.store.base import Event, Store, StoreError, StoreUnavailable
from kleio.value import Value

#: Exit codes of a script stopped by SIGHUP, SIGINT or SIGTERM (shell convention).
_INTERRUPTED_CODES = {-1, -2, -15, 129, 130, 143}
#: ``kleio``'s exit code when the script succeeded but its journal is incomplete
#: (``EX_IOERR`` of sysexits.h); the trial is then broken.
INCOMPLETE_JOURNAL = 74
#: Output events appended per call (16 KB each: 4 MB) and held at most (16 MB): a
#: script printing faster than the store writes waits, so Kleio's memory stays bounded.
OUTPUT_BATCH = 256
OUTPUT_LIMIT = 1024


class RunOptions(Value):
    """How ``kleio`` runs a trial: the options of ``run``, ``branch`` and the default
    command.

    ``allowed``: identity components allowed to change (``code``, ``environment``): a
    branch is made. ``working_root``: where new trials get their working folders
    (default ``$KLEIO_HOME/trials``). ``hook``: record the configuration the script's
    argument parser resolved (:mod:`kleio.core.capture.hook`); ``KLEIO_HOOK=0`` in the
    environment turns it off too. ``sample_interval``: seconds between resource samples
    (:mod:`kleio.core.capture.usage`); None: the environment's ``KLEIO_SAMPLE_INTERVAL``, else
    the default; 0: none. ``name``: the trial's human name (:mod:`kleio.core.model.names`):
    a trial made by the run is born with it, one that exists is given it. ``study``: the
    study a trial made by the run belongs to (:mod:`kleio.core.running.study`).
    ``tensorboard``: at the end of each execution, read the scalars of the TensorBoard
    event files it wrote as statistics (:func:`~kleio.core.capture.tensorboard.import_run_files`).
    ``scalars``: read statistics from the output (:mod:`kleio.core.running.scalars`):
    True, False, or None for the settings' ``scalars``; ``scalar_patterns``: the patterns
    to read them with (some turn it on), else the settings', else the default ones.
    """

    FIELDS = (
        "tags",
        "project",
        "capture",
        "switch_over",
        "allowed",
        "working_root",
        "hook",
        "sample_interval",
        "name",
        "study",
        "tensorboard",
        "scalars",
        "scalar_patterns",
    )

    def __init__(
        self,
        tags: list[str] | None = None,
        project: str | None = None,
        capture: bool = False,
        switch_over: bool = False,
        allowed: frozenset[str] = frozenset(),
        working_root: str | None = None,
        hook: bool = True,
        sample_interval: float | None = None,
        name: str | None = None,
        study: str | None = None,
        tensorboard: bool = False,
        scalars: bool | None = None,
        scalar_patterns: list[str] | None = None,
    ):
        self.tags = [] if tags is None else tags
        self.project, self.capture, self.switch_over = project, capture, switch_over
        self.allowed, self.working_root, self.hook = allowed, working_root, hook
        self.sample_interval, self.name, self.study = sample_interval, name, study
        self.tensorboard = tensorboard
        self.scalars, self.scalar_patterns = scalars, scalar_patterns or []


def _final_status(outcome: Outcome, incomplete: bool = False) -> str:
    """Completed, interrupted (a signal asked it to stop and it did) or broken; a success
    whose journal is incomplete is broken."""
    interrupted = outcome.interrupted_by is not None
    if outcome.start_error is None and not interrupted and outcome.returncode == 0:
        return st.BROKEN if incomplete else st.COMPLETED
    if interrupted or outcome.returncode in _INTERRUPTED_CODES:
        return st.INTERRUPTED
    return st.BROKEN


def _scalars(options: RunOptions, settings: Settings):
    """The :class:`~kleio.core.running.scalars.Scalars` of a run, or None."""
    patterns = options.scalar_patterns
    if options.scalars is False and patterns:
        raise KleioError("--no-scalars reads no scalars: --scalar-pattern asks for them")
    if options.scalars is None and not patterns and settings.scalars is None:
        return None
    if options.scalars is False:
        return None
    from kleio.core.running.scalars import Scalars

    return Scalars(patterns or settings.scalars or ())


def _add_tags(store: Store, document: TrialDocument, tags: list[str]) -> list[str]:
    """Add ``tags`` to the trial; returns those it did not have."""
    current = document.get("tags") or []
    added = [tag for tag in dict.fromkeys(tags) if tag not in current]
    if added:
        store.update_trial(document["_id"], {"tags": [*current, *added]})
        document["tags"] = [*current, *added]
    return added


class Runner:
    """What every way of running a trial shares: the store, the settings, the user's
    environment, how to tell the user, and the run options."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        environ: dict[str, str],
        notify: Notify,
        options: RunOptions | None = None,
    ):
        self.store, self.settings, self.environ, self.notify = store, settings, environ, notify
        self.options = RunOptions() if options is None else options
        #: A stopping signal this runner received: a worker takes no new trial after it.
        self.stopped_by: int | None = None
        #: Command lines as stored -> as given, for those with secrets masked: what runs.
        self._given: dict[tuple[str, ...], tuple[str, ...]] = {}
        # A bad KLEIO_SAMPLE_INTERVAL or name is refused before any trial is touched.
        self.options.sample_interval = sample_interval(self.options.sample_interval, self.environ)
        if self.options.name is not None:
            from kleio.core.model.names import check_name

            check_name(self.options.name)
        #: The patterns statistics are read from the output with (a bad one is refused
        #: here, before any trial is touched), or None: not read, nor imported.
        self.scalars = _scalars(self.options, settings)
        #: This process's rank of a parallel launch (:mod:`kleio.core.capture.ranks`): the
        #: ranks of one launch are members of one execution.
        self.ranks = detect_ranks(environ)
        self.member = (
            st.Member(self.ranks.rank, self.ranks.world_size, self.ranks.group)
            if self.ranks.parallel
            else None
        )

    def snapshot(self, argv: list[str], cwd: str, project: str | None) -> Snapshot:
        """The snapshot of a command; one whose masked values are unknown (a stored
        command line given back) is refused: it cannot run."""
        check_templates(argv)
        snapshot = take_snapshot(argv, cwd, self.environ, self.settings, project)
        snapshot.working_root = self.options.working_root or default_working_root(
            self.settings.home
        )
        return self._checked_snapshot(snapshot)

    def snapshot_like(self, snapshot: Snapshot, argv: list[str]) -> Snapshot:
        """The snapshot of another command of the same program in the same folder, now:
        ``snapshot``'s code and environment, which that command shares (a sweep's
        points: one look at git for 10,000 trials)."""
        check_templates(argv)
        return self._checked_snapshot(snapshot.replace(command=split_command(argv)))

    def _checked_snapshot(self, snapshot: Snapshot) -> Snapshot:
        if snapshot.words.unknown:
            raise MaskedValuesError(snapshot.words)
        if snapshot.masked:
            self._given[snapshot.commandline] = tuple(snapshot.command.argv)
        return snapshot

    def command_to_run(self, document: TrialDocument) -> list[str]:
        """The command line to run for a trial: as given to this runner, for one
        whose stored command line has secrets masked; its templates filled."""
        stored = tuple(document["commandline"])
        given = self._given.get(stored, stored)
        return expand_templates(given, document, self.store, self.settings.home)

    # -- the commands ------------------------------------------------------------------
    def run_command(self, argv: list[str], cwd: str) -> int:
        """``kleio [run] COMMAND``."""
        self.store.connect_ahead()  # a server far away answers while git is looked at
        snapshot = self.snapshot(argv, cwd, self.options.project)
        return self.run(self._find_or_create(snapshot), just_read=True)

    def save_command(self, argv: list[str], cwd: str) -> TrialDocument:
        """``kleio save COMMAND``: register the trial without running it."""
        return self.save_snapshot(self.snapshot(argv, cwd, self.options.project))

    def save_snapshot(self, snapshot: Snapshot, quiet: bool = False) -> TrialDocument:
        """Register the trial of a snapshot without running it. ``quiet`` (a sweep saving
        thousands): tags are added without a word, and the study is left to the caller."""
        document = self._find_or_create(snapshot)
        if quiet:
            _add_tags(self.store, document, self.options.tags)
            return document
        self._tag(document)
        self._name(document)
        if snapshot.masked:
            them = "them" if len(snapshot.masked) > 1 else "it"
            self.notify(
                f"{', '.join(snapshot.masked)} recorded masked: `kleio run "
                f"{short_id(document['_id'])}` cannot replay {them}; run the command itself"
            )
        return document

    def resume(self, document: TrialDocument) -> int:
        """``kleio run ID``: the recorded command, in its recorded folder."""
        return self.run(self.checked(document))

    def checked(self, document: TrialDocument) -> TrialDocument:
        """The trial (or its branch) to run for a recorded trial, given today's code."""
        label = short_id(document["_id"])
        cwd = document.get("cwd") or os.getcwd()
        if not os.path.isdir(cwd):
            raise KleioError(f"trial {label} ran in {cwd}, which no longer exists")
        snapshot = reading_like(
            document, self.snapshot(list(document["commandline"]), cwd, document.get("project"))
        )
        if snapshot is None:
            raise KleioError(
                f"the configuration files of trial {label} changed since it was recorded;"
                " run the command itself to make a trial of the new configuration"
            )
        return matching_trial(
            self.store, document, snapshot, self.options.allowed, self.notify, self.options.name
        )

    def _tag(self, document: TrialDocument) -> None:
        """Give the trial the tags of ``--tags``, saying so when it did not have them (a
        trial made by this command has them already), and put it in the study of
        ``--study`` if it is in none (:func:`~kleio.core.running.study.join_study`)."""
        added = _add_tags(self.store, document, self.options.tags)
        if added:
            self.notify(f"trial {short_id(document['_id'])} tagged {', '.join(added)}")
        if self.options.study is not None and document.get("study") != self.options.study:
            from kleio.core.running.study import join_study

            if join_study(self.store, document, self.options.study):
                self.notify(f"trial {short_id(document['_id'])} joined study {document['study']}")
            else:
                self.notify(
                    f"trial {short_id(document['_id'])} stays in study {document['study']}: "
                    "a trial is in one study"
                )

    def _name(self, document: TrialDocument) -> None:
        """Give the trial the name of ``--name``, saying so when it had none or another
        (a trial made by this command has it already); raises
        :class:`~kleio.core.model.names.NameTaken` if another trial has it."""
        name = self.options.name
        if name is None or document.get("name") == name:
            return
        from kleio.core.model.names import name_trial

        former = name_trial(self.store, document, name)
        label = short_id(document["_id"])
        self.notify(
            f"trial {label} renamed {former} -> {name}" if former else f"trial {label} named {name}"
        )

    def _check_name(self, document: TrialDocument) -> None:
        """Refuse a name another trial has, before the trial is reserved."""
        name = self.options.name
        if name is not None and document.get("name") != name:
            from kleio.core.model.names import check_free

            check_free(self.store, name, document["_id"])

    def _find_or_create(self, snapshot: Snapshot) -> TrialDocument:
        options = self.options
        return find_or_create_trial(
            self.store,
            snapshot,
            options.tags,
            options.allowed,
            self.notify,
            options.name,
            options.study,
        )

    def run_tagged(self, tag: str) -> int:
        """``kleio run --tags T``: run reservable trials tagged T, oldest first, until none
        is left. Returns 0 if every trial it ran completed.

        A stopping signal (SIGTERM from a scheduler...) ends the worker: the trial it runs
        gets the signal and ends ``interrupted``, and no new trial is taken; the worker
        exits as a process killed by that signal would (128 + N).
        """
        with stopping_signals(self.stop):
            return self._work({"tags": [tag]}, f"tagged {tag!r}")

    def run_study(self, study: str) -> int:
        """``kleio run --study NAME``: :meth:`run_tagged` for the trials of a study."""
        with stopping_signals(self.stop):
            return self._work({"study": study}, f"of study {study!r}")

    def stop(self, signum: int, _frame: object = None) -> None:
        """Take no new trial: a stopping signal arrived."""
        self.stopped_by = self.stopped_by or signum

    def _work(self, chosen: dict, what: str) -> int:
        """Run the reservable trials ``find_trials(**chosen)`` finds, each at most once."""
        skipped: set[str] = set()
        ran = failed = 0
        reservable = {st.NEW, st.INTERRUPTED, st.LOST}
        while self.stopped_by is None:
            candidates = sorted(
                (
                    document
                    for document in self.store.find_trials(
                        status=[st.NEW, st.INTERRUPTED, st.RESERVED, st.RUNNING], **chosen
                    )
                    if document["_id"] not in skipped
                    and st.observed_status(document, self.settings.lease) in reservable
                ),
                key=lambda document: (document.get("created") or 0, document["_id"]),
            )
            progressed = False
            for document in candidates:
                try:
                    code = self.run(self.checked(document), completed_is_done=False)
                except TrialNotReservable:
                    continue  # another worker took it
                except KleioError as error:
                    self.notify(f"skipping trial {short_id(document['_id'])}: {error}")
                    skipped.add(document["_id"])
                    continue
                ran += 1
                failed += code != 0
                progressed = True
                break
            if not progressed:
                break
        ran_text = f"this worker ran {ran}" + (f", {failed} of them failed" if failed else "")
        if self.stopped_by is not None:
            name = signal.Signals(self.stopped_by).name
            self.notify(f"stopped by {name}: {ran_text}; the rest wait for another worker")
            return 128 + self.stopped_by
        self.notify(f"no trial {what} left to run; {ran_text}")
        return 1 if failed else 0

    # -- running one trial -------------------------------------------------------------
    def run(
        self, document: TrialDocument, completed_is_done: bool = True, just_read: bool = False
    ) -> int:
        """Reserve the trial, run it, record its end; returns ``kleio``'s exit status.

        A completed trial is reported and counts as success; a worker passes
        ``completed_is_done=False`` to get TrialNotReservable instead: another worker ran
        it, not this one. ``just_read``: ``document`` is the whole trial as read or made
        a moment ago, which its reservation starts from (see
        :func:`~kleio.core.model.status.reserve_trial`).
        """
        store, trial_id, worker = self.store, document["_id"], st.Worker()
        # Status events of the start, journalled with the execution's start (one append
        # after the script started, not one per event before it: 3 round trips each).
        starting: list[Event] = []
        self.command_to_run(document)  # templates it cannot fill: refused before reserving
        self._check_name(document)  # a name taken: refused before reserving too
        joined = False
        try:
            if self.member is not None:
                document, joined = st.join_or_reserve(
                    store,
                    trial_id,
                    worker,
                    self.member,
                    lease=self.settings.lease,
                    allow_broken=self.options.switch_over,
                )
            else:
                document = st.reserve_trial(
                    store,
                    trial_id,
                    worker,
                    lease=self.settings.lease,
                    allow_broken=self.options.switch_over,
                    read=document if just_read else None,
                    journal=starting,
                )
        except TrialNotReservable as refusal:
            if refusal.status == st.COMPLETED and completed_is_done:
                # A finished trial is still tagged and named: `--tags t` asks for it.
                self._tag(document)
                self._name(document)
                self.notify(f"{refusal}: nothing to run (see `kleio info {short_id(trial_id)}`)")
                return 0
            raise
        if joined:
            member = self.member
            self.notify(
                f"trial joined with id: {trial_id} (rank {member.rank} of {member.world_size})",
                plain=True,
            )
        else:
            self.notify(f"trial reserved with id: {trial_id}", plain=True)
        try:
            return self._execute(document, worker, joined, starting)
        except BaseException as error:
            if isinstance(error, StoreUnavailable):
                # The database went away as the trial started: each call would wait
                # SERVER_SELECTION_TIMEOUT_MS (5 s) for nothing. The lease expires; the
                # trial shows as lost, resumable.
                raise
            if starting:  # the start was not recorded: its statuses are, before the end
                try:
                    store.append_events(starting)
                except StoreError:
                    pass
            # Interrupted before or while starting: leave the trial resumable, not held.
            if self.member is not None:
                try:  # this rank ends; the last rank to end records the execution's end
                    st.end_member(
                        store,
                        trial_id,
                        worker,
                        self.member.rank,
                        st.INTERRUPTED,
                        exit_code=None,
                        ended=clock.now(),
                    )
                except (KleioError, StoreError):
                    pass  # the lease will expire: the trial shows as lost, resumable
                raise
            current = store.get_trial(trial_id) or {}
            holder = (current.get("worker") or {}).get("token")
            if current.get("status") in st.ACTIVE and holder == worker.token:
                try:
                    st.change_status(
                        store, trial_id, worker, st.INTERRUPTED, previous=current["status"]
                    )
                except (KleioError, StoreError):
                    pass  # the lease will expire: the trial shows as lost, resumable
            raise

    def started_execution(
        self,
        document: TrialDocument,
        worker: st.Worker,
        joined: bool = False,
        starting: list[Event] | None = None,
    ) -> _Execution:
        """A reserved trial, tagged, named and running: its execution, to launch (or, for
        a process running its own trial, :mod:`kleio.core.running.inprocess`, to live).
        ``joined``: this process is a rank that joined the execution of its launch.
        ``starting``: status events not yet journalled, which the execution's start
        (:meth:`_Execution.record_start`) journals with its own, its ``running`` too."""
        self._tag(document)
        try:
            self._name(document)
        except KleioError as error:  # taken by another since _check_name: run unnamed
            self.notify(f"{error}; trial {short_id(document['_id'])} runs unnamed")
        execution = _Execution(self, document, worker, joined)
        if starting is not None:
            execution.starting = starting
        execution.start()
        return execution

    def _execute(
        self,
        document: TrialDocument,
        worker: st.Worker,
        joined: bool = False,
        starting: list[Event] | None = None,
    ) -> int:
        """The life of one execution of a reserved trial."""
        execution = self.started_execution(document, worker, joined, starting)
        outcome = execution.launch()
        try:
            final, missing = execution.record_end(outcome)
            self.replay_spools(document["_id"])
            if self.options.tensorboard:
                execution.read_tensorboard()
            code = execution.finish(outcome, final, missing)
        finally:
            late = outcome.late_signals.release() if outcome.late_signals else []
        if late:
            names = ", ".join(dict.fromkeys(signal.Signals(signum).name for signum in late))
            self.notify(
                f"{names} came as the end of trial {short_id(document['_id'])} was being "
                "recorded: it is recorded whole"
            )
            for signum in late:  # a worker takes no new trial
                self.stop(signum)
        return code

    def replay_spools(self, trial_id: str) -> None:
        """Upload what the script or the launcher kept on disk while the store was down."""
        replay = replay_spools(lambda: self.store, spool_folder(self.settings.home), trial_id)
        for message in replay_messages(replay):
            self.notify(message)


class _Execution:
    """One execution of a reserved trial: started, launched, ended, finished."""

    def __init__(
        self, runner: Runner, document: TrialDocument, worker: st.Worker, joined: bool = False
    ):
        self.runner, self.document, self.worker = runner, document, worker
        self.store, self.trial_id = runner.store, document["_id"]
        self.label = short_id(self.trial_id)
        #: The rank this process is of a parallel launch, or None; ``joined``: it joined
        #: the execution the first rank to arrive started (or is starting).
        self.member, self.joined = runner.member, joined
        started = joined and document.get("status") == st.RUNNING
        self.number = int(document.get("executions") or 0) + (0 if started else 1)
        self.writer = EventWriter()
        self.scalars = runner.scalars.for_execution() if runner.scalars else None
        # The recorders already batch output (16 KB, or 0.2 s): write each as it comes,
        # so `kleio tail -f` lags by a fraction of a second.
        self.sink = EventSink(
            lambda: self.store,
            spool_folder(runner.settings.home),
            name="output",
            wake_at=1,
            batch=OUTPUT_BATCH,
            limit=OUTPUT_LIMIT,
            patience=runner.settings.write_patience,
            on_trouble=runner.notify,
        )
        self.started = clock.now()
        self.restarted: dict[str, tuple[float, float]] = {}
        #: Events journalled with the execution's end, in its append (a usage sample).
        self.closing: list[Event] = []
        #: Events journalled with the execution's start, in its append (its statuses).
        self.starting: list[Event] = []
        #: The final status's event went in the append of the execution's end.
        self.final_journalled = False
        # nvidia-smi can take a while on a GPU node: the script need not wait for it.
        self.host = Background(host_snapshot, runner.environ)

    def start(self) -> None:
        """The trial is running from now on, its working folder made."""
        settings = self.runner.settings
        working_dir = self.document["working_dir"] = working_dir_of(self.document, settings.home)
        make_working_dir(working_dir, settings.home)
        if self.joined:
            return  # the first rank started the execution
        st.change_status(
            self.store,
            self.trial_id,
            self.worker,
            st.RUNNING,
            previous=st.RESERVED,
            journal=self.starting,
            executions=self.number,
            started=self.started,
            working_dir=working_dir,
            # The batch job of the latest execution, on the trial: `--where job.partition=gpu`.
            job=scheduler_job(self.runner.environ, ask=False),
        )

    def child_environment(self) -> dict[str, str]:
        runner = self.runner
        environment = {
            **runner.environ,
            **runner.settings.environment(),
            "KLEIO_TRIAL_ID": self.trial_id,
            "KLEIO_EXECUTION": str(self.number),
            "KLEIO_TRIAL_WORKING_DIR": self.document["working_dir"],
        }
        # The script writes to a pipe, so Python would buffer its output by blocks of
        # 8 KB: `kleio tail -f` and a terminal alike expect each line as it comes,
        # wherever kleio's own output goes (a file, /dev/null, nohup, sbatch).
        environment.setdefault("PYTHONUNBUFFERED", "1")
        return environment

    def record_start(self, pid: int | None) -> None:
        """Where and when the execution runs: written at once, not queued, so a kleio
        killed a moment later still leaves the record of it."""
        event = self.writer.event(
            self.trial_id,
            "execution",
            {
                "phase": "start",
                "number": self.number,
                "host": self.host.result(),
                "pid": pid,
                "cwd": self.document["cwd"],
                "commandline": self.document["commandline"],
                "kleio_pid": os.getpid(),
                "start": self.started,
                **self._rank_data(),
                **({"scalars": self.scalars.record()} if self.scalars else {}),
            },
        )
        events = [*self.starting, event]
        self.starting.clear()  # shared with the runner, which journals what is left on failure
        try:
            self.store.append_events(events)
        except StoreError:
            for queued in events:
                self.sink.put(queued)

    def launch(self) -> Outcome:
        """Run the command to its end, its output journalled and its lease renewed."""
        runner = self.runner
        self.watched = WatchedFiles(self.document)
        observers = Observers(
            store=self.store,
            sink=self.sink,
            writer=self.writer,
            trial_id=self.trial_id,
            execution=self.number,
            argv=list(self.document["commandline"]),
            environ=runner.environ,
            hook=runner.options.hook,
            interval=runner.options.sample_interval or 0.0,
            notify=runner.notify,
        )
        try:
            outcome = launch(
                runner.command_to_run(self.document),
                cwd=self.document["cwd"],
                environ=observers.environment(self.child_environment()),
                sink=self.sink,
                writer=self.writer,
                trial_id=self.trial_id,
                capture=runner.options.capture,
                heartbeat=runner.settings.heartbeat,
                lease=runner.settings.lease,
                beat=self._beat,
                on_start=lambda pid: (self.record_start(pid), observers.started(pid)),
                pass_fds=observers.fds,
                recorder=self._recorder(),
            )
        finally:
            observers.stop()
        self.closing = observers.ended(outcome.used, outcome.ended - outcome.started)
        if outcome.pid is None:  # the command could not start: still record the attempt
            self.record_start(None)
        return outcome

    def _rank_data(self) -> dict[str, object]:
        """What an execution event of one rank says of it (nothing for a process alone)."""
        member = self.member
        if member is None:
            return {}
        return {"rank": member.rank, "world_size": member.world_size, "group": member.group}

    def _beat(self) -> bool:
        if self.member is None:
            return st.beat(self.store, self.trial_id, self.worker)
        return st.beat_member(self.store, self.trial_id, self.worker, self.member.rank)

    def _recorder(self):
        """What records each stream: output events of a rank say which rank printed them."""
        made = (
            self.scalars.recorder_factory(self.sink, self.writer, self.trial_id)
            if self.scalars
            else None
        )
        if self.member is None:
            return made
        from kleio.core.running.recorder import OutputRecorder

        rank = {"rank": self.member.rank}
        made = made or (lambda kind: OutputRecorder(self.sink, self.writer, self.trial_id, kind))

        def ranked(kind: str) -> OutputRecorder:
            recorder = made(kind)
            recorder.extra = rank
            return recorder

        return ranked

    def record_end(self, outcome: Outcome) -> tuple[str, Counter]:
        """Journal everything still queued and how the execution ended; the final
        status, and what the execution could not journal, by event kind."""
        # As the script's logger: what cannot be written by then is lost.
        self.sink.close(timeout=leaving_time(self.runner.settings.lease))
        missing = outcome.unjournalled + self.sink.lost + self.sink.refused
        final = _final_status(outcome, incomplete=bool(missing))
        self.restarted = self._restarted()
        end = self.writer.event(
            self.trial_id,
            "execution",
            {
                "phase": "end",
                "number": self.number,
                "pid": outcome.pid,
                "end": outcome.ended,
                "duration": outcome.ended - outcome.started,
                "exit_code": outcome.returncode,
                "signal": outcome.interrupted_by,
                "signals": outcome.signals,
                "status": final,
                "error": outcome.start_error,
                **self._rank_data(),
                **({"exception": outcome.exception} if outcome.exception else {}),
                **({"unjournalled": dict(missing)} if missing else {}),
                **({"left_behind": outcome.left_behind} if outcome.left_behind else {}),
                **({"restarted": self.restarted} if self.restarted else {}),
            },
        )
        events = [*self.closing, end]
        if self.member is None and not outcome.lease_lost:
            # The final status's event goes with the end, before the status is stored (one
            # append, not two: 3 round trips less): a kleio stopped between the two leaves
            # the trial running, so lost and resumable, as when its end alone was written.
            events.append(st.status_event(self.trial_id, final, st.RUNNING))
            self.final_journalled = True
        try:
            retrying(lambda: self.store.append_events(events), patience=CLOSING_PATIENCE)
        except StoreError:
            folder = spool_folder(self.runner.settings.home)
            try:
                write_spool(new_spool_path(folder, self.trial_id, "execution"), events)
            except OSError:
                missing.update(event.kind for event in events)
        if outcome.start_error:
            self.runner.notify(outcome.start_error)
        return final, missing

    def read_tensorboard(self) -> None:
        """``--tensorboard``: the scalars of the event files this execution wrote, as
        statistics (the files stay: if the store fails now, an import adds them later)."""
        from kleio.core.capture.tensorboard import import_run_files

        working_dir, cwd = self.document["working_dir"], self.document["cwd"]
        try:
            results = import_run_files(
                self.store,
                self.trial_id,
                working_dir,
                cwd,
                self.started,
                self.runner.notify,
                home=self.runner.settings.home,
            )
        except StoreError as error:
            self.runner.notify(
                f"could not journal the TensorBoard scalars of trial {self.label} ({error}); "
                f"`kleio import-tensorboard FOLDER --trial {self.label}` adds them later"
            )
            return
        if results:
            read = sum(result.read for result in results)
            files = len(results)
            self.runner.notify(
                f"trial {self.label}: {read:,} TensorBoard scalar{'s' * (read != 1)} read from "
                f"{files} event file{'s' * (files != 1)}"
            )
        else:
            self.runner.notify(
                f"--tensorboard: trial {self.label} wrote no event files in its working folder "
                "or the folder it ran in"
            )

    def _restarted(self) -> dict[str, tuple[float, float]]:
        """Keys this execution logged below where the view it continues had reached
        (:mod:`kleio.core.running.restarts`); none for a trial's first execution."""
        continues = self.number > 1 or (self.document.get("refers") or {}).get("parent")
        if not continues:
            return {}
        from kleio.core.running.restarts import restarted_keys  # a first execution: never

        try:
            return restarted_keys(self.store, self.document, self.started)
        except StoreError:  # the database is away: the end matters more
            return {}

    def finish(self, outcome: Outcome, final: str, missing: Counter) -> int:
        """Release the trial with its final status; ``kleio``'s exit status."""
        notify, settings, label = self.runner.notify, self.runner.settings, self.label
        if self.restarted:
            from kleio.core.running.restarts import describe_restarts

            notify(f"trial {label}: {describe_restarts(self.restarted)}")
        for delivered in outcome.signals:
            signum = signal.Signals[delivered["signal"]]
            if signum in STOPPING:
                self.runner.stop(signum)
        if outcome.lease_lost:
            raise KleioError(
                f"trial {label} was taken over by another process "
                "(heartbeat refused): this execution was stopped"
            )
        if outcome.left_behind:
            count = outcome.left_behind
            how = f"SIGKILL after {outcome.grace:g} s" if outcome.killed_left_behind else "SIGTERM"
            notify(
                f"the script left {count} process{'es' if count > 1 else ''} running in its "
                f"process group: stopped ({how})"
            )
        if outcome.output_abandoned:
            notify(
                "processes outside the script's process group still hold its output: "
                "the rest of it is not journalled"
            )
        run_time = float(self.document.get("run_time") or 0.0) + outcome.ended - outcome.started
        outputs = self.watched.written(self.number)
        recorded = True
        if self.member is not None:
            recorded = self._end_member(outcome, final, outputs)
            if missing and outcome.returncode == 0 and outcome.start_error is None:
                notify(
                    f"the journal of rank {self.member.rank} of trial {label} is incomplete: "
                    f"{describe(missing)} were not journalled"
                )
                return INCOMPLETE_JOURNAL
            return exit_status(outcome.returncode)
        try:
            retrying(
                lambda: st.change_status(
                    self.store,
                    self.trial_id,
                    self.worker,
                    final,
                    previous=st.RUNNING,
                    journalled=self.final_journalled,
                    exit_code=outcome.returncode,
                    run_time=run_time,
                    ended=outcome.ended,
                    outputs=outputs,
                    **({"unjournalled": dict(missing)} if missing else {}),
                ),
                patience=min(settings.lease, 30.0),
            )
        except StoreError as error:
            recorded = False
            notify(
                f"could not record the end of trial {label} ({error}); "
                "it will show as lost and can be resumed"
            )
        succeeded = outcome.returncode == 0 and outcome.start_error is None
        if missing:
            reasons = "; ".join(dict.fromkeys([*outcome.reasons, *self.sink.reasons.values()]))
            broken = final == st.BROKEN and succeeded and recorded
            notify(
                f"the journal of trial {label} is incomplete: {describe(missing)} were not "
                f"journalled ({reasons or 'see the messages above'})"
                + ("; the trial is marked broken" if broken else "")
            )
        if final == st.BROKEN and outcome.start_error is None and outcome.returncode != 0:
            notify(f"trial {label} is broken (exit code {outcome.returncode})")
        elif final == st.INTERRUPTED:
            notify(f"trial {label} interrupted; run the same command to resume it")
        if missing and succeeded and outcome.interrupted_by is None:
            return INCOMPLETE_JOURNAL
        return exit_status(outcome.returncode)

    def _end_member(self, outcome: Outcome, final: str, outputs) -> bool:
        """This rank's end; the execution's too if it is the last rank to end (its status
        said). False if the end could not be recorded."""
        notify, label, member = self.runner.notify, self.label, self.member
        try:
            end = retrying(
                lambda: st.end_member(
                    self.store,
                    self.trial_id,
                    self.worker,
                    member.rank,
                    final,
                    exit_code=outcome.returncode,
                    ended=outcome.ended,
                    outputs=outputs,
                ),
                patience=min(self.runner.settings.lease, 30.0),
            )
        except StoreError as error:
            notify(
                f"could not record the end of rank {member.rank} of trial {label} ({error}); "
                "it will show as lost and can be resumed"
            )
            return False
        if end is None:
            return True  # other ranks still run, or one of them recorded the end
        status, code, rank = end
        if status == st.BROKEN:
            notify(f"trial {label} is broken (exit code {code} of rank {rank})")
        elif status == st.INTERRUPTED:
            notify(f"trial {label} interrupted; run the same command to resume it")
        return True
