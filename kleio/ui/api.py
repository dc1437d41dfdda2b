"""What the dashboard answers: read-only views of one journal, as JSON-ready values.

Each public method of :class:`Dashboard` is one endpoint of ``/api/`` (see
:mod:`kleio.ui.server` for the routes) and takes the query's parameters as
``urllib.parse.parse_qs`` gives them. The trials list is ``kleio compare``'s rows
(:mod:`kleio.core.reading.comparison`), a trial is ``kleio info``'s record
(:mod:`kleio.core.reading.record`), curves are ``kleio plot``'s (:mod:`kleio.core.reading.series`):
the dashboard is another face of the same core, and shows what the commands show.

Times are ISO 8601 UTC (``Z``) and floats JSON cannot hold are strings, as in every
JSON Kleio writes (:mod:`kleio.core.reading.strict_json`), but for curves, whose points are
plain numbers (only finite numbers are drawn).
"""

from __future__ import annotations

import math
import shlex
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from typing import Any

from kleio.core.model.errors import KleioError, SettingsError
from kleio.core.model.trial import TrialDocument, short_id
from kleio.core.reading.record import TrialRecord
from kleio.core.reading.series import Columns, read_columns
from kleio.core.reading.summaries import STATISTIC
from kleio.store.base import Store

Params = Mapping[str, Sequence[str]]

#: Rows of the trials list per page by default, and at most.
PAGE, MAX_PAGE = 50, 1000
#: Pixel buckets of a curve by default, and at most (each keeps up to 4 points).
BUCKETS, MAX_BUCKETS = 1000, 5000
#: Bytes of output a trial page opens with (its end), and sent per answer at most.
OUTPUT_TAIL, OUTPUT_BATCH = 256 * 1024, 1024 * 1024
#: Characters of the recorded diff sent at most.
DIFF_LIMIT = 2 * 1024 * 1024
#: Numbers of statistics the dashboard keeps in memory, over every trial (~8 bytes each).
COLUMNS_LIMIT = 16_000_000
#: Seconds between two counts of a drawn trial's statistics (see :class:`ColumnCache`).
RECOUNT = 30.0
#: Kinds of events whose numbers may be drawn: statistics, and the resource samples
#: (CPU, memory, GPUs) the launcher journals while a script runs.
CURVE_KINDS = (STATISTIC, "usage")


def cut_to_a_line(pieces: deque[dict[str, str]], excess: int) -> None:
    """Drop the first ``excess`` characters of ``pieces``, and the rest of the line they
    end in, so that what remains starts a line, wherever the pieces themselves were cut
    (a pipe read between a line and its newline); by characters if no line ends there."""
    offset, cut = 0, excess
    for piece in pieces:
        text = piece["text"]
        line = text.find("\n", max(excess - offset, 0))
        if line >= 0:
            cut = offset + line + 1
            break
        offset += len(text)
    if cut >= sum(len(piece["text"]) for piece in pieces):
        cut = excess  # the tail is one line: keep its end rather than nothing
    while pieces and len(pieces[0]["text"]) <= cut:
        cut -= len(pieces.popleft()["text"])
    if pieces and cut:
        pieces[0] = {**pieces[0], "text": pieces[0]["text"][cut:]}


class NotFound(KleioError):
    """No such trial, artifact or page."""


class ColumnCache:
    """The statistics of the trials drawn lately (:class:`~kleio.core.reading.series.Columns`),
    so that drawing another key, or a running trial again, reads only what was logged
    since; every ``recount`` seconds a trial's statistics are counted too, which finds
    those a spool replayed late (see :func:`~kleio.core.reading.series.read_columns`). The least
    recently drawn are forgotten past ``limit`` numbers."""

    def __init__(self, limit: int = COLUMNS_LIMIT, recount: float = RECOUNT):
        self.limit, self.recount = limit, recount
        self._entries: OrderedDict[tuple[str, str], tuple[Columns, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._reading: dict[tuple[str, str], threading.Lock] = {}

    def read(self, store: Store, document: TrialDocument, kind: str = STATISTIC) -> Columns:
        entry = (document["_id"], kind)
        with self._lock:
            reading = self._reading.setdefault(entry, threading.Lock())
        with reading:  # two requests for one trial read it once
            with self._lock:
                previous, counted = self._entries.get(entry, (None, 0.0))
            now = time.monotonic()
            recount = now - counted >= self.recount
            columns = read_columns(store, document, previous, recount=recount, kind=kind)
        with self._lock:
            self._entries[entry] = (columns, now if recount or previous is None else counted)
            self._entries.move_to_end(entry)
            total = sum(entry.size() for entry, _ in self._entries.values())
            while total > self.limit and len(self._entries) > 1:
                _, (dropped, _) = self._entries.popitem(last=False)
                total -= dropped.size()
        return columns


def _one(params: Params, name: str, default: str = "") -> str:
    values = params.get(name) or ()
    return values[-1].strip() if values else default


def _number(params: Params, name: str, default: int, low: int, high: int) -> int:
    text = _one(params, name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {text!r}") from None
    return min(max(value, low), high)


def _x_range(params: Params) -> tuple[float, float] | None:
    """The range of x ``x_min`` to ``x_max`` a zoom asks for (None: the whole curve)."""
    bounds = []
    for name, default in (("x_min", -math.inf), ("x_max", math.inf)):
        text = _one(params, name)
        try:
            value = float(text) if text else default
        except ValueError:
            raise SettingsError(f"{name} must be a number, not {text!r}") from None
        if math.isnan(value):
            raise SettingsError(f"{name} must be a number, not {text!r}")
        bounds.append(value)
    low, high = bounds
    if low > high:
        raise SettingsError(f"x_min ({low:g}) is past x_max ({high:g})")
    return None if (low, high) == (-math.inf, math.inf) else (low, high)


def _list(params: Params, name: str) -> list[str]:
    """Values of a parameter given several times or comma separated."""
    return [word.strip() for text in params.get(name) or () for word in text.split(",")]


class Dashboard:
    """The endpoints of one journal (see the module documentation)."""

    def __init__(self, store: Store, lease: float, database: str, version: str):
        self.store = store
        self.lease = lease
        #: The database's address, its password masked.
        self.database = database
        self.version = version
        self.columns = ColumnCache()

    # -- the journal -------------------------------------------------------------------
    def info(self, params: Params) -> dict[str, Any]:
        """What the page header shows."""
        return {"version": self.version, "database": self.database, "read_only": True}

    def _query(self, params: Params, limit: int | None = None):
        from kleio.core.model.trial import split_tags
        from kleio.core.reading.query import Query, parse_since
        from kleio.core.reading.selection import Selection, split_statuses

        since = _one(params, "since")
        selection = Selection(
            tags=split_tags(_one(params, "tags")),
            statuses=split_statuses(_one(params, "status")),
            project=_one(params, "project") or None,
            study=_one(params, "study") or None,
            ids=[word for word in _list(params, "ids") if word],
            since=parse_since(since) if since else None,
        )
        where = [text for text in params.get("where") or () if text.strip()]
        sort = [text for text in _list(params, "sort") if text]
        return Query(selection, where, sort, limit)

    def trials(self, params: Params) -> dict[str, Any]:
        """One page of ``kleio compare``'s rows: the same selection (``ids``, ``tags``,
        ``status``, ``project``, ``since``, ``where``), ``sort``, ``keys`` and ``all``,
        then ``offset`` and ``limit``. ``group`` (configuration keys, or ``*``: every
        one but the seeds, ``seed`` or those of ``seeds``) adds the groups of every row
        the query finds (see :func:`_groups`)."""
        from kleio.core.reading.comparison import compare_trials
        from kleio.core.reading.strict_json import json_ready

        keys = _one(params, "keys")
        every = _one(params, "all") in ("1", "true", "yes")
        offset = _number(params, "offset", 0, 0, 10**9)
        limit = _number(params, "limit", PAGE, 1, MAX_PAGE)
        group_by = [word for word in _list(params, "group") if word]
        query = self._query(params)
        page = None
        if not keys and not every and not group_by:
            from kleio.core.reading.paging import newest_page

            # The newest trials: those of the page read alone (kleio.core.reading.paging).
            page = newest_page(self.store, query, self.lease, offset, limit)
        if page is not None:
            comparison, total = page
            rows = comparison.rows
        else:
            comparison = compare_trials(
                self.store,
                query,
                self.lease,
                keys=keys.split(",") if keys else None,
                all_configuration=every,
            )
            total, rows = len(comparison.rows), comparison.rows[offset : offset + limit]
        answer = {
            "total": total,
            "offset": offset,
            "limit": limit,
            "columns": comparison.columns,
            "configuration": comparison.configuration,
            "statistics": comparison.statistics,
            "best": json_ready(comparison.best),
            "rows": json_ready(rows),
        }
        if group_by:  # over every row the query finds, not this page's: a group spans pages
            answer["groups"] = _groups(comparison, group_by, _list(params, "seeds"))
        if comparison.skipped:  # trials another program damaged: said, never a failure
            from kleio.core.reading.selection import describe_skipped

            answer["skipped"] = describe_skipped(comparison.skipped)
        if not total:  # why: no trial matches, or none yet (and how to make one)
            from kleio.core.reading.selection import nothing_selected

            answer["nothing"] = nothing_selected(self.store)
        return answer

    # -- one trial ---------------------------------------------------------------------
    def _record(self, trial: str) -> TrialRecord:
        from kleio.core.model.errors import UnknownTrial
        from kleio.core.model.trial import resolve_trial

        try:
            document = resolve_trial(self.store, trial)
        except UnknownTrial as error:
            raise NotFound(str(error)) from None
        return TrialRecord(self.store, document, self.lease)

    def trial(self, trial: str, params: Params) -> dict[str, Any]:
        """Everything ``kleio info --json`` shows, and for the page: the command line,
        the configuration as typed entries (the defaults the script's parser resolved
        included, each marked ``default``), the recorded diff, the ancestors and
        children with their statuses, and the summary of each statistic key."""
        from kleio.core.model.status import observed_status
        from kleio.core.reading import readable
        from kleio.core.reading.query import flatten
        from kleio.core.reading.record import with_iso_times
        from kleio.core.reading.repository import recorded_diff
        from kleio.core.reading.strict_json import json_ready
        from kleio.core.reading.summaries import view_summaries

        record = self._record(trial)
        document = record.document
        answer = with_iso_times(record.as_dict())
        answer["command"] = shlex.join(document.get("commandline") or [])
        # What the script ran with, as kleio info shows it: the command line's values,
        # then the defaults its parser filled in, each marked.
        defaults = set(record.defaults)
        answer["configuration_entries"] = [
            {
                "key": flat,
                "value": readable.value(value),
                "type": _type_name(value),
                "default": key in defaults,
            }
            for key, given in record.configuration.items()
            for flat, value in flatten({key: given}).items()
        ]
        diff = recorded_diff(self.store, document.get("version") or {})
        answer["diff"] = diff[:DIFF_LIMIT]
        answer["diff_truncated"] = len(diff) > DIFF_LIMIT

        def relative(found: dict[str, Any]) -> dict[str, Any]:
            return {
                "id": found["_id"],
                "short_id": short_id(found["_id"]),
                "name": found.get("name"),
                "status": observed_status(found, self.lease),
                "command": shlex.join(found.get("commandline") or []),
                "tags": list(found.get("tags") or []),
            }

        answer["ancestors"] = [relative(found) for found in record.ancestors]
        answer["children"] = [relative(found) for found in record.children]
        summaries = view_summaries(self.store, [document])[record.id]
        answer["summaries"] = {
            key: {
                "count": summary.count,
                "first": summary.first,
                "last": summary.last,
                "min": summary.min,
                "max": summary.max,
            }
            for key, summary in summaries.items()
        }
        return json_ready(answer)

    def output(self, trial: str, params: Params) -> dict[str, Any]:
        """The end of the trial's output (its last ``OUTPUT_TAIL`` bytes), or, given the
        ``cursor`` of a former answer, what it printed since: ``{"pieces": [{"kind",
        "text"}], "cursor", "truncated", "status"}``. ``stderr=1`` adds stderr."""
        from kleio.core.model.printed import readable_output

        record = self._record(trial)
        kinds = ["stdout", "stderr"] if _one(params, "stderr") in ("1", "true") else ["stdout"]
        pieces: deque[dict[str, str]] = deque()
        held, truncated = 0, False
        if "cursor" in params:
            cursor = _one(params, "cursor") or None
            for event in record.output_after(kinds, cursor):
                text = (readable_output(event) or b"").decode("utf-8", "replace")
                pieces.append({"kind": event.kind, "text": text})
                cursor, held = event.key, held + len(text)
                if held >= OUTPUT_BATCH:  # the rest comes with the next answer
                    break
        else:
            cursor = None
            for event in record.output_events(kinds):
                text = (readable_output(event) or b"").decode("utf-8", "replace")
                pieces.append({"kind": event.kind, "text": text})
                held += len(text)
                if event.trial == record.id:
                    cursor = event.key
                while held - len(pieces[0]["text"]) >= OUTPUT_TAIL:
                    held -= len(pieces.popleft()["text"])
                    truncated = True
            if held > OUTPUT_TAIL:  # the first pieces are cut too, at a line if it can
                cut_to_a_line(pieces, held - OUTPUT_TAIL)
                truncated = True
        return {
            "pieces": list(pieces),
            "cursor": cursor or "",
            "truncated": truncated,
            "status": record.reload().status,
        }

    def artifact(self, trial: str, blob: str):
        """The artifact ``blob`` of the trial's view (an
        :class:`~kleio.core.model.artifacts.Artifact`); any other blob is not found."""
        record = self._record(trial)
        for artifact in record.artifacts:
            if artifact.id == blob:
                return artifact
        raise NotFound(f"trial {record.short_id} has no artifact {blob!r}")

    # -- curves ------------------------------------------------------------------------
    def _kind(self, params: Params) -> str:
        kind = _one(params, "kind") or STATISTIC
        if kind not in CURVE_KINDS:
            raise SettingsError(f"kind must be one of {', '.join(CURVE_KINDS)}, not {kind!r}")
        return kind

    def keys(self, params: Params) -> dict[str, Any]:
        """The statistic keys of the ``trials`` that hold numbers (what a curve may
        draw), and what the x axis may be; ``kind=usage``: those of resource samples."""
        from kleio.core.reading.query import Query
        from kleio.core.reading.selection import Selection, select_trials
        from kleio.core.reading.series import STEP, TIME
        from kleio.core.reading.summaries import view_summaries

        kind = self._kind(params)
        ids = [word for word in _list(params, "trials") if word]
        if not ids:
            return {"statistics": [], "x": [STEP, TIME]}
        selected = select_trials(self.store, Query(Selection(ids=ids)).selection, self.lease)
        summaries = view_summaries(self.store, [document for document, _ in selected], kind)
        # Each trial's keys in the order it first logged them, as kleio compare has them.
        numeric = list(
            dict.fromkeys(
                key
                for found in summaries.values()
                for key, summary in sorted(found.items(), key=lambda i: (i[1].first_key, i[0]))
                if summary.min is not None
            )
        )
        return {"statistics": numeric, "x": list(dict.fromkeys([STEP, TIME, *numeric]))}

    def series(self, params: Params) -> dict[str, Any]:
        """The curves of ``y`` (keys, comma separated) against ``x`` (default: ``epoch``
        when every record drawn has one, else ``step``; the answer's ``x`` says which) of
        the ``trials``, smoothed by ``smooth`` (0 to 1) and cut to ``points`` pixel
        buckets (default 1000): ``{"x", "curves": [{"trial", "short_id", "status",
        "key", "label", "x": [...], "y": [...], "points", "branch_points", "colour",
        "style", "per_x"}], "missing"}``; ``colour`` and ``style`` are those ``kleio plot``
        draws the curve with, ``per_x`` the most values at one x (drawn as their mean).
        ``kind=usage`` draws resource samples instead of statistics.

        ``x_min`` and ``x_max`` (a zoom: either or both) draw the curves over that range
        of x alone, at ``points`` pixels over it, each curve's ``points`` counting those in
        the range: a long trial's from the blocks that reach into it, or from its exact
        points when the range holds too few blocks (only those are read).
        """
        from kleio.core.reading.query import Query
        from kleio.core.reading.selection import Selection
        from kleio.core.reading.series import plot_curves

        kind = self._kind(params)
        ids = [word for word in _list(params, "trials") if word]
        if not ids:
            raise SettingsError("no trial to draw: give trials=ID,ID")
        text = _one(params, "smooth") or "0"
        try:
            smoothing = float(text)
        except ValueError:
            raise SettingsError(f"smooth must be a number from 0 to 1, not {text!r}") from None
        plot = plot_curves(
            self.store,
            Query(Selection(ids=ids)),
            self.lease,
            _one(params, "x") or None,
            [key for key in _list(params, "y") if key],
            smoothing=smoothing,
            buckets=_number(params, "points", BUCKETS, 10, MAX_BUCKETS),
            read=lambda store, document: self.columns.read(store, document, kind),
            kind=kind,
            x_range=_x_range(params),
        )
        return {
            "x": plot.x,
            "curves": [
                {
                    "trial": curve.trial,
                    "short_id": curve.short_id,
                    "status": curve.status,
                    "key": curve.key,
                    "label": curve.label,
                    "x": curve.xs,
                    "y": curve.ys,
                    "points": curve.points,
                    "branch_points": curve.branch_points,
                    "colour": curve.colour,
                    "style": curve.style,
                    "per_x": curve.per_x,
                }
                for curve in plot.curves
            ],
            "missing": [{"short_id": short, "key": key} for short, key in plot.missing],
        }


def _type_name(value: Any) -> str:
    """The type of a configuration value as a person names it."""
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "float", str: "text", list: "list"}.get(
        type(value), "mapping" if isinstance(value, dict) else type(value).__name__
    )


def _groups(comparison, group_by: list[str], seed_keys: list[str]) -> dict[str, Any]:
    """The groups of ``comparison``'s rows by the configuration keys of ``group_by``, as
    :mod:`kleio.core.reading.groups` defines them for ``kleio compare --group-by``:
    ``{"by": [key...], "statistics": [label...], "rows": [{"values": {key: value},
    "n", "statistics": {label: {"mean", "std"}}}]}``, groups in the order of their first
    row. ``n`` counts a group's trials; a trial without a statistic's number is left out
    of that statistic's mean and standard deviation (``ddof=0``, as numpy's), which are
    None when no trial of the group has one.

    Computed here, from the same rows as the page's table, rather than in the page: the
    numbers come from the one definition ``kleio compare`` uses, so the dashboard cannot
    disagree with the command line, and a group spans every page of rows."""
    from kleio.core.reading.groups import (
        ABSENT,
        DEFAULT_GROUP_AGGREGATES,
        aggregate_group,
        group_of,
        grouping_keys,
    )
    from kleio.core.reading.strict_json import json_ready

    by = grouping_keys(group_by, comparison.configuration, [k for k in seed_keys if k])
    unknown = [key for key in by if key not in comparison.configuration]
    if unknown:
        choices = ", ".join(comparison.configuration) or "none"
        raise SettingsError(
            f"cannot group by {unknown[0]!r}: not a configuration key of these trials that "
            f"differs between them (those are: {choices}; tick every configuration key for "
            "the others)"
        )
    members: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in comparison.rows:
        held = {key: row[key] for key in by if row.get(key, ABSENT) is not None}
        members.setdefault(group_of(held, by), []).append(row)
    rows = [
        {
            "values": {key: found[0].get(key) for key in by},
            "n": len(found),
            "statistics": {
                label: {
                    how: aggregate_group((row.get(label) for row in found), how)
                    for how in DEFAULT_GROUP_AGGREGATES
                }
                for label in comparison.statistics
            },
        }
        for found in members.values()
    ]
    return {"by": by, "statistics": comparison.statistics, "rows": json_ready(rows)}
