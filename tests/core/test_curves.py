"""Curves of long trials drawn from their blocks (kleio/core/reading/curves.py): the
same first, lowest, highest and last value per pixel as the points give, without
reading a point; and every curve blocks cannot draw read from the points, as before."""

from __future__ import annotations

import json
import math
import random

import pytest

from kleio.core.reading import curves
from kleio.core.reading.query import Query
from kleio.core.reading.selection import Selection
from kleio.core.reading.series import plot_curves
from kleio.store.base import Event
from kleio.store.keys import event_key

RECORDS, BATCH = 6_000, 50  # 120 blocks


def _long_trial(store, trial_id: str, data_of) -> None:
    store.create_trial(
        {"_id": trial_id, "created": 1.0, "status": "completed", "refers": {}, "configuration": {}}
    )
    for first in range(0, RECORDS, BATCH):  # one block per batch
        store.append_events(
            [
                Event(trial_id, "statistic", event_key(10.0 + i, "w", i), 10.0 + i, data_of(i))
                for i in range(first, first + BATCH)
            ]
        )


@pytest.fixture
def long_from(monkeypatch):
    """Trials of 500 records or more count as long (100,000 by default)."""
    monkeypatch.setattr(curves, "BLOCKED_FROM", 500)


def _no_point_read(store, monkeypatch):
    def refused(*args, **kwargs):
        raise AssertionError("a point was read")

    monkeypatch.setattr(store, "read_events", refused)
    monkeypatch.setattr(store, "read_data", refused)


def _walk(seed: int) -> list[float]:
    rng, value, values = random.Random(seed), 0.0, []
    for _ in range(RECORDS):
        value += rng.gauss(0, 1)
        values.append(value)
    return values


@pytest.mark.parametrize("x", ["step", "time", "position"])
def test_a_long_curve_is_drawn_from_its_blocks_without_reading_a_point(
    store, monkeypatch, long_from, x
):
    losses = _walk(26)
    logged = "step" if x == "step" else "s"  # "position": the record number (x step)
    _long_trial(store, "a" * 32, lambda i: {logged: i, "loss": losses[i]})
    blocks = store.read_blocks("a" * 32, "statistic")
    _no_point_read(store, monkeypatch)
    axis = "time" if x == "time" else "step"
    plot = plot_curves(store, Query(Selection(ids=["a" * 32])), 60.0, axis, ["loss"], buckets=25)
    (curve,) = plot.curves
    assert curve.points == RECORDS and plot.x == axis
    # Pixel by pixel: the blocks starting in it, and the exact values of their records.
    starts = [json.loads(block.summary)["t"][0] - 10.0 for block in blocks]
    width = (RECORDS - 1) / 25
    expected: dict[int, list[float]] = {}
    at = 0
    for start, block in zip(starts, blocks, strict=True):
        pixel = curves.pixel_of(start, 0.0, width, 25)
        expected.setdefault(pixel, []).extend(losses[at : at + block.count])
        at += block.count
    drawn: dict[int, list[float]] = {}
    for px, py in zip(curve.xs, curve.ys, strict=True):
        drawn.setdefault(curves.pixel_of(px, 0.0, width, 25), []).append(py)
    assert len(expected) == 25
    for pixel, ys in expected.items():
        # Points are drawn where their pixel is (a lowest point's x may lie a block on).
        near = drawn.get(pixel, []) + drawn.get(pixel + 1, [])
        assert ys[0] in near and ys[-1] in near
        assert min(ys) in near and max(ys) in near
    assert min(curve.ys) == min(losses) and max(curve.ys) == max(losses)
    assert len(curve.xs) <= 4 * 25 and curve.xs == sorted(curve.xs)


def _both(store, monkeypatch, x, keys, **options):
    """The plot through blocks where they can draw it, and from every point."""
    query = Query(Selection(ids=["a" * 32]))
    blocked = plot_curves(store, query, 60.0, x, keys, buckets=25, **options)
    monkeypatch.setattr(curves, "BLOCKED_FROM", math.inf)
    exact = plot_curves(store, query, 60.0, x, keys, buckets=25, **options)
    return blocked, exact


@pytest.mark.parametrize(
    "x, keys, options",
    [
        (None, ["loss"], {}),  # drawn by epoch: a mean per epoch
        ("epoch", ["loss"], {}),
        ("step", ["acc"], {}),  # held by some records only
        ("step", ["loss"], {"smoothing": 0.9}),
        ("loss", ["acc"], {}),  # an x that does not rise
    ],
)
def test_curves_blocks_cannot_draw_are_drawn_from_the_points(
    store, monkeypatch, long_from, x, keys, options
):
    losses = _walk(7)
    _long_trial(
        store,
        "a" * 32,
        lambda i: {"epoch": i // 100, "loss": losses[i], **({"acc": i} if i % 10 == 0 else {})},
    )
    blocked, exact = _both(store, monkeypatch, x, keys, **options)
    assert blocked == exact
    assert blocked.curves


def test_a_short_range_of_blocks_is_drawn_from_the_points(store, monkeypatch, long_from):
    losses = _walk(3)
    _long_trial(store, "a" * 32, lambda i: {"loss": losses[i]})
    query = Query(Selection(ids=["a" * 32]))
    # 120 blocks cannot fill 200 pixels with one each: every point is read.
    blocked = plot_curves(store, query, 60.0, "step", ["loss"], buckets=200)
    monkeypatch.setattr(curves, "BLOCKED_FROM", math.inf)
    assert blocked == plot_curves(store, query, 60.0, "step", ["loss"], buckets=200)


@pytest.mark.parametrize("x", ["step", "time"])
def test_one_block_per_pixel_draws_the_curve_of_the_points_without_reading_one(
    store, monkeypatch, long_from, x
):
    """120 blocks of 50 points at 120 pixels (a million points at 1,000 pixels, scaled
    down): each pixel is one whole block, so the blocks draw the curve the points draw."""
    losses = _walk(11)
    _long_trial(store, "a" * 32, lambda i: {"step": i, "loss": losses[i]})
    query = Query(Selection(ids=["a" * 32]))
    with monkeypatch.context() as patch:
        _no_point_read(store, patch)
        blocked = plot_curves(store, query, 60.0, x, ["loss"], buckets=120)
    monkeypatch.setattr(curves, "BLOCKED_FROM", math.inf)
    exact = plot_curves(store, query, 60.0, x, ["loss"], buckets=120)
    (drawn,), (expected,) = blocked.curves, exact.curves
    assert drawn.ys == expected.ys and drawn.points == expected.points == RECORDS
    if x == "step":  # against time, a lowest or highest point's x is placed in its block
        assert blocked == exact
    # 3 blocks per pixel of 40, none wider than a pixel: read from the blocks too.
    with monkeypatch.context() as patch:
        patch.setattr(curves, "BLOCKED_FROM", 500)
        _no_point_read(store, patch)
        (curve,) = plot_curves(store, query, 60.0, x, ["loss"], buckets=40).curves
    assert (min(curve.ys), max(curve.ys)) == (min(losses), max(losses))


def test_blocks_too_few_for_the_buckets_draw_a_terminals_columns(store, monkeypatch, long_from):
    """2,000 buckets asked (kleio plot in a terminal) of 120 blocks: drawn at the 120
    pixels the blocks fill, one each, from the blocks; at 200, the blocks are too few."""
    losses = _walk(5)
    _long_trial(store, "a" * 32, lambda i: {"loss": losses[i]})
    query = Query(Selection(ids=["a" * 32]))
    _no_point_read(store, monkeypatch)
    plot = plot_curves(store, query, 60.0, "step", ["loss"], buckets=2_000, pixels=30)
    (curve,) = plot.curves
    assert 120 * 2 <= len(curve.xs) <= 120 * 4
    assert (min(curve.ys), max(curve.ys)) == (min(losses), max(losses))
    with pytest.raises(AssertionError, match="a point was read"):
        plot_curves(store, query, 60.0, "step", ["loss"], buckets=2_000, pixels=200)
