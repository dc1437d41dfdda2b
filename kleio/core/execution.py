"""Executing a command under Kleio: find or make its trial, reserve it, run it, record it.

Resume rules: the same command with the same code and environment resumes its trial.
With changed code or environment, Kleio looks for a branch already made for exactly this
code and environment and resumes it; otherwise it refuses with a summary of what changed,
or, when the change is allowed, branches the trial (branch point: the end of the parent)
and runs the branch, so the original stays resumable with the original code.

Messages for the user go through a ``notify`` callback; this module prints nothing.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kleio.core import clock
from kleio.core import status as st
from kleio.core.code import (
    INLINE_DIFF,
    code_identity,
    code_snapshot,
    describe_code_change,
)
from kleio.core.commandline import (
    Command,
    config_files_of,
    configuration_of,
    split_command,
)
from kleio.core.environment import (
    describe_environment_change,
    environment_identity,
    environment_snapshot,
)
from kleio.core.errors import KleioError, TrialNotReservable
from kleio.core.host import host_snapshot
from kleio.core.journal import EventWriter
from kleio.core.launcher import Outcome, exit_status, launch
from kleio.core.settings import Settings
from kleio.core.sink import (
    EventSink,
    pending_spools,
    replay_trial_spools,
    retrying,
    spool_folder,
)
from kleio.core.trial import TrialSpec, new_trial_document, short_id
from kleio.store.base import DuplicateTrialError, Store, StoreError

Notify = Callable[[str], None]

#: Exit codes of a script stopped by SIGHUP, SIGINT or SIGTERM (shell convention).
_INTERRUPTED_CODES = {-1, -2, -15, 129, 130, 143}


class ChangeRefused(KleioError):
    """The code or environment changed since the trial was recorded, and that is not allowed."""


@dataclass
class RunOptions:
    tags: list[str] = field(default_factory=list)
    project: str | None = None
    capture: bool = False
    switch_over: bool = False
    allow_code_change: bool = False
    allow_env_change: bool = False


@dataclass
class Snapshot:
    """What a command is, and the code and environment it would run with, now."""

    command: Command
    cwd: str
    configuration: dict[str, Any]
    code: dict[str, Any]
    environment: dict[str, Any]
    project: str

    @property
    def code_identity(self) -> str:
        return code_identity(self.code)

    @property
    def environment_identity(self) -> str:
        return environment_identity(self.environment)

    @property
    def spec(self) -> TrialSpec:
        return TrialSpec(self.project, self.command.argv, self.configuration)


def take_snapshot(
    argv: list[str],
    cwd: str,
    environ: dict[str, str],
    settings: Settings,
    project: str | None = None,
) -> Snapshot:
    command = split_command(argv)
    # The git snapshot waits on git processes: let it run while the rest is read.
    code = _in_background(code_snapshot, cwd, command.program)
    configuration = configuration_of(command, cwd)
    environment = environment_snapshot(command, environ, cwd, Path(settings.home) / "cache")
    code = code.result()
    if not project:
        project = (
            environ.get("KLEIO_PROJECT")
            or os.path.basename(code.get("root") or os.path.abspath(cwd))
            or "default"
        )
    return Snapshot(command, os.path.abspath(cwd), configuration, code, environment, project)


class _Background(threading.Thread):
    """A function call running beside the caller; ``result()`` waits for it."""

    def __init__(self, function: Callable[..., Any], *args: Any):
        super().__init__(daemon=True, name=f"kleio-{function.__name__}")
        self._function, self._args = function, args
        self._value: Any = None
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self._value = self._function(*self._args)
        except BaseException as error:
            self._error = error

    def result(self) -> Any:
        self.join()
        if self._error is not None:
            raise self._error
        return self._value


_in_background = _Background


# -- finding the trial -----------------------------------------------------------------


def _version_document(store: Store, trial_id: str, code: dict[str, Any]) -> dict[str, Any]:
    """The code snapshot as stored: a large diff goes to a blob."""
    version = dict(code)
    diff = version.get("diff")
    if diff and len(diff) > INLINE_DIFF:
        blob = store.put_blob(
            diff.encode("utf-8", "surrogateescape"), {"trial": trial_id, "kind": "diff"}
        )
        version["diff"], version["diff_blob"] = None, blob.id
    return version


def _create(
    store: Store, spec: TrialSpec, snapshot: Snapshot, tags: list[str], **fields: Any
) -> tuple[dict[str, Any], bool]:
    """Create the trial or return the one a concurrent process just created."""
    document = new_trial_document(
        spec,
        tags=tags,
        cwd=snapshot.cwd,
        program=snapshot.command.program,
        version=_version_document(store, spec.id, snapshot.code),
        environment=snapshot.environment,
        code_identity=snapshot.code_identity,
        environment_identity=snapshot.environment_identity,
        executions=0,
        run_time=0.0,
        exit_code=None,
        **fields,
    )
    try:
        store.create_trial(document)
        return document, True
    except DuplicateTrialError:
        existing = store.get_trial(spec.id)
        if existing is None:  # pragma: no cover - deleted in between
            raise
        return existing, False


def _check_missing_config_files(store: Store, snapshot: Snapshot) -> None:
    """A configuration file an earlier run of this command read, gone now, is an error:
    silently making a new trial without it would hide the mistake."""
    missing = [
        name
        for name in config_files_of(snapshot.command, snapshot.cwd)
        if not os.path.exists(os.path.join(snapshot.cwd, name))
    ]
    if not missing:
        return
    argv = list(snapshot.command.argv)
    for document in store.find_trials(project=snapshot.project, limit=5000):
        if document.get("commandline") == argv:
            raise KleioError(
                f"configuration file {missing[0]} does not exist, but trial "
                f"{short_id(document['_id'])} of this command read it; restore the file "
                f"or resume the trial with `kleio run {short_id(document['_id'])}`"
            )


def find_or_create_trial(
    store: Store, snapshot: Snapshot, options: RunOptions, notify: Notify
) -> dict[str, Any]:
    """The trial this command resumes, a branch for changed code or environment, or a
    new trial."""
    spec = snapshot.spec
    document = store.get_trial(spec.id)
    if document is None:
        _check_missing_config_files(store, snapshot)
        document, _ = _create(store, spec, snapshot, options.tags)
    return matching_trial(store, document, snapshot, options, notify)


def _descendants(store: Store, document: dict[str, Any]):
    """Branches made for changed code or environment, breadth first."""
    queue = [document["_id"]]
    seen = set(queue)
    while queue:
        parent = queue.pop(0)
        for child in reversed(store.find_trials(parent=parent)):
            if child["_id"] in seen or (child.get("refers") or {}).get("reason") != "change":
                continue
            seen.add(child["_id"])
            queue.append(child["_id"])
            yield child


def matching_trial(
    store: Store,
    document: dict[str, Any],
    snapshot: Snapshot,
    options: RunOptions,
    notify: Notify,
) -> dict[str, Any]:
    """``document`` if the code and environment match it, else its branch for them."""
    code_changed = document.get("code_identity") != snapshot.code_identity
    env_changed = document.get("environment_identity") != snapshot.environment_identity
    if not code_changed and not env_changed:
        return document
    for branch in _descendants(store, document):
        if (
            branch.get("code_identity") == snapshot.code_identity
            and branch.get("environment_identity") == snapshot.environment_identity
        ):
            notify(
                f"code or environment differ from trial {short_id(document['_id'])}; "
                f"resuming its branch {short_id(branch['_id'])} made for them"
            )
            return branch

    changes = []
    if code_changed:
        changes.append(
            "code changed: " + describe_code_change(document.get("version") or {}, snapshot.code)
        )
    if env_changed:
        changes.append(
            "environment changed: "
            + describe_environment_change(document.get("environment") or {}, snapshot.environment)
        )
    refused = [
        flag
        for changed, allowed, flag in (
            (code_changed, options.allow_code_change, "--allow-code-change"),
            (env_changed, options.allow_env_change, "--allow-env-change"),
        )
        if changed and not allowed
    ]
    label = short_id(document["_id"])
    if refused:
        raise ChangeRefused(
            f"trial {label} was recorded with other code or environment ({'; '.join(changes)});"
            f" add {' and '.join(refused)} (or --allow-any-change) to branch it and run the"
            " branch, or restore the original to resume it"
        )
    refers = {
        "parent": document["_id"],
        "time": document.get("updated") or document.get("created"),
        "reason": "change",
        "code": snapshot.code_identity,
        "environment": snapshot.environment_identity,
    }
    spec = TrialSpec(
        document["project"],
        tuple(document["commandline"]),
        document.get("configuration") or {},
        refers,
    )
    branch, created = _create(store, spec, snapshot, list(document.get("tags") or []))
    if created:
        notify(f"{'; '.join(changes)}")
        notify(f"branched trial {label} into trial {short_id(branch['_id'])} ({branch['_id']})")
    return branch


# -- running it ------------------------------------------------------------------------


def _final_status(outcome: Outcome) -> str:
    if outcome.start_error is None and outcome.forwarded is None and outcome.returncode == 0:
        return st.COMPLETED
    if outcome.forwarded is not None or outcome.returncode in _INTERRUPTED_CODES:
        return st.INTERRUPTED
    return st.BROKEN


def _add_tags(store: Store, document: dict[str, Any], tags: list[str]) -> None:
    merged = list(dict.fromkeys([*(document.get("tags") or []), *tags]))
    if merged != (document.get("tags") or []):
        store.update_trial(document["_id"], {"tags": merged})
        document["tags"] = merged


@dataclass
class Runner:
    """What every way of running a trial shares: the store, the settings, the user's
    environment, how to tell the user, and the run options."""

    store: Store
    settings: Settings
    environ: dict[str, str]
    notify: Notify
    options: RunOptions = field(default_factory=RunOptions)

    def snapshot(self, argv: list[str], cwd: str, project: str | None) -> Snapshot:
        return take_snapshot(argv, cwd, self.environ, self.settings, project)

    # -- the commands ------------------------------------------------------------------
    def run_command(self, argv: list[str], cwd: str) -> int:
        """``kleio [run] COMMAND``."""
        snapshot = self.snapshot(argv, cwd, self.options.project)
        return self.run(find_or_create_trial(self.store, snapshot, self.options, self.notify))

    def save_command(self, argv: list[str], cwd: str) -> dict[str, Any]:
        """``kleio save COMMAND``: register the trial without running it."""
        snapshot = self.snapshot(argv, cwd, self.options.project)
        document = find_or_create_trial(self.store, snapshot, self.options, self.notify)
        _add_tags(self.store, document, self.options.tags)
        return document

    def resume(self, document: dict[str, Any]) -> int:
        """``kleio run ID``: the recorded command, in its recorded folder."""
        return self.run(self.checked(document))

    def checked(self, document: dict[str, Any]) -> dict[str, Any]:
        """The trial (or its branch) to run for a recorded trial, given today's code."""
        label = short_id(document["_id"])
        cwd = document.get("cwd") or os.getcwd()
        if not os.path.isdir(cwd):
            raise KleioError(f"trial {label} ran in {cwd}, which no longer exists")
        snapshot = self.snapshot(list(document["commandline"]), cwd, document.get("project"))
        if snapshot.configuration != (document.get("configuration") or {}):
            raise KleioError(
                f"the configuration files of trial {label} changed since it was recorded;"
                " run the command itself to make a trial of the new configuration"
            )
        return matching_trial(self.store, document, snapshot, self.options, self.notify)

    def run_tagged(self, tag: str) -> int:
        """``kleio run --tags T``: run reservable trials tagged T, oldest first, until none
        is left. Returns 0 if every trial it ran completed."""
        skipped: set[str] = set()
        ran = failed = 0
        reservable = {st.NEW, st.INTERRUPTED, st.LOST}
        while True:
            candidates = sorted(
                (
                    document
                    for document in self.store.find_trials(
                        tags=[tag], status=[st.NEW, st.INTERRUPTED, st.RESERVED, st.RUNNING]
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
        self.notify(
            f"no trial tagged {tag!r} left to run; this worker ran {ran}"
            + (f", {failed} of them failed" if failed else "")
        )
        return 1 if failed else 0

    # -- running one trial -------------------------------------------------------------
    def run(self, document: dict[str, Any], completed_is_done: bool = True) -> int:
        """Reserve the trial, run it, record its end; returns ``kleio``'s exit status.

        A completed trial is reported and counts as success; a worker passes
        ``completed_is_done=False`` to get TrialNotReservable instead: another worker ran
        it, not this one.
        """
        store, trial_id, worker = self.store, document["_id"], st.Worker()
        try:
            document = st.reserve_trial(
                store,
                trial_id,
                worker,
                lease=self.settings.lease,
                allow_broken=self.options.switch_over,
            )
        except TrialNotReservable as refusal:
            if refusal.status == st.COMPLETED and completed_is_done:
                self.notify(f"{refusal}: nothing to run (see `kleio info {short_id(trial_id)}`)")
                return 0
            raise
        self.notify(f"trial reserved with id: {trial_id}", plain=True)
        try:
            return self._execute(document, worker)
        except BaseException:
            # Interrupted before or while starting: leave the trial resumable, not held.
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

    def _execute(self, document: dict[str, Any], worker: st.Worker) -> int:
        store, settings, notify = self.store, self.settings, self.notify
        trial_id, label = document["_id"], short_id(document["_id"])
        _add_tags(store, document, self.options.tags)
        number = int(document.get("executions") or 0) + 1
        writer = EventWriter()
        # The recorders already batch output (16 KB, or 0.2 s): write each as it comes,
        # so `kleio tail -f` lags by a fraction of a second.
        sink = EventSink(lambda: store, spool_folder(settings.home), name="output", wake_at=1)
        started = clock.now()
        # nvidia-smi can take a while on a GPU node: the script need not wait for it.
        host = _in_background(host_snapshot, self.environ)
        child_environment = {
            **self.environ,
            **settings.environment(),
            "KLEIO_TRIAL_ID": trial_id,
            "KLEIO_EXECUTION": str(number),
        }
        if not self.options.capture and sys.stdout.isatty():
            # The script writes to a pipe, so Python would buffer its output by blocks:
            # a user watching a terminal expects each line as it comes, as without Kleio.
            child_environment.setdefault("PYTHONUNBUFFERED", "1")
        st.change_status(
            store,
            trial_id,
            worker,
            st.RUNNING,
            previous=st.RESERVED,
            executions=number,
            started=started,
        )

        def record_start(pid: int | None) -> None:
            event = writer.event(
                trial_id,
                "execution",
                {
                    "phase": "start",
                    "number": number,
                    "host": host.result(),
                    "pid": pid,
                    "cwd": document["cwd"],
                    "commandline": document["commandline"],
                    "kleio_pid": os.getpid(),
                    "start": started,
                },
            )
            # Written at once, not queued: a kleio killed a moment later still leaves
            # the record of where and when its execution ran.
            try:
                store.append_events([event])
            except StoreError:
                sink.put(event)

        outcome = launch(
            list(document["commandline"]),
            cwd=document["cwd"],
            environ=child_environment,
            sink=sink,
            writer=writer,
            trial_id=trial_id,
            capture=self.options.capture,
            heartbeat=settings.heartbeat,
            beat=lambda: st.beat(store, trial_id, worker),
            on_start=record_start,
        )
        if outcome.pid is None:  # the command could not start: still record the attempt
            record_start(None)
        final = _final_status(outcome)
        duration = outcome.ended - outcome.started
        sink.put(
            writer.event(
                trial_id,
                "execution",
                {
                    "phase": "end",
                    "number": number,
                    "pid": outcome.pid,
                    "end": outcome.ended,
                    "duration": duration,
                    "exit_code": outcome.returncode,
                    "signal": outcome.forwarded,
                    "status": final,
                    "error": outcome.start_error,
                },
            )
        )
        sink.close(timeout=30)
        if outcome.start_error:
            notify(outcome.start_error)
        self._replay_spools(trial_id)
        if outcome.lease_lost:
            raise KleioError(
                f"trial {label} was taken over by another process "
                "(heartbeat refused): this execution was stopped"
            )
        try:
            retrying(
                lambda: st.change_status(
                    store,
                    trial_id,
                    worker,
                    final,
                    previous=st.RUNNING,
                    exit_code=outcome.returncode,
                    run_time=float(document.get("run_time") or 0.0) + duration,
                    ended=outcome.ended,
                ),
                patience=min(settings.lease, 30.0),
            )
        except StoreError as error:
            notify(
                f"could not record the end of trial {label} ({error}); "
                "it will show as lost and can be resumed"
            )
        if final == st.BROKEN and outcome.start_error is None:
            notify(f"trial {label} is broken (exit code {outcome.returncode})")
        elif final == st.INTERRUPTED:
            notify(f"trial {label} interrupted; run the same command to resume it")
        return exit_status(outcome.returncode)

    def _replay_spools(self, trial_id: str) -> None:
        """Upload what the script or the launcher kept on disk while the store was down."""
        folder = spool_folder(self.settings.home)
        pending = pending_spools(folder, trial_id)
        if not pending:
            return
        try:
            events, artifacts = replay_trial_spools(self.store, folder, trial_id)
        except StoreError as error:
            self.notify(
                f"the database did not answer ({error}): {len(pending)} spool files "
                f"of trial {short_id(trial_id)} wait in {folder}; `kleio sync` "
                "uploads them"
            )
            return
        self.notify(
            f"uploaded {events} events and {artifacts} artifacts of trial "
            f"{short_id(trial_id)} kept on disk while the database did not answer"
        )
