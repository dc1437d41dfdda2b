"""A trial's identity: what makes two executions the same experiment.

A trial is identified by the hash of its immutable spec: the project, the command line
(the argv list: order matters), the configuration parsed from it (a mapping: key order
does not matter) and ``refers`` (the parent and branch point of a branch; empty for a
root). Everything else about a trial (status, code version, executions) may change or
be recorded later and does not change its id.
"""

# No `from __future__ import annotations` here, unlike elsewhere: it makes every annotation
# text, and typing compiles the text of each field of the typed dictionaries below as it
# makes them (0.4 ms of every command's start, a run's included). A name not defined yet
# is quoted.
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from kleio.core.model import clock
from kleio.core.model.errors import AmbiguousTrial, DamagedTrial, UnknownTrial
from kleio.store.base import Store
from kleio.value import Value

#: Hex characters in a trial id (128 bits of a sha256).
ID_LENGTH = 32
#: Hex characters of the short id printed in tables.
SHORT_LENGTH = 7
#: What starts the id the events of a study's log belong to (the sampler's journal of an
#: adaptive study, ``kleio.integrations.optuna``), before the study's name: a colon is
#: no hex digit, so no trial has such an id, and no document is ever made for one.
STUDY_LOG = "study:"
#: The field of a trial being deleted or imported (``"deleting"``, ``"importing"``): it
#: is listed nowhere until that finishes.
INCOMPLETE = "incomplete"


class Refers(TypedDict, total=False):
    """Where a branch comes from; empty for a root trial. Part of the trial's identity."""

    parent: str
    #: The branch point: the parent's events up to this time are the branch's past.
    time: float
    #: ``branch`` (``kleio branch``) or ``change`` (code or environment changed).
    reason: str
    #: The ``--timestamp`` given to ``kleio branch``, if any.
    timestamp: str | None
    #: For a ``change`` branch, the identity of each component it was made for.
    code: str
    environment: str


class WorkerDocument(TypedDict):
    """Who holds a reserved or running trial (see :class:`kleio.core.model.status.Worker`)."""

    host: str
    pid: int
    token: str
    since: float


class TrialDocument(TypedDict, total=False):
    """The fields of a trial document, in one place (a plain dict at run time).

    The spec (``project``, ``commandline``, ``configuration``, ``refers``) never changes
    and gives ``_id``; the rest is recorded when the trial is made or as it runs.
    """

    _id: str
    project: str
    commandline: list[str]
    configuration: dict[str, Any]
    refers: Refers
    #: What was masked in the command line (option names, words): the values Kleio
    #: cannot replay (:mod:`kleio.core.capture.redact`).
    masked: list[str]
    tags: list[str]
    status: str
    created: float
    updated: float
    #: Last sign of life of the holder; with the lease, it makes an active trial lost.
    heartbeat: float | None
    worker: WorkerDocument | None
    #: A broken trial allowed to run once more (``kleio switchover``).
    switchover: bool
    cwd: str
    #: The trial's own folder (:mod:`kleio.core.running.templates`).
    working_dir: str
    program: str | None
    #: The configuration files named on the command line that the configuration read.
    inputs: list[str]
    #: What the script's argument parser resolved, defaults included
    #: (:mod:`kleio.core.capture.resolved`).
    resolved: dict[str, Any]
    #: Files named on the command line the trial wrote (:mod:`kleio.core.capture.written`).
    outputs: list[dict[str, Any]]
    #: The code snapshot (:mod:`kleio.core.capture.code`); a large diff is a blob (``diff_blob``).
    version: dict[str, Any]
    environment: dict[str, Any]
    code_identity: str
    environment_identity: str
    #: How many executions started, their total run time, and how the last one ended.
    executions: int
    run_time: float
    exit_code: int | None
    started: float
    ended: float
    #: The batch job (SLURM, PBS...) of the latest execution, if any
    #: (:func:`kleio.core.capture.host.scheduler_job`).
    job: dict[str, Any] | None
    #: ``deleting`` or ``importing`` while that is under way (see :data:`INCOMPLETE`).
    incomplete: str
    #: The trial's human name, unique in the journal, not part of its identity
    #: (:mod:`kleio.core.model.names`).
    name: str


def canonical_json(value: Any) -> str:
    """One text per value: keys sorted, no spaces, non-ASCII kept, NaN allowed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class TrialSpec(Value):
    """What a trial is; its hash is the trial id.

    The command line and configuration are as stored: secret values masked. ``secrets``
    is a hash of the masked secrets' real values (:func:`kleio.core.capture.redact.fingerprint`),
    never stored: the same values give the same id. Empty without secrets.
    """

    FIELDS = ("project", "commandline", "configuration", "refers", "secrets")

    def __init__(
        self,
        project: str,
        commandline: Sequence[str],
        configuration: Mapping[str, Any] | None = None,
        refers: Mapping[str, Any] | None = None,
        secrets: str = "",
    ):
        self.project, self.commandline = project, tuple(commandline)
        self.configuration = {} if configuration is None else configuration
        self.refers = {} if refers is None else refers
        self.secrets = secrets

    @property
    def id(self) -> str:
        spec = {
            "project": self.project,
            "commandline": list(self.commandline),
            "configuration": self.configuration,
            "refers": self.refers,
        }
        if self.secrets:
            spec["secrets"] = self.secrets
        return hashlib.sha256(canonical_json(spec).encode("utf-8")).hexdigest()[:ID_LENGTH]

    @classmethod
    def of(cls, document: TrialDocument) -> "TrialSpec":
        """The spec a stored trial document was made from (but for the hash of masked
        secrets, which only the real values give back)."""
        return cls(
            project=document["project"],
            commandline=tuple(document["commandline"]),
            configuration=document.get("configuration") or {},
            refers=document.get("refers") or {},
        )


def study_log_id(study: str) -> str:
    """The id the events of ``study``'s log belong to (see :data:`STUDY_LOG`)."""
    return STUDY_LOG + study


def is_study_log(trial_id: str) -> bool:
    """Whether events of ``trial_id`` are a study's log, which no trial document owns:
    ``kleio gc`` keeps them as it keeps the events of trials that exist."""
    return trial_id.startswith(STUDY_LOG)


def short_id(trial_id: str) -> str:
    return trial_id[:SHORT_LENGTH]


def new_trial_document(
    spec: TrialSpec, *, status: str = "new", tags: Sequence[str] = (), **fields: Any
) -> TrialDocument:
    """The document of a new trial; ``fields`` add recorded facts (cwd, version...)."""
    now = clock.now()
    return {  # type: ignore[typeddict-item]  # fields complete it
        "_id": spec.id,
        "project": spec.project,
        "commandline": list(spec.commandline),
        "configuration": dict(spec.configuration),
        "refers": dict(spec.refers),
        "tags": list(dict.fromkeys(tags)),
        "status": status,
        "created": now,
        "updated": now,
        "heartbeat": None,
        "worker": None,
        **fields,
    }


def split_tags(text: str | None) -> list[str]:
    """``"a;b"`` or ``"a,b"`` -> ``["a", "b"]``: tags as ``--tags`` and the dashboard's
    filter write them. Here, beside the documents that hold them, since a run reads
    ``--tags`` too and never loads the readers (:mod:`kleio.core.reading.selection`)."""
    if not text:
        return []
    return [tag.strip() for tag in re.split(r"[;,]", text) if tag.strip()]


#: An id or a prefix of one (re compiles it on first use: a run resolves no prefix).
_HEX = r"[0-9a-f]+"
#: What a reader says of a journal that holds no trial yet, and how to make one.
NO_TRIALS = "no trials yet: run `kleio python train.py` to make one"


def has_trials(store: Store) -> bool:
    """Whether the journal holds a trial: one row of a listing read."""
    return bool(store.find_trials(limit=1, fields=["status"]))


def resolve_trial(store: Store, id_or_prefix: str, damaged: bool = False) -> TrialDocument:
    """The one trial whose id is or starts with ``id_or_prefix``, or whose name it is.

    A document that does not hold (:func:`kleio.core.model.schema.reading_problem`: a
    buggy or hostile writer wrote it) raises :class:`DamagedTrial`, naming the trial and
    the problem, unless ``damaged`` (``kleio rm`` deletes it): then it comes back as
    :func:`readable_document` makes it.

    A word of hexadecimal digits is an id or an id prefix; any other word is a name
    (names always hold another character: :mod:`kleio.core.model.names`), so the two
    never compete. Raises :class:`UnknownTrial` when none matches and
    :class:`AmbiguousTrial`, listing the candidates, when several do.
    """
    return _believed(_resolved(store, id_or_prefix), damaged)


def _believed(document: TrialDocument, damaged: bool) -> TrialDocument:
    from kleio.core.model.schema import reading_problem

    problem = reading_problem(document)
    if problem is None:
        return document
    if damaged:
        return readable_document(document)
    trial = short_id(str(document["_id"]))
    raise DamagedTrial(
        f"trial {trial} cannot be read: {problem} (no Kleio writes that: another program "
        f"changed its document); `kleio rm {trial}` deletes it"
    )


#: A trial id, to check a field of a document alone.
_ANY_ID = "0" * ID_LENGTH


class ReadableDocument(dict):
    """A damaged trial document without the fields that do not hold: what ``kleio rm``
    shows and deletes. ``raw`` is the document as stored (a compare-and-set expects
    its values), ``problem`` what is wrong with it."""

    raw: TrialDocument
    problem: str


def readable_document(document: TrialDocument) -> ReadableDocument:
    """``document`` without its top-level fields that the schema refuses; its ``_id``, as
    text (what found it: SQLite keys a document by the text of its id)."""
    from kleio.core.model.schema import reading_problem

    readable = ReadableDocument(document, _id=str(document["_id"]))
    readable.raw, readable.problem = document, reading_problem(document) or ""
    for name in list(readable):
        if name != "_id" and reading_problem({"_id": _ANY_ID, name: readable[name]}):
            del readable[name]
    return readable


def _resolved(store: Store, id_or_prefix: str) -> TrialDocument:
    text = id_or_prefix.strip().lower()
    if not re.fullmatch(_HEX, text) or len(text) > ID_LENGTH:
        from kleio.core.model.names import could_be_name, named_trial

        named = named_trial(store, id_or_prefix.strip())
        if named is not None:
            return named
        if could_be_name(id_or_prefix.strip()):
            raise UnknownTrial(
                f"no trial is named {id_or_prefix.strip()!r}, and it is not a trial id "
                f"(ids are hexadecimal; {'see `kleio ls`' if has_trials(store) else NO_TRIALS})"
            )
        raise UnknownTrial(
            f"{id_or_prefix!r} is not a trial id (ids are hexadecimal) nor a trial's name"
        )
    if len(text) == ID_LENGTH:
        document = store.get_trial(text)
        if document is not None:
            return document
    matches = store.find_trials(id_prefix=text, limit=51)
    if not matches:
        raise UnknownTrial(
            f"no trial with id {text} ({'see `kleio ls`' if has_trials(store) else NO_TRIALS})"
        )
    if len(matches) == 1:
        return matches[0]
    width = max(SHORT_LENGTH + 5, len(text) + 4)
    raise AmbiguousTrial(
        text,
        [
            f"{document['_id'][:width]} ({' '.join(document.get('commandline') or [])})"
            for document in matches
        ],
    )
