"""Curves of statistics (what ``kleio plot`` and the dashboard draw): columns read from a
trial's view, one key against another, smoothing, and downsampling that keeps what a
plot of every point shows."""

from __future__ import annotations

import math
import random

import pytest

from kleio.core.reading.query import Query
from kleio.core.reading.selection import Selection
from kleio.core.reading.series import (
    PER_BUCKET,
    SeriesError,
    downsample,
    plot_curves,
    read_columns,
    series,
    smooth,
)
from kleio.store.base import Event
from kleio.store.keys import event_key


def _trial(store, trial_id, parent=None, until=None, configuration=None):
    refers = {"parent": parent, "time": until} if parent else {}
    document = {
        "_id": trial_id,
        "created": 1.0,
        "status": "completed",
        "refers": refers,
        "configuration": configuration or {},
        "commandline": ["python", "train.py"],
    }
    store.create_trial(document)
    return document


def _log(store, trial_id, start_time, values, writer="w", first=0):
    store.append_events(
        [
            Event(
                trial_id,
                "statistic",
                event_key(start_time + i, writer, first + i),
                start_time + i,
                data,
            )
            for i, data in enumerate(values)
        ]
    )


def test_only_numbers_are_columns_and_records_keep_their_numbers(store):
    document = _trial(store, "a" * 32)
    _log(
        store,
        document["_id"],
        100.0,
        [
            {"epoch": 0, "loss": 1.0, "phase": "train"},
            {"epoch": 1, "loss": float("nan"), "best": True},
            {"epoch": 2, "loss": 0.5, "acc": 0.7},
            {"epoch": 3, "loss": float("inf"), "acc": 0.8},
        ],
    )
    columns = read_columns(store, document)
    assert columns.count == 4
    assert set(columns.columns) == {"epoch", "loss", "acc"}  # no text, no bool
    loss = series(columns, "epoch", "loss")
    assert (list(loss.xs), list(loss.ys)) == ([0, 2], [1.0, 0.5])
    acc = series(columns, "step", "acc")
    assert (list(acc.xs), list(acc.ys)) == ([2, 3], [0.7, 0.8])  # the records' numbers
    assert list(series(columns, "time", "epoch").xs) == [0, 1, 2, 3]  # seconds from the first
    assert series(columns, "epoch", "phase") is None
    assert series(columns, "nothing", "loss") is None


def test_a_key_logged_as_x_by_the_script_wins_over_step_and_time(store):
    document = _trial(store, "b" * 32)
    _log(store, document["_id"], 100.0, [{"step": 10 * i, "loss": i} for i in range(3)])
    curve = series(read_columns(store, document), "step", "loss")
    assert list(curve.xs) == [0, 10, 20]


def test_a_curve_against_a_key_that_goes_down_is_drawn_in_the_order_of_x(store):
    document = _trial(store, "c" * 32)
    _log(store, document["_id"], 100.0, [{"loss": 1 / (i + 1), "acc": i} for i in range(5)])
    curve = series(read_columns(store, document), "loss", "acc")
    assert list(curve.xs) == sorted(curve.xs)
    assert list(curve.ys) == [4, 3, 2, 1, 0]


def test_a_branch_curve_is_its_parents_up_to_the_branch_point_marked_where_it_branched(store):
    _trial(store, "p" * 32)
    _log(store, "p" * 32, 100.0, [{"epoch": e, "loss": 10 - e} for e in range(10)])
    child = _trial(store, "c" * 32, parent="p" * 32, until=104.0)  # after epochs 0..4
    _log(store, "c" * 32, 200.0, [{"epoch": e, "loss": 1.0} for e in range(5, 8)], "x")
    grandchild = _trial(store, "g" * 32, parent="c" * 32, until=201.0)  # after epoch 6
    _log(store, "g" * 32, 300.0, [{"epoch": 7, "loss": 0.5}], "y")
    curve = series(read_columns(store, child), "epoch", "loss")
    assert list(curve.xs) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert list(curve.ys) == [10, 9, 8, 7, 6, 1, 1, 1]
    assert curve.branch_points == [4]  # the last point the parent gave
    deeper = series(read_columns(store, grandchild), "step", "loss")
    assert list(deeper.ys) == [10, 9, 8, 7, 6, 1, 1, 0.5]
    assert deeper.branch_points == [4, 6]


def test_columns_read_again_add_only_what_was_logged_since_and_leave_the_old_as_it_was(store):
    document = _trial(store, "d" * 32)
    _log(store, document["_id"], 100.0, [{"loss": 1.0}, {"loss": 0.9}])
    first = read_columns(store, document)
    assert read_columns(store, document, first) is first  # nothing new: nothing read
    _log(store, document["_id"], 102.0, [{"loss": 0.8}], first=2)
    later = read_columns(store, document, first)
    assert list(later.columns["loss"].values) == [1.0, 0.9, 0.8]
    assert list(first.columns["loss"].values) == [1.0, 0.9]  # another thread may draw it


def test_statistics_that_arrive_late_before_the_last_read_are_read_anew(store):
    """A spool replayed after an outage appends events older than the last read."""
    document = _trial(store, "e" * 32)
    _log(store, document["_id"], 100.0, [{"loss": 1.0}], writer="a")
    _log(store, document["_id"], 102.0, [{"loss": 0.5}], writer="a", first=1)
    first = read_columns(store, document)
    _log(store, document["_id"], 101.0, [{"loss": 0.7}], writer="b")  # from the spool
    again = read_columns(store, document, first)
    assert list(again.columns["loss"].values) == [1.0, 0.7, 0.5]


def test_downsampling_keeps_each_buckets_first_lowest_highest_and_last_point():
    rng = random.Random(4)
    xs = [i * 0.5 for i in range(10_000)]
    ys = [rng.gauss(0, 1) + (50 if i == 7_777 else 0) for i in range(10_000)]
    kept_x, kept_y = downsample(xs, ys, 100)
    assert len(kept_x) <= PER_BUCKET * 100
    assert kept_x == sorted(kept_x)
    assert (kept_x[0], kept_x[-1]) == (xs[0], xs[-1])
    assert max(kept_y) == max(ys) and min(kept_y) == min(ys)  # the spike is drawn
    # Each pixel's column shows the same range as with every point.
    width = (xs[-1] - xs[0]) / 100
    for bucket in range(100):
        low, high = xs[0] + bucket * width, xs[0] + (bucket + 1) * width
        inside = [y for x, y in zip(xs, ys, strict=True) if low < x <= high or x == low == xs[0]]
        kept = [y for x, y in zip(kept_x, kept_y, strict=True) if low < x <= high or x == low]
        assert (min(kept), max(kept)) == (min(inside), max(inside))


def test_a_million_points_come_down_to_a_few_thousand():
    xs = list(range(1_000_000))
    ys = [math.sin(i / 1000) for i in xs]
    kept_x, kept_y = downsample(xs, ys, 1000)
    assert 1000 <= len(kept_x) <= 4000
    assert min(kept_y) == pytest.approx(-1, abs=1e-6) and max(kept_y) == pytest.approx(1, abs=1e-6)


def test_a_short_curve_is_drawn_whole():
    assert downsample([1, 2, 3], [3, 1, 2], 10) == ([1, 2, 3], [3, 1, 2])


def test_smoothing_is_a_moving_average_that_is_not_pulled_to_zero_at_the_start():
    assert list(smooth([5.0, 5.0, 5.0], 0.9)) == pytest.approx([5.0, 5.0, 5.0])
    assert list(smooth([1.0, 3.0], 0.0)) == [1.0, 3.0]
    # 0.5 of the past: (0.5 * 1 + 3) / 1.5 weights 1 then 3 as 1:2.
    assert list(smooth([1.0, 3.0], 0.5)) == pytest.approx([1.0, (0.5 * 1 + 3) / 1.5])
    with pytest.raises(SeriesError, match="below 1"):
        smooth([1.0], 1.0)


def test_curves_are_named_by_short_id_and_the_configuration_that_differs(store):
    ids = {}
    for lr, batch in ((0.1, 32), (0.01, 32)):
        trial_id = ("1" if lr == 0.1 else "2") * 32
        _trial(store, trial_id, configuration={"lr": lr, "batch": batch})
        _log(store, trial_id, 100.0, [{"loss": lr * i, "epoch": i} for i in range(3)])
        ids[lr] = trial_id
    query = Query(Selection(ids=list(ids.values())))
    plot = plot_curves(store, query, 60.0, "epoch", ["loss"])
    labels = sorted(curve.label for curve in plot.curves)
    assert labels == ["1111111 lr=0.1", "2222222 lr=0.01"]  # batch is the same: left out
    both = plot_curves(store, query, 60.0, "epoch", ["loss", "epoch"])
    assert sorted(curve.label for curve in both.curves)[0] == "1111111 lr=0.1 epoch"
    with pytest.raises(SeriesError, match="no trial logged a number 'los'; keys: .*loss"):
        plot_curves(store, query, 60.0, "epoch", ["los"])
    with pytest.raises(SeriesError, match="x axis; keys: step, time, loss, epoch"):
        plot_curves(store, query, 60.0, "epochs", ["loss"])


def test_a_trial_that_did_not_log_a_key_is_named_and_left_out(store):
    _trial(store, "1" * 32, configuration={"lr": 0.1})
    _log(store, "1" * 32, 100.0, [{"loss": 1.0, "acc": 0.5}])
    _trial(store, "2" * 32, configuration={"lr": 0.2})
    _log(store, "2" * 32, 100.0, [{"loss": 2.0}])
    plot = plot_curves(store, Query(Selection(ids=["1" * 32, "2" * 32])), 60.0, "step", ["acc"])
    assert [curve.trial for curve in plot.curves] == ["1" * 32]
    assert plot.missing == [("2222222", "acc")]


def test_a_cache_of_columns_reads_what_was_logged_since_and_counts_now_and_then(store):
    from kleio.ui.api import ColumnCache

    document = _trial(store, "f" * 32)
    _log(store, document["_id"], 100.0, [{"loss": 1.0}], writer="a")
    _log(store, document["_id"], 102.0, [{"loss": 0.5}], writer="a", first=1)
    seldom = ColumnCache(recount=3600)
    assert list(seldom.read(store, document).columns["loss"].values) == [1.0, 0.5]
    counted = []
    original = type(store).count_events
    type(store).count_events = lambda self, *a: counted.append(a) or original(self, *a)
    try:
        _log(store, document["_id"], 103.0, [{"loss": 0.25}], writer="a", first=2)
        assert list(seldom.read(store, document).columns["loss"].values) == [1.0, 0.5, 0.25]
        assert counted == []  # what followed was read without counting
        _log(store, document["_id"], 101.0, [{"loss": 0.7}], writer="b")  # replayed late
        always = ColumnCache(recount=0)
        always.read(store, document)
        _log(store, document["_id"], 101.5, [{"loss": 0.6}], writer="c")
        found = always.read(store, document).columns["loss"].values
        assert list(found) == [1.0, 0.7, 0.6, 0.5, 0.25] and counted
    finally:
        type(store).count_events = original


def test_a_cache_of_columns_forgets_the_least_recently_drawn_past_its_limit(store):
    from kleio.ui.api import ColumnCache

    cache = ColumnCache(limit=25)
    documents = [_trial(store, name * 32) for name in "123"]
    for document in documents:
        _log(store, document["_id"], 100.0, [{"loss": float(i)} for i in range(5)])
    for document in documents:  # 5 times and 5 values each: 10 numbers a trial
        cache.read(store, document)
    assert [trial for trial, _kind in cache._entries] == ["2" * 32, "3" * 32]


def test_several_values_at_one_x_are_drawn_as_their_mean_one_point_per_x(store):
    document = _trial(store, "5" * 32)
    batches = [{"epoch": e, "loss": 10 * e + b} for e in range(3) for b in range(4)]
    _log(store, document["_id"], 100.0, [*batches, {"epoch": 1, "loss": 100.0}])  # a late one
    curve = series(read_columns(store, document), "epoch", "loss")
    assert list(curve.xs) == [0, 1, 2]
    assert list(curve.ys) == [1.5, (10 + 11 + 12 + 13 + 100) / 5, 21.5]
    assert curve.per_x == 5 and curve.points == 3
    every = series(read_columns(store, document), "step", "loss")
    assert len(every.xs) == 13 and every.per_x == 1


def test_the_x_axis_is_the_epoch_when_every_record_drawn_has_one_else_the_step(store):
    from kleio.core.reading.series import default_x

    every = _trial(store, "6" * 32)
    _log(store, every["_id"], 100.0, [{"epoch": i // 2, "loss": 1.0, "acc": 0.5} for i in range(4)])
    apart = _trial(store, "7" * 32)  # the epoch in records of its own
    _log(store, apart["_id"], 100.0, [{"loss": 1.0}, {"loss": 0.9}, {"epoch": 0, "acc": 0.5}])
    both, alone = read_columns(store, every), read_columns(store, apart)
    assert default_x([both], ["loss", "acc"]) == "epoch"
    assert default_x([alone], ["acc"]) == "epoch"
    assert default_x([alone], ["loss"]) == "step"  # against the epoch, loss has no point
    assert default_x([both, alone], ["loss"]) == "step"  # one trial is enough
    assert default_x([both], ["epoch"]) == "step"  # the epoch against itself: no
    plot = plot_curves(store, Query(Selection(ids=[every["_id"]])), 60.0, None, ["loss"])
    assert plot.x == "epoch" and plot.curves[0].xs == [0, 1] and plot.per_x == 2
    plot = plot_curves(store, Query(Selection(ids=[apart["_id"]])), 60.0, None, ["loss"])
    assert plot.x == "step" and plot.curves[0].xs == [0, 1]


def test_a_trial_keeps_one_colour_for_every_key_and_colours_start_again_after_twenty(store):
    from kleio.core.reading.series import PALETTE, STYLES, curve_style

    assert len(set(PALETTE)) == 20
    assert [curve_style(t, 0, 2)[0] for t in range(20)] == list(PALETTE)
    assert {curve_style(t, k, 2)[1] for t in range(20) for k in (0, 1)} == {"solid", "dashed"}
    # Past 20 trials, the colours come back with other styles: no two curves look alike.
    for keys in (1, 2, 3):
        trials = len(PALETTE) * len(STYLES) // keys
        looks = {curve_style(t, k, keys) for t in range(trials) for k in range(keys)}
        assert len(looks) == trials * keys
    assert curve_style(20, 0, 1) == (PALETTE[0], "dashed")
    for name in "89":
        _trial(store, name * 32, configuration={"lr": int(name)})
        _log(store, name * 32, 100.0, [{"loss": 1.0, "acc": 0.5}, {"loss": 0.5, "acc": 0.7}])
    plot = plot_curves(
        store, Query(Selection(ids=["8" * 32, "9" * 32])), 60.0, None, ["loss", "acc"]
    )
    looks = [(curve.short_id, curve.key, curve.colour, curve.style) for curve in plot.curves]
    assert looks == [
        ("8888888", "loss", PALETTE[0], "solid"),
        ("8888888", "acc", PALETTE[0], "dashed"),
        ("9999999", "loss", PALETTE[1], "solid"),
        ("9999999", "acc", PALETTE[1], "dashed"),
    ]
