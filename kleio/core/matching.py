"""Which trial a command is: the one it resumes, a branch for changed code or
environment, or a new one.

Resume rules: the same command with the same code and environment resumes its trial.
With changed code or environment (any identity component, see
:data:`kleio.core.snapshot.COMPONENTS`), Kleio looks for a branch already made for
exactly this code and environment and resumes it; otherwise it refuses with a summary of
what changed, or, when the change is allowed, branches the trial (branch point: the end
of the parent) and runs the branch, so the original stays resumable with the original
code.

Messages for the user go through a ``notify`` callback; this module prints nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator
from typing import Any

from kleio.core.commandline import config_files_of
from kleio.core.errors import KleioError
from kleio.core.snapshot import COMPONENTS, Snapshot
from kleio.core.trial import TrialDocument, TrialSpec, new_trial_document, short_id
from kleio.store.base import DuplicateTrialError, Store

Notify = Callable[[str], None]


class ChangeRefused(KleioError):
    """The code or environment changed since the trial was recorded, and that is not allowed."""


def create_trial(
    store: Store, spec: TrialSpec, snapshot: Snapshot, tags: list[str], **fields: Any
) -> tuple[TrialDocument, bool]:
    """Create the trial, or return the one a concurrent process just created; the bool
    says whether this call created it."""
    document = new_trial_document(
        spec,
        tags=tags,
        cwd=snapshot.cwd,
        program=snapshot.command.program,
        **snapshot.recorded(store, spec.id),
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
    store: Store,
    snapshot: Snapshot,
    tags: list[str],
    allowed: Collection[str],
    notify: Notify,
) -> TrialDocument:
    """The trial this command resumes, a branch for changed code or environment, or a
    new trial (with ``tags``). ``allowed`` names the components that may change: a
    branch is made for them."""
    spec = snapshot.spec
    document = store.get_trial(spec.id)
    if document is None:
        _check_missing_config_files(store, snapshot)
        document, _ = create_trial(store, spec, snapshot, tags)
    return matching_trial(store, document, snapshot, allowed, notify)


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
) -> TrialDocument:
    """``document`` if the code and environment match it, else its branch for them."""
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
    branch, created = create_trial(store, spec, snapshot, list(document.get("tags") or []))
    if created:
        notify(f"{'; '.join(changes)}")
        notify(f"branched trial {label} into trial {short_id(branch['_id'])} ({branch['_id']})")
    return branch
