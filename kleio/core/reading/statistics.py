"""Statistics as a script logged them: a list of dicts in logging order.

There is no special timestamp field (the README's promise): any key, such as ``epoch``,
``step`` or ``loss``, can order or select statistics. Where each statistic comes from is
kept beside it, not in it (:class:`Meta`: the trial, the execution that logged it and
when), so a resumed trial that redid part of an epoch can tell its records apart
(:meth:`Statistics.with_meta`) or keep the latest of each (:meth:`Statistics.latest_by`).
Statistics an execution read from the script's output (``kleio run --scalars``) say so
in their meta: the execution's start names the writer of those (see
:mod:`kleio.core.running.scalars`). Statistics one rank of a parallel launch logged say
which rank: its logger's writer id, in each statistic's key, ends with it (see
:func:`~kleio.store.keys.ranked_writer`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain, repeat
from typing import Any, NamedTuple

from kleio.codec import compact_json
from kleio.core.model.printed import readable_events
from kleio.core.model.schema import skip_event
from kleio.core.model.trial import TrialDocument, canonical_json
from kleio.core.model.view import Segment, lineage, read_view
from kleio.core.reading.summaries import STATISTIC
from kleio.store.base import DataPage, Event, Store
from kleio.store.keys import rank_of_writer, writer_of

#: The keys :meth:`Statistics.with_meta` adds (they start with ``_``, which no
#: ``log_statistic`` key needs).
META_KEYS = ("_trial", "_execution", "_time")
#: What :meth:`Statistics.with_meta` adds too in a view that read statistics from the
#: output of some execution: where each comes from, ``output`` or ``logger``.
SOURCE_KEY = "_source"
#: What :meth:`Statistics.with_meta` adds too when some statistic was logged by one rank
#: of a parallel launch (torchrun, ``srun -n``): that rank (None for the others).
RANK_KEY = "_rank"
#: Statistics read per round trip: they are small, and large pages save round trips.
STATISTICS_PAGE = 10_000


class Meta(NamedTuple):
    """Where a statistic comes from: the trial that logged it (an ancestor's, in a
    branch's view), the number of the execution that logged it, and when; ``source``
    (an attribute, not a field: a meta is still the triple it always was): ``output``
    (read from what the script printed) or ``logger`` (``log_statistic``), in a view
    where some execution read statistics from its output, else None; ``rank`` (an
    attribute too): the rank of the parallel launch whose process logged it, else None."""

    trial: str
    execution: int | None
    time: float
    source = None
    rank = None


class _SourcedMeta(Meta):
    """A :class:`Meta` with its source and rank (see there)."""

    def __new__(
        cls,
        trial: str,
        execution: int | None,
        time: float,
        source: str | None,
        rank: int | None = None,
    ):
        meta = super().__new__(cls, trial, execution, time)
        meta.source, meta.rank = source, rank
        return meta

    def __getnewargs__(self) -> tuple:
        return (*self, self.source, self.rank)


def sort_value(value: Any) -> tuple:
    """Numbers before text before everything else; NaN and missing keys last."""
    if isinstance(value, bool):
        return (0, float(value), "")
    if isinstance(value, (int, float)):
        return (0, value, "") if not math.isnan(value) else (3, 0, "")
    if isinstance(value, str):
        return (1, 0, value)
    if value is None:
        return (3, 0, "")
    return (2, 0, repr(value))


class Statistics(list):
    """A list of statistic dicts with sorting and filtering by any key.

    Each statistic read from the journal also has its :class:`Meta`, kept beside the
    list (a dict of the list is exactly what was logged); the methods that select or
    order statistics keep it.
    """

    def __init__(
        self, items: Iterable[dict] = (), meta: Mapping[int, tuple[dict, Meta]] | None = None
    ):
        super().__init__(items)
        #: id of a statistic dict -> (the dict, its meta); the dict is held so its id
        #: cannot name another. Read from the journal, it is worked out on first use.
        self._meta = meta if meta is not None else {}

    def _like(self, items: Iterable[dict]) -> Statistics:
        return Statistics(items, self._meta)

    def meta(self, statistic: dict) -> Meta | None:
        """Where ``statistic`` (one of this list's dicts) comes from; None if unknown."""
        entry = self._meta.get(id(statistic))
        return entry[1] if entry is not None and entry[0] is statistic else None

    def with_meta(self) -> list[dict]:
        """Copies of the statistics with ``_trial``, ``_execution`` (its number) and
        ``_time`` (seconds since the epoch) added (None where unknown), ``_source``
        (``output`` or ``logger``) when some of them were read from the output, and
        ``_rank`` when some were logged by a rank of a parallel launch."""
        metas = [self.meta(statistic) for statistic in self]
        sourced = any(meta is not None and meta.source is not None for meta in metas)
        ranked = any(meta is not None and meta.rank is not None for meta in metas)
        rows = []
        for statistic, meta in zip(self, metas, strict=True):
            row = {
                **statistic,
                "_trial": meta.trial if meta else None,
                "_execution": meta.execution if meta else None,
                "_time": meta.time if meta else None,
            }
            if sourced:
                row[SOURCE_KEY] = meta.source if meta else None
            if ranked:
                row[RANK_KEY] = meta.rank if meta else None
            rows.append(row)
        return rows

    def meta_keys(self) -> list[str]:
        """The keys :meth:`with_meta` adds, in order."""
        metas = [meta for meta in map(self.meta, self) if meta is not None]
        sourced = any(meta.source is not None for meta in metas)
        ranked = any(meta.rank is not None for meta in metas)
        return [*META_KEYS, *[SOURCE_KEY] * sourced, *[RANK_KEY] * ranked]

    def sorted_by(self, *keys: str, reverse: bool = False) -> Statistics:
        """Sorted by ``keys`` (stable); statistics without the first key come last,
        in ascending and descending order alike."""
        if not keys:
            raise TypeError("sorted_by needs at least one key")

        def order(statistic: dict) -> tuple:
            return tuple(
                sort_value(statistic.get(key)) if key in statistic else (4, 0, "") for key in keys
            )

        present = [statistic for statistic in self if keys[0] in statistic]
        absent = [statistic for statistic in self if keys[0] not in statistic]
        return self._like(sorted(present, key=order, reverse=reverse) + absent)

    def reversed(self) -> Statistics:
        """The statistics, last logged first."""
        return self._like(reversed(self))

    def where(self, **equal: Any) -> Statistics:
        """The statistics whose keys equal the given values (``where(loss=None)``: those
        that logged None as their loss; a statistic without the key never matches)."""
        return self._like(s for s in self if matches(s, equal))

    def latest_by(self, *keys: str) -> Statistics:
        """The last statistic logged for each distinct tuple of values of ``keys``, in
        logging order: after a resumed trial redid part of an epoch,
        ``latest_by("epoch", "batch")`` keeps one record per batch, the latest.
        Statistics without every key are left out (select them with :meth:`where`)."""
        if not keys:
            raise TypeError("latest_by needs at least one key")
        latest: dict[str, int] = {}
        for position, statistic in enumerate(self):
            if all(key in statistic for key in keys):
                latest[canonical_json([statistic[key] for key in keys])] = position
        return self._like(self[position] for position in sorted(latest.values()))

    def keys(self) -> list[str]:
        """Every key logged, in order of first appearance."""
        seen: dict[str, None] = {}
        for statistic in self:
            seen.update(dict.fromkeys(statistic))
        return list(seen)

    def column(self, key: str) -> list[Any]:
        """The values of ``key``, in order, from the statistics that have it (those
        without it are skipped: ``where``, ``sorted_by`` or a loop see them)."""
        return [statistic[key] for statistic in self if key in statistic]

    def last(self, key: str) -> Any:
        """The last value logged for ``key`` (None if never)."""
        for statistic in reversed(self):
            if key in statistic:
                return statistic[key]
        return None

    def to_pandas(self, with_meta: bool = False):
        """A ``pandas.DataFrame``, one row per statistic (pandas must be installed);
        ``with_meta`` adds the columns ``_trial``, ``_execution`` and ``_time`` (and
        ``_source``, ``_rank``: see :meth:`with_meta`)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        if with_meta:
            return pandas.DataFrame(self.with_meta(), columns=[*self.keys(), *self.meta_keys()])
        return pandas.DataFrame(list(self))


def statistics_of(
    store: Store,
    document: TrialDocument,
    where: dict[str, Any] | None = None,
    segments=None,
    meta: bool = False,
) -> Statistics:
    """The statistics of the trial's whole view, in logging order, with their meta:
    read with them when ``meta`` is asked for (one read), else when first asked (a
    second read, which most readers never make)."""
    segments = segments if segments is not None else lineage(store, document)
    if meta:
        starts = _starts(store, segments)
        events = list(_statistic_events(store, document, segments))
        origins = {id(event.data): (event.data, _meta_of(event, starts)) for event in events}
        statistics = Statistics((event.data for event in events), origins)
        return statistics.where(**where) if where else statistics
    pages = list(statistic_pages(store, segments))
    statistics = Statistics(
        chain.from_iterable(page.datas for page in pages),
        _Origins(store, pages, _starts(store, segments)),
    )
    return statistics.where(**where) if where else statistics


def statistic_pages(
    store: Store, segments: Sequence[Segment], ahead: bool = True
) -> Iterator[DataPage]:
    """The statistics of a view (its :func:`~kleio.core.model.view.lineage`), page by page, in
    logging order, without their keys and times: the fastest way to read them all.
    ``ahead``: the next pages are fetched while the caller decodes and uses those
    before (see :meth:`~kleio.store.base.Store.read_data`)."""
    for segment in segments:
        for page in store.read_data(
            segment.trial, STATISTIC, until=segment.until, page_size=STATISTICS_PAGE, ahead=ahead
        ):
            # One pass in C over the types (some 6 ms a million): a statistic that is no
            # object (another program wrote it) is skipped, and said.
            if page.datas and set(map(type, page.datas)) != _OBJECTS:
                page = _objects(store, page)
            yield page


_OBJECTS = {dict}


def _objects(store: Store, page: DataPage) -> DataPage:
    """``page`` without the statistics that are not objects; those skipped, and noted
    by their events (read again for their keys: a damaged page is rare)."""
    for event in store.read_page(page.page._replace(limit=len(page.datas))):
        if type(event.data) is not dict:
            skip_event(event)
    return page._replace(datas=[data for data in page.datas if type(data) is dict])


def statistics_stream(
    store: Store, document: TrialDocument, segments=None, with_meta: bool = True
) -> Iterator[tuple[dict, Meta | None]]:
    """The statistics of the trial's whole view with their meta (None without
    ``with_meta``), in logging order, read page by page: memory stays bounded whatever
    their number."""
    segments = segments if segments is not None else lineage(store, document)
    if not with_meta:
        pages = statistic_pages(store, segments)
        return zip(chain.from_iterable(page.datas for page in pages), repeat(None))
    events = _statistic_events(store, document, segments)
    starts = _starts(store, segments)
    return ((event.data, _meta_of(event, starts)) for event in events)


def matches(statistic: dict, equal: Mapping[str, Any]) -> bool:
    """Whether the statistic's keys equal the values of ``equal`` (a missing key never
    does: see :meth:`Statistics.where`)."""
    return all(statistic.get(key, _MISSING) == value for key, value in equal.items())


_MISSING = object()


def _statistic_events(store: Store, document: TrialDocument, segments) -> Iterator[Event]:
    for event in read_view(store, document, [STATISTIC], segments, page_size=STATISTICS_PAGE):
        if type(event.data) is dict:
            yield event
        else:  # another program wrote it
            skip_event(event)


class _Executions(NamedTuple):
    """The executions of a trial, as statistics are told apart by: when each started,
    its number, and the writers of the statistics read from its output."""

    times: list[float]
    numbers: list[int]
    output_writers: frozenset[str]


class _Starts(dict):
    """The :class:`_Executions` of each trial of a view; ``output``: whether some of
    them read statistics from their output (then every statistic has a source);
    ``ranks``: the rank each writer id seen so far names (None: none)."""

    output = False

    def __init__(self, *args):
        super().__init__(*args)
        self.ranks: dict[str, int | None] = {}


def _starts(store: Store, segments) -> _Starts:
    starts = _Starts((segment.trial, _execution_starts(store, segment)) for segment in segments)
    starts.output = any(executions.output_writers for executions in starts.values())
    return starts


def _meta_of(event: Event, starts: _Starts) -> Meta:
    times, numbers, writers = starts[event.trial]
    at = bisect.bisect_right(times, event.time)
    number = numbers[at - 1] if at else None
    writer = writer_of(event.key)
    ranks = starts.ranks
    rank = ranks[writer] if writer in ranks else ranks.setdefault(writer, rank_of_writer(writer))
    if not starts.output and rank is None:
        return Meta(event.trial, number, event.time)
    source = None if not starts.output else "output" if writer in writers else "logger"
    return _SourcedMeta(event.trial, number, event.time, source, rank)


class _Origins(Mapping):
    """The meta of statistics read from the journal, by id of their dict, worked out
    when first asked: most readers (a script's ``load_statistics()``) never ask, and
    reading the keys and times of a million statistics with them would cost 0.8 s."""

    def __init__(
        self,
        store: Store,
        pages: list[DataPage],
        starts: _Starts,
    ):
        self._store, self._pages, self._starts = store, pages, starts
        self._by_id: dict[int, tuple[dict, Meta]] | None = None

    def _worked_out(self) -> dict[int, tuple[dict, Meta]]:
        if self._by_id is None:
            by_id = {}
            for page in self._pages:
                for data, event in zip(page.datas, _events_of(self._store, page), strict=True):
                    if event is not None:
                        by_id[id(data)] = (data, _meta_of(event, self._starts))
            self._by_id = by_id
        return self._by_id

    def __getitem__(self, key: int) -> tuple[dict, Meta]:
        return self._worked_out()[key]

    def __iter__(self) -> Iterator[int]:
        return iter(self._worked_out())

    def __len__(self) -> int:
        return len(self._worked_out())


def _events_of(store: Store, page: DataPage) -> list[Event | None]:
    """The events whose data ``page`` holds, in order (None for one no longer stored)."""
    if page.last is None:
        return []
    events = store.read_page(page.page._replace(limit=len(page.datas)))
    if len(events) == len(page.datas) and events[-1].key == page.last:
        return events
    # Events were added among the page's since it was read (a spool replayed late, by
    # their original keys): the page's data are the first equal ones, in order.
    texts = iter(map(compact_json, page.datas))
    wanted, found = next(texts), []
    for event in store.read_events(page.page.trial, [page.page.kind], after=page.page.low):
        if event.key > page.last:
            break
        if compact_json(event.data) == wanted:
            found.append(event)
            wanted = next(texts, None)
            if wanted is None:
                break
    return found + [None] * (len(page.datas) - len(found))


def _execution_starts(store: Store, segment: Segment) -> _Executions:
    """When each execution of the segment's trial started, in order, and its number:
    a statistic belongs to the last execution started before it was logged. And the
    writers of the statistics they read from their output."""
    starts, writers = [], set()
    for event in readable_events(
        store.read_events(segment.trial, ["execution"], until=segment.until)
    ):
        if event.data.get("phase") != "start" or not isinstance(event.data.get("number"), int):
            continue
        starts.append((event.data.get("start") or event.time, event.data["number"]))
        scalars = event.data.get("scalars")
        if isinstance(scalars, dict) and isinstance(scalars.get("writer"), str):
            writers.add(scalars["writer"])
    starts.sort()
    return _Executions(
        [time for time, _ in starts], [number for _, number in starts], frozenset(writers)
    )
