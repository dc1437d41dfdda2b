"""Curves of long trials read through their blocks, not their points.

A trial of ten million statistics is drawn at a thousand pixels from its ten thousand
blocks (:meth:`kleio.store.base.Store.read_blocks`: each run of up to 1,000 consecutive
records summarised by each key's first, last, lowest and highest number and where they
lie), in a fraction of a second, rather than from its points (minutes). What is drawn
is what :func:`~kleio.core.reading.series.downsample` draws of the exact points, per
pixel: the first, the lowest, the highest and the last point, except that a pixel holds
the blocks that start in it (the pixel of a record is that of its block's first record),
so a pixel's points may reach into the next pixel by less than a block. Blocks are read
where a pixel holds 4 of them or more on average (:data:`BLOCKS_PER_PIXEL`: a quarter of
a pixel at most, however wide each block), or one or more where no block is wider than a
pixel (less than a pixel, then). Where every block lies inside one pixel (a pixel is a
whole number of blocks: a million points at 1,000 pixels, blocks of 1,000), the pixels
are exactly those of :func:`~kleio.core.reading.series.downsample`, and so are the points
drawn against ``step``. The lowest and highest points of a block are drawn at their
record; against ``time`` or a key, at the x their place in the block gives between the
block's first and last x (the block keeps no other x).

Blocks give the same curve only where each x has one point and the points come in the
order of x; every other curve is read from its points, as before:

- a trial with fewer than :data:`BLOCKED_FROM` records, whose points are read in under a
  second (so that nothing changes for every trial drawn before);
- x a key that does not rise strictly from record to record (an epoch: several values at
  one x are drawn as their mean), or held by only some records, as ``y`` may be;
- a branch (its view holds its parent's records up to the branch point, which may cut a
  block), smoothing (the average runs over every point), groups (``--group-by``);
- blocks the store cannot vouch for (two writers at once, a write in flight: see
  :meth:`~kleio.store.base.Store.read_blocks`);
- a range too short to hold :data:`BLOCKS_PER_PIXEL` blocks per pixel, or one per pixel
  with none wider than a pixel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kleio.codec import decode_array
from kleio.core.model.trial import TrialDocument
from kleio.core.model.view import lineage
from kleio.core.reading.series import PER_BUCKET, STEP, TIME
from kleio.core.reading.summaries import STATISTIC
from kleio.store.base import Block, Store

#: Records from which a trial's curves are drawn from its blocks: 100,000 points are
#: read in about a second, which its blocks (100) could not draw at 400 pixels anyway.
BLOCKED_FROM = 100_000
#: Blocks a pixel holds at least, on average over the range drawn, for blocks to be read
#: whatever their widths: a pixel's points then reach at most a quarter of a pixel into
#: the next. Fewer, down to one, where no block is wider than a pixel (:func:`fits_pixels`).
BLOCKS_PER_PIXEL = 4


@dataclass
class Pixel:
    """What one pixel of a curve read through blocks holds: its records ``start`` to
    ``stop - 1`` (counted from the trial's first), their x span, and the points drawn
    (first, lowest, highest, last; each ``(record, x, y)``)."""

    start: int
    stop: int
    low: float
    high: float
    points: list[tuple[int, float, float]] = field(default_factory=list)


class _Part(NamedTuple):
    """One block as a curve sees it: its first record, records, x span, y's summary
    (count, first, last, min, offset of min, max, offset of max, rising), and the block
    (its keys)."""

    start: int
    records: int
    x0: float
    x1: float
    y: list
    block: Block


class BlockedColumns:
    """A long trial's statistics seen through its blocks (in place of
    :class:`~kleio.core.reading.series.Columns`): the keys holding numbers
    (``columns``), and each curve, read through the blocks where they give the same
    curve, else from every point (``exact()`` reads them once)."""

    def __init__(
        self,
        trial: str,
        blocks: list[Block],
        summaries: list[dict[str, Any]],
        exact: Callable[[], Any],
        store: Store | None = None,
        kind: str = STATISTIC,
    ):
        self.trial = trial
        self.blocks = blocks
        self.summaries = summaries
        self._exact = exact
        self.store = store
        self.kind = kind
        #: The time of the first record (x ``time`` counts from it).
        self.origin: float | None = None
        self._columns: Any = None
        self.columns = dict.fromkeys(name for summary in summaries for name in summary["f"])

    def exact(self) -> Any:
        """The trial's :class:`~kleio.core.reading.series.Columns`, read once."""
        if self._columns is None:
            self._columns = self._exact()
        return self._columns

    def parts(self, x: str, y: str) -> list[_Part] | None:
        """The blocks as parts of the curve of ``y`` against ``x``, or None where blocks
        do not give the same curve as the points (see the module documentation)."""
        parts: list[_Part] = []
        start = 0
        origin = None
        previous = -math.inf
        for summary, block in zip(self.summaries, self.blocks, strict=True):
            records = summary["r"]
            if not records:
                continue
            fields = summary["f"]
            found = fields.get(y)
            if found is None or found[0] != records:
                return None  # y not in every record: the points say where
            if x in self.columns:
                xs = fields.get(x)
                if xs is None or xs[0] != records or not xs[7]:
                    return None
                x0, x1 = xs[1], xs[2]
            elif x == STEP:
                x0, x1 = start, start + records - 1
            elif x == TIME:
                first, last, rising = summary["t"]
                if not rising:
                    return None
                if origin is None:
                    origin = first
                x0, x1 = first - origin, last - origin
            else:
                return None
            if x0 <= previous:
                return None  # x does not rise from block to block
            previous = x1
            parts.append(_Part(start, records, float(x0), float(x1), found, block))
            start += records
        self.origin = origin
        return parts

    def exact_range(
        self, parts: Sequence[_Part], x: str, y: str, low: float, high: float
    ) -> tuple[list[float], list[float]]:
        """The exact points of ``y`` against ``x`` from ``low`` to ``high`` (inclusive)
        among the records of ``parts`` (consecutive, from :meth:`parts`), read from those
        records alone: the events from the first part's first key to the last's last."""
        assert self.store is not None
        before = parts[0].block.first_key
        index = next(i for i, block in enumerate(self.blocks) if block.first_key == before)
        after = self.blocks[index - 1].last_key if index else None
        last = parts[-1].block.last_key
        xs: list[float] = []
        ys: list[float] = []
        record = parts[0].start
        for event in self.store.read_events(self.trial, [self.kind], after=after):
            if event.key > last:
                break
            data = event.data
            if type(data) is not dict:
                continue  # not a record (see kleio.store.blocks)
            if x in self.columns:
                at = data[x]
            elif x == STEP:
                at = record
            else:
                at = event.time - (self.origin or 0.0)
            record += 1
            if low <= at <= high:
                xs.append(float(at))
                ys.append(float(data[y]))
        return xs, ys


def blocked_columns(
    store: Store,
    document: TrialDocument,
    exact: Callable[[], Any],
    kind: str = STATISTIC,
) -> BlockedColumns | None:
    """The trial's statistics (or ``kind`` of records) through its blocks, or None when
    they are to be read from every point: a branch, fewer than :data:`BLOCKED_FROM`
    records, blocks the store cannot vouch for. ``exact`` reads them from every point,
    for the curves blocks cannot draw."""
    trial = document["_id"]
    if kind == STATISTIC and len(lineage(store, document)) > 1:
        return None
    blocks = store.read_blocks(trial, kind)
    if blocks is None or sum(block.count for block in blocks) < BLOCKED_FROM:
        return None
    # One decoding of every summary: 10,000 blocks in 0.16 s (one call each: 0.25 to
    # 0.32 s, on the same loaded machine).
    summaries = decode_array(f"[{','.join(block.summary for block in blocks)}]")
    return BlockedColumns(trial, blocks, summaries, exact, store, kind)


def blocked_pixels(parts: Sequence[_Part], buckets: int) -> list[Pixel] | None:
    """The pixels of a curve from its blocks' ``parts`` (x rising), ``buckets`` pixels
    wide; None when the range holds fewer than :data:`BLOCKS_PER_PIXEL` blocks per pixel,
    unless it holds one or more per pixel, none wider than a pixel (:func:`fits_pixels`),
    and more points than :func:`~kleio.core.reading.series.downsample` would keep.

    A pixel holds the blocks whose first x lies in it: pixel ``i`` is x from
    ``low + i * width`` (excluded, but for the first) to ``low + (i + 1) * width``
    (included), as :func:`~kleio.core.reading.series.downsample` cuts the points.
    """
    if buckets < 1 or len(parts) < buckets:
        return None
    low, high = parts[0].x0, parts[-1].x1
    width = (high - low) / buckets
    if len(parts) < BLOCKS_PER_PIXEL * buckets and (
        not fits_pixels(parts, width)
        or sum(part.records for part in parts) <= PER_BUCKET * buckets  # all drawn
    ):
        return None
    pixels: list[Pixel] = []
    current: list[_Part] = []
    at = -1
    for part in parts:
        index = pixel_of(part.x0, low, width, buckets)
        if index != at and current:
            pixels.append(_pixel(current))
            current = []
        at = index
        current.append(part)
    if current:
        pixels.append(_pixel(current))
    return pixels


def fits_pixels(parts: Sequence[_Part], width: float) -> bool:
    """Whether no block of ``parts`` is wider than a pixel of ``width``: then a pixel's
    points reach into the next by less than a pixel, and the blocks may be as few as one
    per pixel (a trial of a million points at 1,000 pixels: its 1,000 blocks)."""
    return all(part.x1 - part.x0 <= width for part in parts)


def pixel_of(x: float, low: float, width: float, buckets: int) -> int:
    """The pixel (from 0) of ``x`` on a range from ``low``, ``buckets`` pixels of
    ``width``: the one :func:`~kleio.core.reading.series.downsample` puts it in."""
    if width <= 0:
        return 0
    return min(max(math.ceil((x - low) / width) - 1, 0), buckets - 1)


def _x_at(part: _Part, offset: int) -> float:
    """The x of a block's record at ``offset``: exact at its ends, else where its place
    puts it between them."""
    if offset == 0 or part.records == 1:
        return part.x0
    if offset == part.records - 1:
        return part.x1
    return part.x0 + (part.x1 - part.x0) * offset / (part.records - 1)


def _pixel(parts: list[_Part]) -> Pixel:
    """The first, lowest, highest and last point of the blocks of one pixel, in order."""
    first, last = parts[0], parts[-1]
    lowest = highest = first
    for part in parts[1:]:
        if part.y[3] < lowest.y[3]:
            lowest = part
        if part.y[5] > highest.y[5]:
            highest = part
    points = {
        first.start: (first.x0, first.y[1]),
        lowest.start + lowest.y[4]: (_x_at(lowest, lowest.y[4]), lowest.y[3]),
        highest.start + highest.y[6]: (_x_at(highest, highest.y[6]), highest.y[5]),
        last.start + last.records - 1: (last.x1, last.y[2]),
    }
    pixel = Pixel(first.start, last.start + last.records, first.x0, last.x1)
    pixel.points = [(record, *points[record]) for record in sorted(points)]
    return pixel


def blocked_curve(
    columns: BlockedColumns,
    x: str,
    y: str,
    buckets: int,
    least: int | None = None,
    x_range: tuple[float, float] | None = None,
) -> tuple[list[float], list[float], int] | None:
    """The points drawn of ``y`` against ``x`` at ``buckets`` pixels, through the
    blocks, and how many points the curve has; None where the blocks cannot draw it.
    Blocks too few for ``buckets`` draw it at as many pixels as they can fill, when
    that is ``least`` or more (a terminal of 200 columns of dots asks for 2,000).

    With ``x_range`` (low, high: a zoom), the blocks that reach into it; where they are
    too few for ``buckets``, the exact points from low to high, read from those blocks'
    records alone (:meth:`BlockedColumns.exact_range`) and downsampled, and how many
    they are. Through the blocks, the first and last pixels may hold points of their
    blocks outside the range (less than a block: the chart cuts them), counted."""
    from kleio.core.reading.series import downsample

    parts = columns.parts(x, y)
    if parts is None:
        return None
    if x_range is not None:
        low, high = x_range
        parts = [part for part in parts if part.x1 >= low and part.x0 <= high]
        if not parts:
            return [], [], 0
        pixels = blocked_pixels(parts, buckets)
        if pixels is None and columns.store is None:
            return None
        if pixels is None:
            xs, ys = columns.exact_range(parts, x, y, low, high)
            kept_xs, kept_ys = downsample(xs, ys, buckets)
            return kept_xs, kept_ys, len(xs)
        return (
            [x for pixel in pixels for _, x, _ in pixel.points],
            [y for pixel in pixels for _, _, y in pixel.points],
            sum(part.records for part in parts),
        )
    pixels = blocked_pixels(parts, buckets)
    if pixels is None and least is not None and len(parts) < BLOCKS_PER_PIXEL * buckets:
        # One block per pixel where none is wider than a pixel, else four.
        for fewer in (len(parts), len(parts) // BLOCKS_PER_PIXEL):
            if least <= fewer < buckets:
                pixels = blocked_pixels(parts, fewer)
                if pixels is not None:
                    break
    if pixels is None:
        return None
    xs = [x for pixel in pixels for _, x, _ in pixel.points]
    ys = [y for pixel in pixels for _, _, y in pixel.points]
    return xs, ys, sum(part.records for part in parts)
