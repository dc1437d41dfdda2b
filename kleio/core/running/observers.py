"""What Kleio observes while a script runs, besides its output: the configuration the
script's parser resolved (:mod:`kleio.core.capture.hook`,
:mod:`kleio.core.capture.resolved`) and the resources its processes use
(:mod:`kleio.core.capture.usage`).

The launcher knows nothing of them: an execution asks its :class:`Observers` for the
variables and descriptors the script gets, tells them when it started, and stops them
when it ended.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kleio.core.capture.hook import HookChannel, buffering_wanted, hook_wanted
from kleio.core.capture.resolved import FIELD, Resolution
from kleio.core.capture.usage import KIND, UsageSampler
from kleio.core.model.commandline import DocumentTooLarge
from kleio.core.model.journal import EventWriter
from kleio.core.model.trial import short_id
from kleio.core.running.sink import EventSink
from kleio.store.base import Event, Store, StoreError

Notify = Callable[[str], None]


class Observers:
    """The hook's channel and the resource sampler of one execution (either may be off)."""

    def __init__(
        self,
        *,
        store: Store,
        sink: EventSink,
        writer: EventWriter,
        trial_id: str,
        execution: int,
        argv: list[str],
        environ: dict[str, str],
        hook: bool,
        interval: float,
        notify: Notify,
    ):
        self._store, self._trial, self._notify = store, trial_id, notify
        self._writer = writer
        self._resolution = Resolution(execution)
        self.hook = HookChannel(self._resolved) if hook_wanted(argv, environ, hook) else None
        self._buffered = buffering_wanted(argv, environ)
        self.sampler = (
            UsageSampler(
                interval,
                lambda data: sink.put(writer.event(trial_id, KIND, data)),
                execution,
                environ,
            )
            if interval > 0
            else None
        )

    @property
    def fds(self) -> tuple[int, ...]:
        return self.hook.fds if self.hook else ()

    def environment(self, environ: dict[str, str]) -> dict[str, str]:
        """``environ`` with what the hook needs added."""
        if not self.hook:
            return environ
        return {**environ, **self.hook.environment(environ, buffered=self._buffered)}

    def started(self, pid: int) -> None:
        if self.hook:
            self.hook.started()
        if self.sampler:
            self.sampler.start(pid)

    def stop(self) -> None:
        if self.sampler:
            self.sampler.stop()
        if self.hook:
            self.hook.close()

    def ended(self, used: tuple[float, int] | None, duration: float) -> list[Event]:
        """The script ended having used ``used`` (CPU seconds, peak bytes): the events to
        journal with the execution's end, in its append: a sample of what it used if the
        sampler took none."""
        if not self.sampler or used is None:
            return []
        sample = self.sampler.at_end(*used, duration)
        return [] if sample is None else [self._writer.event(self._trial, KIND, sample)]

    def _resolved(self, record: dict[str, Any]) -> None:
        """A report of the hook: the trial's resolved configuration, updated."""
        if "too_large" in record:
            self._notify(
                f"the configuration the script resolved takes {record['too_large']:,} bytes:"
                f" not recorded (trial {short_id(self._trial)})"
            )
            return
        try:
            field = self._resolution.add(record)
        except DocumentTooLarge as error:
            self._notify(
                f"the configuration the script resolved {error}: not recorded"
                f" (trial {short_id(self._trial)})"
            )
            return
        if field is None:
            return
        try:
            self._store.update_trial(self._trial, {FIELD: field})
        except StoreError as error:
            self._notify(f"could not record the configuration the script resolved: {error}")
