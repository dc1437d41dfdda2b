"""Statistics as curves: one statistic key against another over a trial's view, smoothed
and cut down to what a plot can show.

What ``kleio plot`` and the dashboard draw. A trial's statistics are read once into
:class:`Columns` (the numbers of each key, by record), which a reader following a
running trial extends with the records logged since (:func:`read_columns`); a curve is
taken from them by :func:`series`, and :func:`downsample` keeps, per pixel, the first,
lowest, highest and last points: a 1,000,000-point curve is drawn from a few thousand
points and looks the same, its spikes included.

The x axis is a statistic key (``epoch``), or, unless the script logged a key of that
name, ``step`` (the record's number in the view, from 0) or ``time`` (seconds since the
view's first record). Left to choose (:func:`default_x`), it is ``epoch`` when every
record holding a drawn key holds an epoch too, else ``step``. Several values at one x (a
loss logged every batch with its epoch) are drawn as their mean there, one point per x,
not as a vertical sawtooth; :attr:`Series.per_x` says how many were averaged at most.
Only numbers are drawn: text, booleans, NaN and infinities are left out. A branch's view
is its parent's statistics up to the branch point, then its own:
:attr:`Series.branch_points` are the x values where a later generation starts.

Each curve of a plot gets a colour and a line style (:func:`curve_style`), the same in
``kleio plot``'s terminal drawing, its files and the dashboard: one colour per trial and
one style per key, so the statistics of one trial share its colour.
"""

from __future__ import annotations

import itertools
import math
import operator
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from kleio.core.model.errors import KleioError
from kleio.core.model.schema import skip_event
from kleio.core.model.trial import TrialDocument
from kleio.core.model.view import Segment, lineage
from kleio.core.reading.summaries import STATISTIC
from kleio.store.base import Store

#: The x axes every trial has, unless its script logged a key of that name.
STEP, TIME = "step", "time"
#: The x axis chosen, when none is asked for, if every drawn record has it (see default_x).
EPOCH = "epoch"
#: Colours of curves, one per trial in order: matplotlib's default ten (tab10), then ten
#: more taken greedily from tab20b, tab20c, Dark2 and Set1, each the farthest in CIELAB
#: from those before it (at least 23 units apart; tab10's closest pair is 28 apart), and
#: none too light to see on white. The 21st trial takes the first colour again, with the
#: next line styles.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#a6761d", "#637939", "#1b9e77", "#e7969c", "#e7298a",
    "#393b79", "#9e9ac8", "#7b4173", "#a65628", "#d6616b",
)  # fmt: skip
#: Line styles of curves, one per key in order (each drawer knows how to draw each).
STYLES = ("solid", "dashed", "dotted", "dash-dot", "sparse", "long-dash")
#: Points a curve keeps per pixel bucket at most (first, lowest, highest, last).
PER_BUCKET = 4


class SeriesError(KleioError):
    """A key asked for is not one any of the trials logged."""

    exit_code = 2


@dataclass
class Column:
    """The numbers of one key: the records holding one (``positions``; None while every
    record so far has, the usual case, which saves memory) and their values."""

    values: array = field(default_factory=lambda: array("d"))
    positions: array | None = None

    def add(self, position: int, value: float) -> None:
        if self.positions is None and position != len(self.values):
            self.positions = array("q", range(len(self.values)))
        if self.positions is not None:
            self.positions.append(position)
        self.values.append(value)

    def position_list(self) -> Sequence[int]:
        return range(len(self.values)) if self.positions is None else self.positions


@dataclass
class Columns:
    """A trial's view's statistics (or other records, see :func:`read_columns`) by key:
    every record's time, each key's numbers, where each later generation starts, and
    where reading stopped."""

    trial: str
    kind: str = STATISTIC
    times: array = field(default_factory=lambda: array("d"))
    columns: dict[str, Column] = field(default_factory=dict)
    #: Record numbers where the records of a later generation (a branch) start.
    boundaries: list[int] = field(default_factory=list)
    #: The key of the last event read of the trial's own statistics (None: none yet).
    last_key: str | None = None
    #: How many of the trial's own statistics were read.
    own: int = 0

    @property
    def count(self) -> int:
        return len(self.times)

    def size(self) -> int:
        """Numbers held (what a cache of columns counts)."""
        return len(self.times) + sum(
            len(c.values) * (1 if c.positions is None else 2) for c in self.columns.values()
        )

    def copy(self) -> Columns:
        return Columns(
            self.trial,
            self.kind,
            array("d", self.times),
            {
                key: Column(
                    array("d", c.values), None if c.positions is None else array("q", c.positions)
                )
                for key, c in self.columns.items()
            },
            list(self.boundaries),
            self.last_key,
            self.own,
        )

    def add(self, seconds: float, data: dict[str, Any]) -> None:
        position = len(self.times)
        self.times.append(seconds)
        for key, value in data.items():
            if type(value) in (int, float) and math.isfinite(value):
                column = self.columns.get(key)
                if column is None:
                    column = self.columns[key] = Column()
                    if position:
                        column.positions = array("q")
                column.add(position, value)


def read_columns(
    store: Store,
    document: TrialDocument,
    previous: Columns | None = None,
    segments: list[Segment] | None = None,
    recount: bool = True,
    kind: str = STATISTIC,
) -> Columns:
    """The statistics of the trial's view as :class:`Columns`; or, for another ``kind``
    of event holding numbers (``usage``: the resource samples the launcher takes while a
    script runs), those of the trial's own executions.

    With ``previous`` (columns read before, left as they are: another thread may be
    drawing them), only the trial's own records written since are read, and added to a
    copy. With ``recount``, the journal's records of the trial are counted too: when it
    holds more than ``previous`` and those read since account for (older events a spool
    replayed late), or fewer (a trial deleted and made again), everything is read anew.
    Counting costs a scan of the trial's index (0.1 s for 1,000,000 statistics on
    SQLite): a reader following a trial does it now and then.
    """
    trial = document["_id"]
    if previous is not None:
        stored = store.count_events(trial, [kind]) if recount else None
        if stored is None or stored > previous.own:
            previous = _extended(store, previous)
        if stored is None or previous.own >= stored:  # more: logged since counting
            return previous
    if segments is None:
        segments = lineage(store, document) if kind == STATISTIC else [Segment(trial, None)]
    columns = Columns(trial, kind)
    for index, segment in enumerate(segments):
        if index:
            columns.boundaries.append(columns.count)
        own = segment.trial == trial
        for event in store.read_events(
            segment.trial, [kind], until=segment.until, page_size=10_000
        ):
            if type(event.data) is dict:
                columns.add(event.time, event.data)
            else:  # another program wrote it
                skip_event(event)
            if own:
                columns.last_key, columns.own = event.key, columns.own + 1
    # An ancestor with no statistic before its branch point starts nothing to mark.
    columns.boundaries = sorted({b for b in columns.boundaries if b > 0})
    return columns


def _extended(store: Store, previous: Columns) -> Columns:
    """``previous`` and the trial's own records written since (a copy when there are)."""
    events = store.read_events(
        previous.trial, [previous.kind], after=previous.last_key, page_size=10_000
    )
    first = next(events, None)
    if first is None:
        return previous
    extended = previous.copy()
    for event in itertools.chain([first], events):
        if type(event.data) is dict:
            extended.add(event.time, event.data)
        else:  # another program wrote it
            skip_event(event)
        extended.last_key, extended.own = event.key, extended.own + 1
    return extended


@dataclass
class Series:
    """One curve: ``y`` against ``x`` of a trial, and the x values where a branch's own
    records start. ``points`` is how many points the curve had before downsampling."""

    trial: str
    x: str
    y: str
    xs: Sequence[float]
    ys: Sequence[float]
    branch_points: list[float] = field(default_factory=list)
    points: int = 0
    #: The most values ``y`` had at one x, drawn as their mean (1: one value per x).
    per_x: int = 1


def series(columns: Columns, x: str, y: str) -> Series | None:
    """``y`` against ``x`` (see the module documentation), in the order of x, one point
    per x (the mean of the values there); None when the trial has no number of ``y``
    (or of ``x``)."""
    column = columns.columns.get(y)
    if column is None or not column.values:
        return None
    positions = column.position_list()
    if x in columns.columns:
        xs, ys, positions = _joined(columns.columns[x], column)
        if not xs:
            return None
    elif x == STEP:
        xs, ys = array("d", positions), column.values
    elif x == TIME:
        start = columns.times[0]
        times = columns.times
        xs, ys = array("d", (times[p] - start for p in positions)), column.values
    else:
        return None
    branch_points = _branch_points(columns, x, xs, positions)
    per_x = 1
    if not _strictly_ascending(xs):
        if not _ascending(xs):
            order = sorted(range(len(xs)), key=xs.__getitem__)  # stable: records in order
            xs = array("d", (xs[i] for i in order))
            ys = array("d", (ys[i] for i in order))
        xs, ys, per_x = _mean_per_x(xs, ys)
    return Series(columns.trial, x, y, xs, ys, branch_points, points=len(xs), per_x=per_x)


def _mean_per_x(xs: Sequence[float], ys: Sequence[float]) -> tuple[array, array, int]:
    """One point per x (``xs`` ascending): the mean of the ys there; and the most ys one
    x had. Drawn one after the other, 100 losses of one epoch would be a vertical line
    at each epoch: a sawtooth that hides the trend."""
    means, at, most = array("d"), array("d"), 1
    start, count = 0, len(xs)
    while start < count:
        end = bisect_right(xs, xs[start], start)
        at.append(xs[start])
        means.append(math.fsum(ys[start:end]) / (end - start))
        most = max(most, end - start)
        start = end
    return at, means, most


def _joined(x: Column, y: Column) -> tuple[array, array, Sequence[int]]:
    """The values of ``x`` and ``y`` of the records that hold both, and those records."""
    if x.positions is None and y.positions is None:
        count = min(len(x.values), len(y.values))
        return x.values[:count], y.values[:count], range(count)
    x_at = dict(zip(x.position_list(), x.values, strict=True))
    xs, ys, kept = array("d"), array("d"), array("q")
    for position, value in zip(y.position_list(), y.values, strict=True):
        found = x_at.get(position)
        if found is not None:
            xs.append(found)
            ys.append(value)
            kept.append(position)
    return xs, ys, kept


def _branch_points(
    columns: Columns, x: str, xs: Sequence[float], positions: Sequence[int]
) -> list[float]:
    """The x where each later generation branched off: its parent's last point before
    the boundary (the branch's first, when the parent has none there)."""
    points = []
    for boundary in columns.boundaries:
        index = bisect_left(positions, boundary) - 1
        points.append(xs[min(max(index, 0), len(xs) - 1)])
    return points


def _ascending(values: Sequence[float]) -> bool:
    return all(map(operator.le, values, islice(values, 1, None)))


def _strictly_ascending(values: Sequence[float]) -> bool:
    return all(map(operator.lt, values, islice(values, 1, None)))


def default_x(columns: Iterable[Columns], keys: Sequence[str]) -> str:
    """The x axis when none is asked for: ``epoch`` when every record holding one of
    ``keys`` (other than epoch) in every trial holds a number ``epoch`` too, so that no
    point is left out; else ``step``. A script that logs its loss every batch with the
    epoch is drawn against the epoch (the mean per epoch, see :func:`series`); one that
    logs the epoch in other records than the loss, against the step."""
    drawn = [
        (found, found.columns[key])
        for found in columns
        for key in keys
        if key != EPOCH and key in found.columns
    ]
    if drawn and all(
        EPOCH in found.columns and _covers(found.columns[EPOCH], column) for found, column in drawn
    ):
        return EPOCH
    return STEP


def _covers(x: Column, y: Column) -> bool:
    """Whether every record holding ``y`` holds ``x``."""
    if x.positions is None:
        return y.position_list()[-1] < len(x.values) if y.values else True
    return set(y.position_list()) <= set(x.positions)


def curve_style(trial: int, key: int, keys: int) -> tuple[str, str]:
    """The colour and line style of the curve of the ``key``-th of ``keys`` keys of the
    ``trial``-th trial (from 0): the trial's colour and the key's style. Past the
    palette's 20 colours, the colours start again with the styles that follow those of
    the keys: every curve of up to 20 x 6 / ``keys`` trials has a look of its own."""
    round_, colour = divmod(trial, len(PALETTE))
    return PALETTE[colour], STYLES[(round_ * keys + key) % len(STYLES)]


def smooth(values: Sequence[float], weight: float) -> array:
    """An exponential moving average (``weight`` of the past, 0 to 1 excluded),
    corrected at the start as TensorBoard does, so the first points are not pulled to 0."""
    if not 0 <= weight < 1:
        raise SeriesError(f"smoothing must be at least 0 and below 1, not {weight:g}")
    smoothed = array("d")
    average, kept = 0.0, 1.0
    for value in values:
        average = average * weight + (1 - weight) * value
        kept *= weight
        smoothed.append(average / (1 - kept))
    return smoothed


def downsample(
    xs: Sequence[float], ys: Sequence[float], buckets: int
) -> tuple[list[float], list[float]]:
    """At most ``PER_BUCKET * buckets`` points of a curve (``xs`` ascending) drawn like
    the whole: the x range cut into ``buckets`` equal parts (pixels), each keeps its
    first, lowest, highest and last point, in order."""
    kept = _kept(xs, ys, buckets)
    return [xs[i] for i in kept], [ys[i] for i in kept]


def _kept(xs: Sequence[float], ys: Sequence[float], buckets: int) -> Sequence[int]:
    """The indices :func:`downsample` keeps."""
    count = len(xs)
    if count <= PER_BUCKET * buckets or buckets < 1:
        return range(count)
    low, high = xs[0], xs[-1]
    width = (high - low) / buckets
    kept: list[int] = []
    start = 0
    for bucket in range(1, buckets + 1):
        end = (
            count
            if bucket == buckets or width == 0
            else bisect_right(xs, low + bucket * width, start)
        )
        if end > start:
            part = ys[start:end]
            lowest = start + part.index(min(part))
            highest = start + part.index(max(part))
            kept.extend(sorted({start, lowest, highest, end - 1}))
        start = end
        if start >= count:
            break
    return kept


#: What a group's band spans around its mean (``kleio plot --band``): the mean plus and
#: minus the standard deviation of its trials (numpy's, ``ddof=0``), their lowest to
#: highest value, or nothing.
BANDS = ("std", "range", "none")
DEFAULT_BAND = "std"


@dataclass
class GroupSeries:
    """A group's curve: at each x kept, the mean over the trials that have a value
    there, the band's edges (None: ``--band none``) and how many trials that was."""

    xs: list[float]
    means: list[float]
    lower: list[float] | None
    upper: list[float] | None
    counts: list[int]
    #: x values left out: held by some trials only, inside the span of the others.
    left_out: int = 0


def group_series(
    curves: Sequence[tuple[Sequence[float], Sequence[float]]], band: str = DEFAULT_BAND
) -> GroupSeries:
    """The curves of a group's trials (each ``(xs, ys)``, one point per x, ascending)
    aligned on x, not on their points' order: at each x, the mean (and band) of the
    trials that have a value there, by :func:`~kleio.core.reading.groups.aggregate_group`.

    An x that a trial does not have although its curve spans it (one logs every epoch,
    another every second one) is left out: the mean there would be over other trials
    than at the x beside it, and the curve would zigzag between the two. Past a trial's
    last x (or before its first), the others go on alone: ``counts`` says how many.
    """
    from kleio.core.reading.groups import aggregate_group

    values: dict[float, list[float]] = {}
    for xs, ys in curves:
        for x, y in zip(xs, ys, strict=True):
            values.setdefault(x, []).append(y)
    spans = [(xs[0], xs[-1]) for xs, _ in curves if len(xs)]
    lows, highs = (
        (None, None) if band == "none" else ("std", "std") if band == "std" else ("min", "max")
    )
    found = GroupSeries([], [], None if lows is None else [], None if highs is None else [], [])
    for x in sorted(values):
        here = values[x]
        if len(here) < sum(1 for low, high in spans if low <= x <= high):
            found.left_out += 1
            continue
        mean = aggregate_group(here, "mean")
        found.xs.append(x)
        found.means.append(mean)
        found.counts.append(len(here))
        if band == "std":
            spread = aggregate_group(here, "std")
            found.lower.append(mean - spread)
            found.upper.append(mean + spread)
        elif band == "range":
            found.lower.append(aggregate_group(here, "min"))
            found.upper.append(aggregate_group(here, "max"))
    return found


def _binned(
    curves: Sequence[tuple[Sequence[float], Sequence[float]]], bins: int
) -> list[tuple[array, array]]:
    """The curves on a common grid of x: their span cut into ``bins`` equal intervals,
    each trial's mean over an interval at its middle. Seconds since a trial's first
    record are never the same in two trials, so they are aligned this way."""
    low = min(xs[0] for xs, _ in curves)
    high = max(xs[-1] for xs, _ in curves)
    width = (high - low) / bins if high > low else 1.0
    binned = []
    for xs, ys in curves:
        sums: dict[int, list[float]] = {}
        for x, y in zip(xs, ys, strict=True):
            sums.setdefault(min(int((x - low) / width), bins - 1), []).append(y)
        binned.append(
            (
                array("d", (low + (i + 0.5) * width for i in sums)),
                array("d", (math.fsum(part) / len(part) for part in sums.values())),
            )
        )
    return binned


def chosen_keys(text: str | Iterable[str]) -> list[str]:
    """``"loss,acc"`` -> ``["loss", "acc"]``."""
    words = text.split(",") if isinstance(text, str) else text
    return [word.strip() for word in words if word.strip()]


@dataclass
class Curve:
    """A curve to draw: ``key`` of one trial, named by ``label`` in a legend."""

    trial: str
    short_id: str
    status: str
    key: str
    label: str
    xs: list[float]
    ys: list[float]
    branch_points: list[float]
    #: Points before downsampling.
    points: int
    #: Colour (``#rrggbb``) and line style (one of :data:`STYLES`), see :func:`curve_style`.
    colour: str = PALETTE[0]
    style: str = STYLES[0]
    #: The most values logged at one x, drawn as their mean (1: one per x).
    per_x: int = 1
    #: The trial's name in a legend (``label`` without the key).
    trial_label: str = ""
    #: A group's curve (``kleio plot --group-by``): its band's edges at each x (None:
    #: no band), and how many of its trials drew the mean there, at most (``trials``).
    lower: list[float] | None = None
    upper: list[float] | None = None
    trials: int = 1


@dataclass
class Plot:
    """The curves of several trials and keys against one x; ``missing`` names the
    ``(short id, key)`` pairs a trial did not log; ``trials`` and ``keys`` are those
    asked for, in order (each curve's colour and style follow from them)."""

    x: str
    curves: list[Curve]
    missing: list[tuple[str, str]]
    trials: int = 0
    keys: list[str] = field(default_factory=list)
    #: The trials whose documents could not be read (each a
    #: :class:`~kleio.core.reading.selection.Skipped`).
    skipped: list = field(default_factory=list)
    #: Grouped (``--group-by``): what each group's band spans (one of :data:`BANDS`), and
    #: what the reader should know of how the groups' curves were aligned (one line each).
    band: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def per_x(self) -> int:
        """The most values a curve had at one x, drawn as their mean (1: none averaged)."""
        return max((curve.per_x for curve in self.curves), default=1)


def trial_labels(rows: Sequence[dict[str, Any]], configuration: Sequence[str]) -> dict[str, str]:
    """Each trial's name in a legend: its short id and the configuration keys whose
    values differ between the trials (the columns of ``kleio compare``):
    ``2762dec lr=0.01 batch=32``."""
    from kleio.core.reading.readable import value

    return {
        row["id"]: " ".join(
            [row["short_id"]]
            + [f"{key}={value(row[key])}" for key in configuration if row.get(key) is not None]
        )
        for row in rows
    }


def plot_curves(
    store: Store,
    query: Any,
    lease: float,
    x: str | None,
    keys: Sequence[str],
    *,
    smoothing: float = 0.0,
    buckets: int | None = None,
    read=read_columns,
    all_configuration: bool = False,
    group_by: Sequence[str] = (),
    seed_keys: Sequence[str] = (),
    band: str = DEFAULT_BAND,
    kind: str = STATISTIC,
    pixels: int | None = None,
    x_range: tuple[float, float] | None = None,
) -> Plot:
    """The curves of ``keys`` against ``x`` for the trials ``query`` selects (a
    :class:`~kleio.core.reading.query.Query`), in its order (that of the ids it names, unless it
    sorts), each smoothed (``smoothing``, see
    :func:`smooth`) and downsampled to ``buckets`` pixels when given. ``read`` reads a
    trial's :class:`Columns` (the dashboard passes its cache). ``x`` None: the x of
    :func:`default_x`. Each curve's colour and style come from :func:`curve_style`, by
    the trial's place in the selection and the key's in ``keys``, so a trial keeps its
    colour when another key is drawn or another trial did not log one. A legend names a
    trial by the configuration keys that differ (``all_configuration``: by every key, as
    ``kleio compare --all`` shows them).

    With ``group_by`` (configuration keys; see
    :func:`~kleio.core.reading.groups.grouping_keys`), one curve per group of trials
    instead: their mean at each x, with a ``band`` (see :func:`group_series`); each
    trial is smoothed before the mean is taken. A group is named by its values of the
    keys that differ between the groups (``all_configuration``: of every key it is
    grouped by) and its number of trials: ``lr=0.01 n=3``.

    An ``x`` or a key that no selected trial logged, or a key to group by that no
    selected trial has, is a :class:`SeriesError` naming those they did.

    Downsampled (``buckets``), neither smoothed nor grouped, a long trial's curves of
    ``kind`` (``read``'s kind) are read through its blocks where they draw the same
    curve (see :mod:`kleio.core.reading.curves`), and its points are not read at all;
    ``pixels``, the columns of dots the curves are drawn in when fewer than ``buckets``
    (a terminal), lets blocks too few for ``buckets`` draw them at fewer buckets, no
    fewer than ``pixels``.

    ``x_range`` (low, high: a zoom) draws each curve from low to high alone (inclusive),
    at ``buckets`` pixels over that range, each curve's ``points`` counting those in it; a
    long trial's from the blocks that reach into it, or, too few, from the exact points
    of those blocks alone (see :func:`~kleio.core.reading.curves.blocked_curve`).
    """
    from kleio.core.reading.comparison import NAME, compare_trials
    from kleio.core.reading.curves import blocked_columns
    from kleio.core.reading.selection import nothing_selected

    if not keys:
        raise SeriesError("no statistic to draw: name one or more keys (loss,acc)")
    if smoothing:
        smooth([], smoothing)  # checks the weight before reading anything
    if band not in BANDS:
        raise SeriesError(f"unknown band {band!r}: choose among {', '.join(BANDS)}")
    if x_range is not None and group_by:
        raise SeriesError("a range of x draws trials' curves, not groups")
    comparison = compare_trials(
        store, query, lease, keys=[], all_configuration=all_configuration or bool(group_by)
    )
    if not comparison.rows:
        from kleio.core.reading.selection import describe_skipped

        skipped = f" ({describe_skipped(comparison.skipped)})" if comparison.skipped else ""
        raise SeriesError(nothing_selected(store, "nothing to draw") + skipped)
    rows = comparison.rows
    named = [text.strip() for text in query.selection.ids]  # ids, prefixes or names
    if named and not query.sort:  # in the order the trials were named
        rows = sorted(
            rows,
            key=lambda row: next(
                i
                for i, p in enumerate(named)
                if row["id"].startswith(p.lower()) or row.get(NAME) == p
            ),
        )
    labels = trial_labels(rows, comparison.configuration)
    several = len(keys) > 1
    read_of: dict[str, Any] = {}
    blocks = bool(buckets) and not smoothing and not group_by
    for row in rows:
        document = store.get_trial(row["id"])
        if document is None:
            continue
        blocked = None
        if blocks:

            def exact(document=document):
                return read(store, document)

            blocked = blocked_columns(store, document, exact, kind)
        if blocked is not None and x is None and EPOCH in blocked.columns:
            blocked = None  # drawn by epoch (see default_x): a mean per x, from the points
        read_of[row["id"]] = blocked if blocked is not None else read(store, document)
    logged = list(dict.fromkeys(k for columns in read_of.values() for k in columns.columns))
    if x is None:
        x = default_x(read_of.values(), keys)
    if x not in (STEP, TIME) and x not in logged:
        raise SeriesError(
            f"no trial logged a number {x!r} for the x axis; {_choices(logged, STEP, TIME)}"
        )
    unknown = [key for key in keys if key not in logged]
    if unknown:
        raise SeriesError(f"no trial logged a number {unknown[0]!r}; {_choices(logged)}")
    if group_by:
        return _grouped_plot(
            rows,
            comparison,
            read_of,
            x,
            keys,
            _Grouping(list(group_by), list(seed_keys), band, all_configuration),
            smoothing=smoothing,
            buckets=buckets,
        )
    curves, missing = [], []
    for place, row in enumerate(rows):
        columns = read_of.get(row["id"])
        for index, key in enumerate(keys):
            drawn = _blocked(columns, x, key, buckets, pixels, x_range)
            if drawn is not None:
                xs, ys, found = drawn
                points = found.points
            else:
                if columns is not None and not isinstance(columns, Columns):
                    held = key in columns.columns and (x in (STEP, TIME) or x in columns.columns)
                    columns = columns.exact() if held else None
                found = series(columns, x, key) if columns is not None else None
                if found is None:
                    missing.append((row["short_id"], key))
                    continue
                ys = smooth(found.ys, smoothing) if smoothing else found.ys
                xs, points = found.xs, found.points
                if x_range is not None:  # a zoom: the points from low to high
                    first = bisect_left(xs, x_range[0])
                    end = bisect_right(xs, x_range[1], first)
                    xs, ys, points = xs[first:end], ys[first:end], end - first
                xs, ys = downsample(xs, ys, buckets) if buckets else (xs, ys)
            curves.append(
                Curve(
                    row["id"],
                    row["short_id"],
                    row["status"],
                    key,
                    f"{labels[row['id']]} {key}" if several else labels[row["id"]],
                    list(xs),
                    list(ys),
                    found.branch_points,
                    points,
                    *curve_style(place, index, len(keys)),
                    per_x=found.per_x,
                    trial_label=labels[row["id"]],
                )
            )
    return Plot(x, curves, missing, trials=len(rows), keys=list(keys), skipped=comparison.skipped)


def _blocked(
    columns: Any,
    x: str,
    key: str,
    buckets: int | None,
    pixels: int | None,
    x_range: tuple[float, float] | None = None,
) -> tuple[list[float], list[float], Series] | None:
    """The points drawn of ``key`` through a long trial's blocks, and its series (whose
    points are not read), when its blocks can draw it (see
    :mod:`kleio.core.reading.curves`) at ``buckets``, or at fewer, no fewer than
    ``pixels``; over ``x_range`` alone when given (a zoom, see
    :func:`~kleio.core.reading.curves.blocked_curve`)."""
    from kleio.core.reading.curves import BlockedColumns, blocked_curve

    if not buckets or not isinstance(columns, BlockedColumns):
        return None
    least = min(pixels or buckets, buckets)
    drawn = blocked_curve(columns, x, key, buckets, least=least, x_range=x_range)
    if drawn is None:
        return None
    xs, ys, points = drawn
    return xs, ys, Series(columns.trial, x, key, xs, ys, [], points=points)


@dataclass
class _Grouping:
    """How ``kleio plot --group-by`` groups: by which keys, which are seeds, what band."""

    by: list[str]
    seed_keys: list[str]
    band: str
    all_configuration: bool


def _grouped_plot(
    rows: Sequence[dict[str, Any]],
    comparison: Any,
    read_of: dict[str, Columns],
    x: str,
    keys: Sequence[str],
    grouping: _Grouping,
    *,
    smoothing: float,
    buckets: int | None,
) -> Plot:
    """One curve per group of trials and key: see :func:`plot_curves`."""
    from kleio.core.reading.groups import EVERY_KEY, group_of, grouping_keys, is_seed
    from kleio.core.reading.readable import value

    configuration = comparison.configuration  # every key of every trial
    by = grouping_keys(grouping.by, configuration, grouping.seed_keys)
    unknown = [key for key in by if key not in configuration]
    if unknown:
        raise SeriesError(
            f"no trial has a configuration key {unknown[0]!r} to group by; "
            + (f"keys: {', '.join(configuration)}" if configuration else "they have none")
        )
    notes = []
    if EVERY_KEY in grouping.by:
        seeds = [key for key in configuration if is_seed(key, grouping.seed_keys)]
        notes.append(
            f"grouped by {', '.join(by) or 'no key (one group)'}"
            + (f"; seeds: {', '.join(seeds)}" if seeds else "")
        )
    members: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:  # the groups in the order of their first trial
        held = {key: row[key] for key in configuration if row.get(key) is not None}
        members.setdefault(group_of(held, by), []).append(row)
    shown = by
    if not grouping.all_configuration:  # what tells the groups apart
        shown = [
            key for place, key in enumerate(by) if len({group[place] for group in members}) > 1
        ] or by
    several = len(keys) > 1
    curves, missing = [], []
    for place, trials in enumerate(members.values()):
        first = trials[0]
        name = " ".join(
            f"{key}={value(first[key]) if first.get(key) is not None else '-'}" for key in shown
        )
        for index, key in enumerate(keys):
            found = []
            for row in trials:
                columns = read_of.get(row["id"])
                one = series(columns, x, key) if columns is not None else None
                if one is None:
                    missing.append((row["short_id"], key))
                else:
                    found.append(one)
            if not found:
                continue
            drawn = [(one.xs, smooth(one.ys, smoothing) if smoothing else one.ys) for one in found]
            if x == TIME:  # the sparsest trial's points, one per pixel at most
                drawn = _binned(drawn, max(1, min(min(len(xs) for xs, _ in drawn), 2000)))
            group = group_series(drawn, grouping.band)
            label = f"{name or 'all trials'} n={len(found)}"
            what = f"{label} {key}" if several else label
            if group.left_out:
                notes.append(
                    f"{what}: {group.left_out} {x} value{'s' if group.left_out > 1 else ''} "
                    "held by only some of its trials, inside the others' span, left out (a "
                    "mean over other trials at each x would zigzag)"
                )
            fewer = sum(1 for count in group.counts if count < len(found))
            if fewer:
                notes.append(
                    f"{what}: at {fewer} of its {len(group.xs)} {x} values, fewer of its trials "
                    "have a value (past the end of some): its mean and band there are over "
                    "those that do"
                )
            kept: Sequence[int] = range(len(group.xs))
            if buckets:  # what each of the mean and the band's edges keeps
                kept = sorted(
                    set().union(
                        *(
                            _kept(group.xs, ys, buckets)
                            for ys in (group.means, group.lower, group.upper)
                            if ys is not None
                        )
                    )
                )
            curves.append(
                Curve(
                    f"group {place}",
                    first["short_id"],
                    first["status"],
                    key,
                    what,
                    [group.xs[i] for i in kept],
                    [group.means[i] for i in kept],
                    [],
                    len(group.xs),
                    *curve_style(place, index, len(keys)),
                    per_x=max(one.per_x for one in found),
                    trial_label=label,
                    lower=None if group.lower is None else [group.lower[i] for i in kept],
                    upper=None if group.upper is None else [group.upper[i] for i in kept],
                    trials=len(found),
                )
            )
    return Plot(
        x,
        curves,
        missing,
        trials=len(members),
        keys=list(keys),
        skipped=comparison.skipped,
        band=grouping.band,
        notes=notes,
    )


def _choices(logged: Sequence[str], *extra: str) -> str:
    shown = [*extra, *logged]
    more = f" and {len(shown) - 25} more" if len(shown) > 25 else ""
    return f"keys: {', '.join(shown[:25])}{more}" if shown else "no statistic was logged"
