"""Which trial a command is: the one it resumes, a branch for changed code or
environment, or a new one.

Resume rules: the same command with the same code and environment resumes its trial.
With changed code or environment (any identity component, see
:data:`kleio.core.capture.snapshot.COMPONENTS`), Kleio looks for a branch already made for
exactly this code and environment and resumes it; otherwise it refuses with a summary of
what changed, or, when the change is allowed, branches the trial (branch point: the end
of the parent) and runs the branch, so the original stays resumable with the original
code.

Messages for the user go through a ``notify`` callback; this module prints nothing.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Collection, Iterator
from typing import Any

from kleio.core.capture.snapshot import COMPONENTS, Snapshot
from kleio.core.capture.written import own_outputs
from kleio.core.model.commandline import ConfigFileError, config_files_of, existing_config_files
from kleio.core.model.errors import KleioError
from kleio.core.model.trial import TrialDocument, TrialSpec, new_trial_document, short_id
from kleio.store.base import DuplicateTrialError, Store

Notify = Callable[[str], None]


class ChangeRefused(KleioError):
    """The code or environment changed since the trial was recorded, and that is not allowed."""


def create_trial(
    store: Store,
    spec: TrialSpec,
    snapshot: Snapshot,
    tags: list[str],
    name: str | None = None,
    **fields: Any,
) -> tuple[TrialDocument, bool]:
    """Create the trial, or return the one a concurrent process just created; the bool
    says whether this call created it. A ``name`` another trial has is refused
    (:class:`~kleio.core.model.names.NameTaken`) before anything is created; a trial
    that exists is returned as it is (the caller names it)."""
    if name is not None:
        from kleio.core.model.names import FIELD, check_free, settle

        existing = store.get_trial(spec.id)
        if existing is not None:
            return existing, False
        check_free(store, name)
        fields[FIELD] = name
    document = new_trial_document(
        spec,
        tags=tags,
        cwd=snapshot.cwd,
        program=snapshot.command.program,
        inputs=snapshot.inputs,
        **snapshot.recorded(store, spec.id),
        executions=0,
        run_time=0.0,
        exit_code=None,
        **({"masked": list(snapshot.masked)} if snapshot.masked else {}),
        **fields,
    )
    try:
        store.create_trial(document)
    except DuplicateTrialError:
        existing = store.get_trial(spec.id)
        if existing is None:  # pragma: no cover - deleted in between
            raise
        return existing, False
    if name is not None:
        settle(store, document)  # another process gave the name at once: this one backs out
    return document, True


def _same_command(store: Store, snapshot: Snapshot) -> list[TrialDocument]:
    """The trials of this project recorded with this very command line."""
    argv = list(snapshot.commandline)
    return [
        document
        for document in store.find_trials(
            project=snapshot.project, limit=5000, fields=["commandline", "inputs", "outputs"]
        )
        if document.get("commandline") == argv
    ]


def _check_missing_config_files(snapshot: Snapshot, same_command: list[TrialDocument]) -> None:
    """A configuration file an earlier run of this command read, gone now, is an error:
    silently making a new trial without it would hide the mistake."""
    missing = [
        name
        for name in config_files_of(snapshot.command)
        if not os.path.exists(os.path.join(snapshot.cwd, name))
    ]
    if not missing:
        return
    for document in same_command:
        read = document.get("inputs")  # None: recorded before Kleio kept it
        for name in missing:
            if read is None or name in read:
                raise KleioError(
                    f"configuration file {name} does not exist, but trial "
                    f"{short_id(document['_id'])} of this command read it; restore the file "
                    f"or resume the trial with `kleio run {short_id(document['_id'])}`"
                )


def _written_by_this_command(snapshot: Snapshot, same_command: list[TrialDocument]) -> set[str]:
    """The named configuration files that hold exactly what a trial of this very command
    line last wrote there: outputs of the command, not inputs of a new trial of it."""
    present = existing_config_files(snapshot.command, snapshot.cwd)
    written: set[str] = set()
    for document in same_command:
        written |= own_outputs(document, [t for t in present if t not in written], snapshot.cwd)
    return written


#: Configuration files tried as a trial's own outputs: every subset of them is a lookup.
_MOST_OUTPUTS = 6


def _trial_of_its_outputs(
    store: Store, snapshot: Snapshot
) -> tuple[TrialDocument | None, Snapshot]:
    """The trial of this command whose own outputs some of the named configuration files
    are, byte for byte, and the snapshot that does not read them; (None, snapshot) if none.

    Those files are configuration by their name only in that trial's identity, so each
    subset of the existing files, largest first, is one lookup by id; the trial found
    must have written exactly their current content (see :mod:`kleio.core.capture.written`).
    """
    present = existing_config_files(snapshot.command, snapshot.cwd)[:_MOST_OUTPUTS]
    for size in range(len(present), 0, -1):
        for unread in itertools.combinations(present, size):
            candidate = snapshot.unreading(unread)
            try:
                spec = candidate.spec
            except ConfigFileError:  # a malformed input: the snapshot itself says so
                continue
            document = store.get_trial(spec.id)
            if document is not None and own_outputs(document, unread, snapshot.cwd) == set(unread):
                return document, candidate
    return None, snapshot


def reading_like(document: TrialDocument, snapshot: Snapshot) -> Snapshot | None:
    """``snapshot`` reading the named files as ``document``'s trial did, if it can: its
    own outputs not read, or (a trial that rewrote an input in place) read. None when
    neither gives the trial's configuration: its configuration files changed."""
    expected = document.get("configuration") or {}
    unread = snapshot.without_outputs_of(document)
    for candidate in (unread, snapshot) if unread is not snapshot else (snapshot,):
        try:
            if candidate.configuration == expected:
                return candidate
        except ConfigFileError:
            continue
    return None


def find_or_create_trial(
    store: Store,
    snapshot: Snapshot,
    tags: list[str],
    allowed: Collection[str],
    notify: Notify,
    name: str | None = None,
    study: str | None = None,
) -> TrialDocument:
    """The trial this command resumes, a branch for changed code or environment, or a
    new trial (with ``tags``, ``name`` and ``study``). ``allowed`` names the components that may
    change: a branch is made for them.

    Named files that hold a trial's own outputs are not read (see
    :mod:`kleio.core.capture.written`): the same command run again after its script wrote
    ``metrics.json`` is the same trial. In order: a trial whose own outputs they are;
    the trial of every file read; a new trial, which does not read the files a trial of
    the same command line wrote either (they are this command's outputs).
    """
    document, snapshot = _trial_of_its_outputs(store, snapshot)
    if document is None:
        try:
            if snapshot.former_project:  # both names in one read, today's first
                former = snapshot.replace(project=snapshot.former_project, former_project=None)
                found = store.get_trials([snapshot.spec.id, former.spec.id])
                document = found.get(snapshot.spec.id)
                if document is None and former.spec.id in found:
                    document, snapshot = found[former.spec.id], former
            else:
                document = store.get_trial(snapshot.spec.id)
        except ConfigFileError:  # unless another trial of the command wrote it
            document = None
    if document is None:
        named = config_files_of(snapshot.command)
        same_command = _same_command(store, snapshot) if named else []
        written = _written_by_this_command(snapshot, same_command)
        if written:
            snapshot = snapshot.unreading(written)
            document = store.get_trial(snapshot.spec.id)
        if document is None:
            _check_missing_config_files(snapshot, same_command)
            fields = {"study": study} if study is not None else {}
            document, _ = create_trial(store, snapshot.spec, snapshot, tags, name, **fields)
    return matching_trial(store, document, snapshot, allowed, notify, name)


def _descendants(store: Store, document: TrialDocument) -> Iterator[TrialDocument]:
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


def check_changes(
    document: TrialDocument, snapshot: Snapshot, allowed: Collection[str], remedy: str
) -> list[str]:
    """What changed (each identity component) since ``document`` was recorded, described
    for the user; :class:`ChangeRefused` when a change is not ``allowed``, its message
    ending with ``remedy`` (what else the user can do)."""
    changed = [c for c in COMPONENTS if document.get(c.identity_field) != snapshot.identity(c)]
    changes = [
        f"{component.name} changed: "
        + component.describe(document.get(component.field) or {}, snapshot.parts[component.name])
        for component in changed
    ]
    refused = [component.option for component in changed if component.name not in allowed]
    if refused:
        raise ChangeRefused(
            f"trial {short_id(document['_id'])} was recorded with other code or environment "
            f"({'; '.join(changes)}); add {' and '.join(refused)} (or --allow-any-change) "
            f"{remedy}"
        )
    return changes


def matching_trial(
    store: Store,
    document: TrialDocument,
    snapshot: Snapshot,
    allowed: Collection[str],
    notify: Notify,
    name: str | None = None,
) -> TrialDocument:
    """``document`` if the code and environment match it, else its branch for them (a
    new branch gets ``name``)."""
    identities = {component.name: snapshot.identity(component) for component in COMPONENTS}
    if all(document.get(c.identity_field) == identities[c.name] for c in COMPONENTS):
        return document
    for branch in _descendants(store, document):
        if all(branch.get(c.identity_field) == identities[c.name] for c in COMPONENTS):
            notify(
                f"code or environment differ from trial {short_id(document['_id'])}; "
                f"resuming its branch {short_id(branch['_id'])} made for them"
            )
            return branch
    changes = check_changes(
        document,
        snapshot,
        allowed,
        "to branch it and run the branch, or restore the original to resume it",
    )
    label = short_id(document["_id"])
    refers = {
        "parent": document["_id"],
        "time": document.get("updated") or document.get("created"),
        "reason": "change",
        **{component.name: identities[component.name] for component in COMPONENTS},
    }
    spec = TrialSpec(
        document["project"],
        tuple(document["commandline"]),
        document.get("configuration") or {},
        refers,
    )
    # A branch made for changed code stays in its trial's study: the study's workers run it.
    fields = {"study": document["study"]} if document.get("study") is not None else {}
    branch, created = create_trial(
        store, spec, snapshot, list(document.get("tags") or []), name, **fields
    )
    if created:
        notify(f"{'; '.join(changes)}")
        notify(f"branched trial {label} into trial {short_id(branch['_id'])} ({branch['_id']})")
    return branch
