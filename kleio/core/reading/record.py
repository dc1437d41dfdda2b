"""Everything the journal knows about one trial, read on demand.

One place gathers a trial's document, its executions, its lineage and children, its
statistics, output and artifacts, so ``kleio info``, ``kleio cat`` and the Python API
show the same things the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any

from kleio.core.capture.resolved import default_keys, resolved_configuration
from kleio.core.capture.usage import KIND as USAGE
from kleio.core.capture.usage import usage_summary
from kleio.core.model.artifacts import Artifact, find_artifacts
from kleio.core.model.errors import KleioError
from kleio.core.model.printed import (
    OUTPUT_PAGE,
    RankedLines,
    rank_of,
    readable_events,
    readable_output,
)
from kleio.core.model.status import ACTIVE, execution_end, observed_status, run_time
from kleio.core.model.trial import TrialDocument, short_id
from kleio.core.model.view import Segment, lineage, read_view
from kleio.core.reading.statistics import Meta, Statistics, statistics_of, statistics_stream
from kleio.store.base import Event, Store


class TrialRecord:
    """A trial as the journal holds it; each part is read once, when first asked for."""

    def __init__(self, store: Store, document: TrialDocument, lease: float):
        self.store = store
        self.document = document
        self.lease = lease

    # -- the document ------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.document["_id"]

    @property
    def short_id(self) -> str:
        return short_id(self.id)

    @property
    def status(self) -> str:
        return observed_status(self.document, self.lease)

    @property
    def configuration(self) -> dict[str, Any]:
        """What the script ran with: the command line's configuration and the defaults
        its parser filled in (:mod:`kleio.core.capture.resolved`)."""
        return resolved_configuration(self.document)

    @property
    def defaults(self) -> list[str]:
        """The keys of :attr:`configuration` that the command line did not give."""
        return default_keys(self.document)

    @property
    def parent(self) -> str | None:
        return (self.document.get("refers") or {}).get("parent")

    @property
    def run_time(self) -> float:
        """Seconds spent running, over every execution (the current one included)."""
        return run_time(self.document, self.status)

    def reload(self) -> TrialRecord:
        document = self.store.get_trial(self.id)
        if document is None:
            raise KleioError(f"trial {self.short_id} was removed")
        return TrialRecord(self.store, document, self.lease)

    # -- relations ---------------------------------------------------------------------
    @cached_property
    def segments(self) -> list[Segment]:
        """The trial's view: ancestors up to their branch points, then itself."""
        return lineage(self.store, self.document)

    @cached_property
    def children(self) -> list[dict[str, Any]]:
        return self.store.find_trials(
            parent=self.id,
            fields=["status", "commandline", "refers", "created", "tags", "name"],
        )

    @cached_property
    def ancestors(self) -> list[dict[str, Any]]:
        """Parent first, then its parent..."""
        found = []
        for segment in reversed(self.segments[:-1]):
            document = self.store.get_trial(segment.trial)
            if document is not None:
                found.append(document)
        return found

    # -- journal -----------------------------------------------------------------------
    @cached_property
    def executions(self) -> list[dict[str, Any]]:
        """One entry per execution: start and end records merged, in order. An execution
        of several ranks has ``members`` (one entry per rank, in rank order), and its
        status and exit code are those of its ranks together
        (:func:`~kleio.core.model.status.execution_end`)."""
        merged: dict[int, dict[str, Any]] = {}
        for event in readable_events(self.store.read_events(self.id, ["execution"])):
            data = dict(event.data)
            entry = merged.setdefault(data.pop("number", len(merged) + 1), {})
            data.pop("phase", None)
            if isinstance(data.get("rank"), int):
                entry = entry.setdefault("members", {}).setdefault(data["rank"], {})
            entry.update(
                {key: value for key, value in data.items() if value is not None or key not in entry}
            )
        executions = []
        for number in sorted(merged):
            entry = {"number": number, **merged[number]}
            current = number == self.document.get("executions") and self.status in ACTIVE
            ranks = entry.pop("members", {})
            members = [ranks[rank] for rank in sorted(ranks)]
            for member in members or [entry]:
                if member.get("end") is None and member.get("status") is None:
                    member["status"] = "running" if current else "lost"
            if members:
                executions.append(_with_members(entry, members, current))
            else:
                executions.append(entry)
        return executions

    @cached_property
    def statistics(self) -> Statistics:
        return statistics_of(self.store, self.document, segments=self.segments)

    def statistics_stream(self, with_meta: bool = True) -> Iterator[tuple[dict, Meta | None]]:
        """The statistics with their meta, read page by page (bounded memory)."""
        return statistics_stream(self.store, self.document, self.segments, with_meta)

    @cached_property
    def artifacts(self) -> list[Artifact]:
        return find_artifacts(self.store, self.document, segments=self.segments)

    @cached_property
    def notes(self) -> list[dict[str, Any]]:
        """Notes attached with ``kleio note``, oldest first."""
        from kleio.core.curation.notes import notes_of

        return notes_of(self.store, self.id)

    @cached_property
    def resources(self) -> list[dict[str, Any]]:
        return [
            event.data
            for event in readable_events(
                read_view(self.store, self.document, ["resource"], self.segments)
            )
        ]

    @cached_property
    def usage(self) -> Statistics:
        """Resource samples of the trial's own executions (:mod:`kleio.core.capture.usage`), in
        order, each with its ``time``."""
        return Statistics(
            {"time": event.time, **event.data}
            for event in readable_events(self.store.read_events(self.id, [USAGE], page_size=10_000))
        )

    def output(self, kinds: Sequence[str] = ("stdout",), rank: int | None = 0) -> Iterator[bytes]:
        """The bytes the script printed (its parent's up to the branch point first):
        those of ``rank`` of a parallel execution (output of a process alone is rank
        0's); every rank's when None, each line after ``[rank N]``."""
        ranked = RankedLines() if rank is None else None
        for event in self.output_events(kinds):
            if ranked is None and rank_of(event) != rank:
                continue
            printed = readable_output(event)
            if printed is not None:
                yield printed if ranked is None else ranked(rank_of(event), printed)

    def output_events(self, kinds: Sequence[str] = ("stdout",)) -> Iterator[Event]:
        """The output events of the trial's view, in order (its parent's up to the
        branch point first)."""
        return read_view(
            self.store, self.document, list(kinds), self.segments, page_size=OUTPUT_PAGE
        )

    def output_after(self, kinds: Sequence[str], after: str | None) -> Iterator[Event]:
        """The trial's own output events after the event key ``after`` (all of them
        when None): what a reader following a running trial reads next."""
        return self.store.read_events(self.id, list(kinds), after=after, page_size=OUTPUT_PAGE)

    def statistics_summary(self) -> dict[str, Any]:
        statistics = self.statistics
        keys = statistics.keys()
        return {
            "count": len(statistics),
            "keys": keys,
            "last": {key: statistics.last(key) for key in keys},
        }

    # -- everything --------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """The whole record, as ``kleio info --json`` prints it."""
        return {
            **{key: value for key, value in self.document.items() if key != "_id"},
            "id": self.id,
            "short_id": self.short_id,
            "status": self.status,
            "stored_status": self.document.get("status"),
            "parent": self.parent,
            "resolved_configuration": self.configuration,
            "defaults": self.defaults,
            "run_time": self.run_time,
            "lineage": [{"trial": s.trial, "until": s.until} for s in self.segments],
            "children": [child["_id"] for child in self.children],
            "executions": self.executions,
            "statistics": self.statistics_summary(),
            "artifacts": [artifact_entry(a) for a in self.artifacts],
            "resources": self.resources,
            "notes": self.notes,
            "usage": usage_summary(self.usage),
        }


def artifact_entry(artifact: Artifact) -> dict[str, Any]:
    return {
        "filename": artifact.filename,
        "size": artifact.size,
        "time": artifact.time,
        "attributes": artifact.attributes,
        "trial": artifact.trial,
        "id": artifact.id,
        **({"rank": artifact.rank} if artifact.rank is not None else {}),
    }


#: Where a record has times (seconds since the epoch): top-level fields, and fields of
#: the entries of its lists.
_TIMES = ("created", "updated", "heartbeat", "started", "ended")
_TIMES_IN = {
    "executions": ("start", "end"),
    "artifacts": ("time",),
    "outputs": ("time",),
    "lineage": ("until",),
    "notes": ("time", "edited"),
}


def with_iso_times(record: dict[str, Any]) -> dict[str, Any]:
    """A record of :meth:`TrialRecord.as_dict` with its times in ISO 8601 UTC (``Z``),
    as JSON has every time (``kleio info --json``, the dashboard)."""
    from kleio.core.model.clock import iso_z

    def converted(entry: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
        return {
            key: iso_z(value) if key in keys and isinstance(value, (int, float)) else value
            for key, value in entry.items()
        }

    record = converted(record, _TIMES)
    for name, keys in _TIMES_IN.items():
        record[name] = [converted(entry, keys) for entry in record.get(name) or []]
    if isinstance(record.get("worker"), dict):
        record["worker"] = converted(record["worker"], ("since",))
    if isinstance(record.get("refers"), dict):
        record["refers"] = converted(record["refers"], ("time",))
    return record


def _with_members(entry: dict[str, Any], members: list[dict[str, Any]], current: bool):
    """An execution of several ranks: its members, and what they make together (the
    first rank's host and start, the last end, the status of all)."""
    first = members[0]
    world_size = first.get("world_size") or len(members)
    end = execution_end({str(m.get("rank")): m for m in members}, world_size)
    if any(member["status"] == "lost" for member in members) or (end is None and not current):
        status, code, end = "lost", None, None
    elif end is None:
        status, code = ("running" if current else "lost"), None
    else:
        status, code, _ = end
    ends = [m["end"] for m in members if m.get("end") is not None]
    starts = [m["start"] for m in members if m.get("start") is not None]
    return {
        **{key: value for key, value in first.items() if key not in ("rank", "exit_code")},
        **entry,
        "status": status,
        **({"exit_code": code} if code is not None else {}),
        "start": min(starts) if starts else None,
        "end": max(ends) if ends and end is not None else None,
        "duration": max(ends) - min(starts) if ends and starts and end is not None else None,
        "world_size": world_size,
        "members": members,
    }
