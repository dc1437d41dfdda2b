"""What a command is and what it would run with, now: the snapshot of a run.

A snapshot holds the command, its configuration and project, and one part per identity
component (:data:`COMPONENTS`): the code version and the software environment. A trial
records each part once, with its identity; a later run whose identity of a part differs
ran with something else, and is refused or branched (:mod:`kleio.core.running.matching`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Collection
from functools import cached_property
from pathlib import Path
from typing import Any

from kleio.core.capture.code import INLINE_DIFF, code_identity, code_snapshot, describe_code_change
from kleio.core.capture.environment import (
    describe_environment_change,
    environment_identity,
    environment_snapshot,
)
from kleio.core.capture.redact import MaskedCommand, MaskedWords, mask_command, mask_words
from kleio.core.capture.written import own_outputs
from kleio.core.model.commandline import (
    Command,
    configuration_of,
    existing_config_files,
    split_command,
)
from kleio.core.model.settings import Settings
from kleio.core.model.trial import TrialDocument, TrialSpec
from kleio.store.base import Store
from kleio.value import Value


def _take_code(
    command: Command, cwd: str, environ: dict[str, str], settings: Settings
) -> dict[str, Any]:
    return code_snapshot(cwd, command.program)


def _take_environment(
    command: Command, cwd: str, environ: dict[str, str], settings: Settings
) -> dict[str, Any]:
    return environment_snapshot(command, environ, cwd, Path(settings.home) / "cache")


def _stored_code(store: Store, trial_id: str, code: dict[str, Any]) -> dict[str, Any]:
    """The code snapshot as stored: a large diff goes to a blob."""
    version = dict(code)
    diff = version.get("diff")
    if diff and len(diff) > INLINE_DIFF:
        blob = store.put_blob(
            diff.encode("utf-8", "surrogateescape"), {"trial": trial_id, "kind": "diff"}
        )
        version["diff"], version["diff_blob"] = None, blob.id
    return version


def _stored_as_is(store: Store, trial_id: str, part: dict[str, Any]) -> dict[str, Any]:
    return part


class Component(Value):
    """One part of what a trial runs with, recorded once per trial.

    ``take`` reads it now; ``identity`` says whether two runs had the same; ``describe``
    tells a user what changed between two; ``field`` is where the trial document keeps
    it (its identity is ``<name>_identity``); ``flag`` names the option allowing a
    change (``--allow-<flag>-change``); ``stored`` turns it into what is stored.
    """

    FIELDS = ("name", "field", "flag", "take", "identity", "describe", "stored")

    def __init__(
        self,
        name: str,
        field: str,
        flag: str,
        take: Callable[[Command, str, dict[str, str], Settings], dict[str, Any]],
        identity: Callable[[dict[str, Any]], str],
        describe: Callable[[dict[str, Any], dict[str, Any]], str],
        stored: Callable[[Store, str, dict[str, Any]], dict[str, Any]] = _stored_as_is,
    ):
        self.name, self.field, self.flag = name, field, flag
        self.take, self.identity, self.describe, self.stored = take, identity, describe, stored

    @property
    def identity_field(self) -> str:
        return f"{self.name}_identity"

    @property
    def option(self) -> str:
        return f"--allow-{self.flag}-change"


#: The identity components, one row each: a new component is a new row.
COMPONENTS = (
    Component(
        "code", "version", "code", _take_code, code_identity, describe_code_change, _stored_code
    ),
    Component(
        "environment",
        "environment",
        "env",
        _take_environment,
        environment_identity,
        describe_environment_change,
    ),
)


class Snapshot(Value):
    """What a command is, and the code and environment it would run with, now."""

    FIELDS = (
        "command",
        "cwd",
        "parts",
        "project",
        "unread",
        "working_root",
        "former_project",
        "given",
    )

    def __init__(
        self,
        command: Command,
        cwd: str,
        parts: dict[str, dict[str, Any]],
        project: str,
        unread: frozenset[str] = frozenset(),
        working_root: str | None = None,
        former_project: str | None = None,
        given: dict[str, Any] | None = None,
    ):
        #: The command as given: what runs.
        self.command, self.cwd, self.project = command, cwd, project
        #: The project this command had before Kleio named projects after their
        #: repository (its folder's name), where that differs: its trials still resume.
        self.former_project = former_project
        #: Component name -> its snapshot.
        self.parts = parts
        #: Configuration files named by the command that are not read: the trial's own
        #: outputs (see :mod:`kleio.core.capture.written`).
        self.unread = unread
        #: Where a trial made from this snapshot gets its working folder (its id below
        #: it), see :mod:`kleio.core.running.templates`; None: none is recorded.
        self.working_root = working_root
        #: The configuration a process running its own trial gave (``kleio.start``), in
        #: place of the one read from the command line; None: read from it.
        self.given = given

    @cached_property
    def words(self) -> MaskedWords:
        """The command line as stored: secret values masked (:mod:`kleio.core.capture.redact`)."""
        return mask_words(self.command, self.cwd)

    @property
    def commandline(self) -> tuple[str, ...]:
        return self.words.argv

    @property
    def masked(self) -> tuple[str, ...]:
        return self.words.masked

    @cached_property
    def stored(self) -> MaskedCommand:
        """The command line and its configuration as stored, read when first asked for:
        a malformed file may be a trial's own output."""
        configuration = (
            configuration_of(self.command, self.cwd, self.unread)
            if self.given is None
            else self.given
        )
        return mask_command(self.command, configuration, self.project, self.cwd)

    @property
    def configuration(self) -> dict[str, Any]:
        """The configuration as stored: secret values masked."""
        return self.stored.configuration

    @property
    def inputs(self) -> list[str]:
        """The configuration files the configuration reads."""
        if self.given is not None:
            return []
        return [t for t in existing_config_files(self.command, self.cwd) if t not in self.unread]

    def unreading(self, unread: Collection[str]) -> Snapshot:
        """This snapshot with the files ``unread`` not read."""
        return self.replace(unread=frozenset(unread))

    def without_outputs_of(self, document: TrialDocument) -> Snapshot:
        """This snapshot not reading the files that hold what ``document``'s trial wrote."""
        own = own_outputs(document, existing_config_files(self.command, self.cwd), self.cwd)
        return self.unreading(own) if own else self

    @property
    def code(self) -> dict[str, Any]:
        return self.parts["code"]

    @property
    def environment(self) -> dict[str, Any]:
        return self.parts["environment"]

    def identity(self, component: Component) -> str:
        return component.identity(self.parts[component.name])

    @property
    def spec(self) -> TrialSpec:
        return TrialSpec(
            self.project, self.commandline, self.configuration, secrets=self.stored.fingerprint
        )

    def recorded(self, store: Store, trial_id: str) -> dict[str, Any]:
        """The fields of a trial document that record this snapshot's components."""
        fields: dict[str, Any] = {}
        for component in COMPONENTS:
            part = self.parts[component.name]
            fields[component.field] = component.stored(store, trial_id, part)
            fields[component.identity_field] = component.identity(part)
        if self.working_root:
            fields["working_dir"] = os.path.join(self.working_root, trial_id)
        return fields


def take_snapshot(
    argv: list[str],
    cwd: str,
    environ: dict[str, str],
    settings: Settings,
    project: str | None = None,
) -> Snapshot:
    return snapshot_of(split_command(argv), cwd, environ, settings, project)


def snapshot_of(
    command: Command,
    cwd: str,
    environ: dict[str, str],
    settings: Settings,
    project: str | None = None,
) -> Snapshot:
    """The snapshot of a command already split (:func:`take_snapshot`)."""
    # Git and the interpreter's probe wait on processes: they run side by side.
    pending = {
        component.name: Background(component.take, command, cwd, environ, settings)
        for component in COMPONENTS
    }
    parts = {name: future.result() for name, future in pending.items()}
    folder = os.path.basename(parts["code"].get("root") or os.path.abspath(cwd)) or "default"
    former = None
    if not project:
        project = environ.get("KLEIO_PROJECT") or parts["code"].get("repository") or folder
        # Kleio named a project after its folder alone, until a checkout or a clone in
        # another folder made another project: trials of that name still resume.
        former = folder if folder != project and not environ.get("KLEIO_PROJECT") else None
    return Snapshot(command, os.path.abspath(cwd), parts, project, former_project=former)


class Background(threading.Thread):
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
