"""What a trial document, a journal event and a blob's metadata may hold: one schema,
checked wherever Kleio reads what another program wrote.

The fields of a trial document and their types are what
:class:`~kleio.core.model.trial.TrialDocument` declares: its annotations are the schema,
read here, so a field added there is checked here. The same checks serve ``kleio
import`` (an archive is believed only once every document, event and blob in it holds)
and the readers (a journal a buggy or hostile writer touched: a document that does not
hold is skipped with a warning, not a traceback).

Limits, for anything read from outside (documented in docs/store.rst):
- JSON values nest :data:`MAX_DEPTH` levels deep at most (orjson refuses 255, and every
  reader walks them recursively);
- a time is a finite number; an id, a key and a kind have the shapes Kleio writes;
- a field declared true or false may hold 0 or 1 (what some MongoDB-compatible servers
  store for a boolean an update sets): it reads the same.
"""

from __future__ import annotations

import functools
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypedDict

from kleio.core.model.unreadable import skip_unreadable

#: Levels a JSON value may nest at most.
MAX_DEPTH = 64
#: The fields every trial document holds.
REQUIRED = ("_id", "project", "commandline", "configuration", "status", "created")
#: Hex characters of a trial id and of a blob id.
_ID = re.compile(r"[0-9a-f]{32}")
#: An event key: the time in microseconds, the writer, its counter (``event_key``).
_KEY = re.compile(r"[0-9]{17}\.[0-9a-z]{1,64}\.[0-9]{12}")
#: An event kind, a blob kind: a short name.
_KIND = re.compile(r"[a-z][a-z0-9_]{0,63}")


def depth_problem(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """Why ``value`` nests too deep, or None (iterative: a deep value cannot overflow)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return f"values nest deeper than {limit} levels"
        stack.extend((child, depth + 1) for child in children)
    return None


def _name(hint: Any) -> str:
    if hint is Any:
        return "any value"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_name(arg) for arg in typing.get_args(hint))
    if origin is list:
        return "a list"
    if origin is dict or typing.is_typeddict(hint):
        return "an object"
    return {str: "text", int: "an integer", float: "a number", bool: "true or false"}.get(
        hint, "null" if hint is type(None) else str(hint)
    )


def _shape_problem(value: Any, hint: Any, where: str) -> str | None:
    """Why ``value`` is not of the type ``hint`` says (as TypedDict annotations write
    them), or None."""
    if hint is Any:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            if _shape_problem(value, option, where) is None:
                return None
        return f"{where} is {_kind_of(value)}, not {_name(hint)}"
    if typing.is_typeddict(hint):
        if not isinstance(value, dict):
            return f"{where} is {_kind_of(value)}, not an object"
        return _fields_problem(value, hint, where + ".")
    if origin is list:
        if not isinstance(value, list):
            return f"{where} is {_kind_of(value)}, not a list"
        (item,) = typing.get_args(hint) or (Any,)
        for index, element in enumerate(value):
            problem = _shape_problem(element, item, f"{where}[{index}]")
            if problem:
                return problem
        return None
    if origin is dict:
        if not isinstance(value, dict):
            return f"{where} is {_kind_of(value)}, not an object"
        key_hint, item = typing.get_args(hint) or (str, Any)
        for key, element in value.items():
            if not isinstance(key, str):
                return f"{where} has a key that is not text"
            problem = _shape_problem(element, item, f"{where}.{key}")
            if problem:
                return problem
        return None
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{where} is {_kind_of(value)}, not a number"
        return None if math.isfinite(value) else f"{where} is {value!r}, not a finite number"
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{where} is {_kind_of(value)}, not an integer"
        return None
    if hint is type(None):
        return None if value is None else f"{where} is {_kind_of(value)}, not null"
    if hint is bool and type(value) is int and value in (0, 1):
        # Some MongoDB-compatible servers store a boolean set by an update as 0 or 1: it
        # reads the same.
        return None
    if hint in (str, bool):
        return None if type(value) is hint else f"{where} is {_kind_of(value)}, not {_name(hint)}"
    return None


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    return {
        str: "text",
        int: "an integer",
        float: "a number",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


@functools.cache
def _hints(typed: type) -> dict[str, Any]:
    return typing.get_type_hints(typed)


def _fields_problem(value: Mapping[str, Any], typed: type, prefix: str) -> str | None:
    hints = _hints(typed)
    for name in getattr(typed, "__required_keys__", ()):
        if name not in value:
            return f"{prefix}{name} is missing"
    for name, field in value.items():
        hint = hints.get(name)
        if hint is not None:
            problem = _shape_problem(field, hint, prefix + name)
            if problem:
                return problem
    return None


def document_problem(document: Any) -> str | None:
    """Why ``document`` is no trial document Kleio can read, or None."""
    from kleio.core.model.status import STATUSES
    from kleio.core.model.trial import TrialDocument

    if not isinstance(document, dict):
        return f"the trial document is {_kind_of(document)}, not an object"
    for name in REQUIRED:
        if name not in document:
            return f"the trial document has no {name}"
    if not isinstance(document["_id"], str) or not _ID.fullmatch(document["_id"]):
        return f"_id {document['_id']!r} is not a trial id (32 hexadecimal characters)"
    problem = depth_problem(document) or _fields_problem(document, TrialDocument, "")
    if problem:
        return problem
    if document["status"] not in STATUSES:
        return f"status {document['status']!r} is none of {', '.join(STATUSES)}"
    return None


def reading_problem(document: Any) -> str | None:
    """Why the fields ``document`` holds are not what a trial document's may be, or None:
    what every reader checks of a document before it believes it (a whole document, or
    the fields a listing read of it).

    :func:`document_problem` but for the fields a partial document lacks and for the
    depth of its values (a reader walks only the fields it shows, and the store decoded
    them already). Cheap: each field by a test made once from its annotation (a set of
    types for a scalar), which checks the listed fields of 10,000 trials in some 30 ms;
    the schema's own message is made only for a field that fails it.
    """
    if type(document) is not dict:
        return f"the trial document is {_kind_of(document)}, not an object"
    trial_id = document.get("_id")
    if type(trial_id) is not str or not _ID.fullmatch(trial_id):
        return f"_id {trial_id!r} is not a trial id"
    checks = _reading_checks()
    for name, value in document.items():
        check = checks.get(name)
        if check is None:
            continue
        if check.__class__ is frozenset:  # a scalar field: one set lookup (most fields)
            kind = value.__class__
            if kind in check and (kind is not float or math.isfinite(value)):
                continue
        elif check(value):
            continue
        if value is None and name != "status":
            # A null field reads as a missing one (a listing's fields are null where a
            # document lacks them); a status is never missing.
            continue
        # The tests are strict (exact types); the message comes from the schema's own
        # check, which has the last word (an int subclass is an int).
        problem = _fields_problem({name: value}, _trial_document(), "")
        if problem:
            return problem
    status = document.get("status", "new")
    if status not in _statuses():
        return f"status {status!r} is none of {', '.join(_statuses())}"
    return None


@functools.cache
def _trial_document() -> type:
    from kleio.core.model.trial import TrialDocument

    return TrialDocument


@functools.cache
def _statuses() -> tuple[str, ...]:
    from kleio.core.model.status import STATUSES

    return tuple(STATUSES)


@functools.cache
def _reading_checks() -> dict[str, Any]:
    """A test of each field of a trial document, made from its annotation: the types a
    scalar field may have, or a function telling whether a value holds."""
    checks = {}
    for name, hint in _hints(_trial_document()).items():
        scalar = _SCALARS.get(hint)
        # null reads as missing (see reading_problem), but for a status
        if scalar is None:
            checks[name] = _test_of(hint)
        else:  # null reads as missing (see reading_problem), but for a status
            checks[name] = scalar if name == "status" else scalar | {type(None)}
    return checks


_STR = {str}
#: The types JSON decodes to that a scalar annotation allows (a float must be finite).
_SCALARS: dict[Any, frozenset] = {
    str: frozenset([str]),
    int: frozenset([int]),
    float: frozenset([int, float]),
    bool: frozenset([bool]),
    str | None: frozenset([str, type(None)]),
    int | None: frozenset([int, type(None)]),
    float | None: frozenset([int, float, type(None)]),
}


def _test_of(hint: Any):
    """A function telling quickly whether a value is of the type ``hint`` says: what
    :func:`_shape_problem` decides, without its message, for values of exactly the
    types JSON decodes to (False for any other: :func:`_shape_problem` then decides)."""
    if hint is Any:
        return lambda value: True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        tests = [_test_of(option) for option in typing.get_args(hint)]
        return lambda value: any(test(value) for test in tests)
    if typing.is_typeddict(hint):
        fields = {name: _test_of(field) for name, field in _hints(hint).items()}
        required = tuple(getattr(hint, "__required_keys__", ()))

        def typed(value: Any) -> bool:
            if type(value) is not dict:
                return False
            if not value:  # a root's refers: most documents
                return not required
            if any(name not in value for name in required):
                return False
            for name, field in value.items():
                test = fields.get(name)
                if test is not None and not test(field):
                    return False
            return True

        return typed
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        if item is Any:
            return lambda value: type(value) is list
        if item is str:  # a command line, tags: the types of the items, in C
            return lambda value: type(value) is list and (not value or {*map(type, value)} == _STR)
        test = _test_of(item)
        return lambda value: type(value) is list and all(test(i) for i in value)
    if origin is dict:
        _, item = typing.get_args(hint) or (str, Any)
        if item is Any:
            return lambda value: type(value) is dict and all(type(k) is str for k in value)
        test = _test_of(item)
        return lambda value: (
            type(value) is dict and all(type(k) is str and test(v) for k, v in value.items())
        )
    if hint is float:
        return lambda value: type(value) in (int, float) and math.isfinite(value)
    if hint is int:
        return lambda value: type(value) is int
    if hint is type(None):
        return lambda value: value is None
    if hint is bool:
        return lambda value: type(value) is bool or (type(value) is int and value in (0, 1))
    if hint is str:
        return lambda value: type(value) is str
    return lambda value: _shape_problem(value, hint, "") is None


def event_problem(record: Any) -> str | None:
    """Why ``record`` (an event as an export writes it: kind, key, time, data) is not one,
    or None."""
    if not isinstance(record, dict):
        return f"an event is {_kind_of(record)}, not an object"
    for name in ("kind", "key", "time", "data"):
        if name not in record:
            return f"an event has no {name}"
    if set(record) - {"kind", "key", "time", "data"}:
        return f"an event holds {', '.join(sorted(set(record) - {'kind', 'key', 'time'}))}"
    kind, key = record["kind"], record["key"]
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        return f"an event's kind {kind!r} is not a kind Kleio writes"
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        return f"an event's key {key!r} is not a key Kleio writes"
    return (
        _shape_problem(record["time"], float, "an event's time")
        or _shape_problem(record["data"], dict[str, Any], "an event's data")
        or depth_problem(record["data"])
    )


def blob_problem(record: Any, trial_id: str) -> str | None:
    """Why ``record`` (a blob's metadata and length, as an export writes them) is not the
    record of a blob of ``trial_id``, or None."""
    if not isinstance(record, dict) or set(record) != {"metadata", "length"}:
        return "a blob's record is not {metadata, length}"
    metadata, length = record["metadata"], record["length"]
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        return f"a blob's length {length!r} is not a size"
    problem = _shape_problem(metadata, dict[str, Any], "a blob's metadata") or depth_problem(
        metadata
    )
    if problem:
        return problem
    if metadata.get("trial") != trial_id:
        return f"a blob's metadata names trial {metadata.get('trial')!r}, not its own"
    kind = metadata.get("kind")
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        return f"a blob's kind {kind!r} is not a kind Kleio writes"
    return None


def is_blob_id(text: Any) -> bool:
    return isinstance(text, str) and _ID.fullmatch(text) is not None


# -- event data and blob metadata, as readers find them ----------------------------------
class OutputData(TypedDict, total=False):
    """An output event's data: a run of valid UTF-8, or the bytes between runs."""

    text: str
    base64: str
    #: The rank that printed it, of a parallel execution (else rank 0's).
    rank: int


class ExecutionData(TypedDict, total=False):
    """An execution event's data, as far as readers use it."""

    phase: str
    number: int
    start: float | None
    end: float | None
    #: The patterns of ``--scalars`` and the writer of the statistics they read.
    scalars: dict[str, Any]


class NoteData(TypedDict, total=False):
    """A note event's data: a text added, or one that edits or removes an earlier note."""

    text: str
    edits: str
    removes: str


class ArtifactData(TypedDict, total=False):
    """An artifact event's data: the file's name, its blob, size, digest, attributes."""

    filename: str
    blob: str
    size: int
    sha256: str
    attributes: dict[str, Any]


class ArtifactMetadata(TypedDict, total=False):
    """An artifact blob's metadata (what ``put_artifact`` writes)."""

    trial: str
    kind: str
    filename: str
    time: float
    attributes: dict[str, Any]
    rank: int


#: The shape of an event's data by kind, beyond being an object (any other kind: an
#: object of any fields).
EVENT_DATA: dict[str, type] = {
    "stdout": OutputData,
    "stderr": OutputData,
    "execution": ExecutionData,
    "note": NoteData,
    "artifact": ArtifactData,
}


def data_problem(kind: str, data: Any) -> str | None:
    """Why ``data`` is not what an event of ``kind`` holds, or None: what a reader says
    of an event it skips. Readers call it on the few events of a kind they read whole
    (executions, notes), or once decoding an event failed (output, statistics)."""
    if type(data) is not dict:
        return f"{kind} data is {_kind_of(data)}, not an object"
    typed = EVENT_DATA.get(kind)
    problem = _fields_problem(data, typed, f"{kind} data's ") if typed is not None else None
    if problem is None and typed is OutputData and ("text" in data) == ("base64" in data):
        held = "both text and base64" if "text" in data else "neither text nor base64"
        return f"{kind} data holds {held}"
    return problem


def artifact_problem(metadata: Any) -> str | None:
    """Why an artifact blob's ``metadata`` is not what readers can show, or None."""
    if type(metadata) is not dict:
        return f"artifact metadata is {_kind_of(metadata)}, not an object"
    return _fields_problem(metadata, ArtifactMetadata, "artifact metadata's ")


def skip_event(event: Any, problem: str | None = None) -> None:
    """Note that a reader skipped ``event`` (a :class:`~kleio.store.base.Event`), for
    ``problem`` (else what :func:`data_problem` finds)."""
    problem = problem or data_problem(event.kind, event.data) or f"{event.kind} data"
    skip_unreadable(event.trial, problem, identity=(event.trial, event.kind, event.key))
