"""``kleio plot --group-by``, end to end: a study of 3 learning rates by 3 seeds drawn as
one curve per learning rate (the mean over its seeds, with a band) in a PNG, an SVG and
the terminal; trials of one group that logged at different epochs aligned on the epoch,
not on their records' order; and one-line errors."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy
import pytest

from tests.cli.test_plot import _SVG, Trials, _count, _number, _pixels
from tests.conftest import script_project
from tests.helpers import one_line_error, text, trial_id_in

TRAIN = """\
import argparse
from kleio.client.logger import kleio_logger as log

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--every", type=int, default=1)
parser.add_argument("--epochs", type=int, default=6)
args = parser.parse_args()
for epoch in range(0, args.epochs, args.every):
    noise = 0.02 * ((args.seed * 7 + epoch * 3) % 5)
    log.log_statistic(epoch=epoch, loss=round(1 / (1 + args.lr * 10 * epoch) + noise, 6))
"""
RATES = ("0.01", "0.1", "0.5")
SEEDS = (1, 2, 3)
#: One group (lr 0.05) whose trials logged different epochs: every epoch to 9, every
#: second one to 18, every epoch to 9 again.
UNEVEN = {"u1": (1, 1, 10), "u2": (2, 2, 20), "u3": (3, 1, 10)}


def loss(lr: float, seed: int, epoch: int) -> float:
    """What the script logs (computed here on its own)."""
    return round(1 / (1 + lr * 10 * epoch) + 0.02 * ((seed * 7 + epoch * 3) % 5), 6)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Trials:
    """``lr`` 0.01, 0.1 and 0.5, each with seeds 1, 2, 3, logging 6 epochs; and the
    trials of :data:`UNEVEN`."""
    project, env = script_project(tmp_path_factory.mktemp("study"), TRAIN)
    made = Trials(project, env)
    for lr in RATES:
        for seed in SEEDS:
            result = made.kleio("python", "train.py", "--lr", lr, "--seed", str(seed))
            assert result.returncode == 0, text(result.stderr)
            made.ids[f"{lr}/{seed}"] = trial_id_in(result.stderr)
    for name, (seed, every, epochs) in UNEVEN.items():
        result = made.kleio(
            "--tags", "uneven", "python", "train.py", "--lr", "0.05", "--seed", str(seed),
            "--every", str(every), "--epochs", str(epochs),
        )  # fmt: skip
        assert result.returncode == 0, text(result.stderr)
        made.ids[name] = trial_id_in(result.stderr)
    return made


def _sweep(study: Trials) -> list[str]:
    return [study.ids[f"{lr}/{seed}"] for lr in RATES for seed in SEEDS]


def _legend_labels(svg: Path) -> list[str]:
    legend = ElementTree.parse(svg).getroot().find(".//svg:g[@id='legend_1']", _SVG)
    return ["".join(node.itertext()) for node in legend.iterfind(".//svg:text", _SVG)]


def test_a_group_is_one_curve_with_a_band_and_one_legend_entry_in_a_file(study, tmp_path):
    from kleio.core.reading.series import PALETTE

    png = tmp_path / "study.png"
    result = study.read("plot", *_sweep(study), "--y", "loss", "--group-by", "lr", "-o", str(png))
    assert result.returncode == 0, text(result.stderr)
    assert text(result.stderr) == f"kleio: wrote {png} (3 curves)\n"
    pixels = _pixels(png)
    assert _count(pixels, (255, 255, 255), tolerance=3) < 0.97 * 560 * 1000  # not blank
    for colour in PALETTE[:3]:
        rgb = numpy.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        assert _count(pixels, rgb, tolerance=8) > 200, colour  # the mean's line
        # The band: the colour at a fifth over white, where no other band lies over it.
        assert _count(pixels, 255 * 0.8 + rgb * 0.2, tolerance=4) > 1000, colour
    assert _count(pixels, (214, 39, 40), tolerance=8) == 0  # no fourth curve (the palette's)
    svg = tmp_path / "study.svg"
    result = study.read("plot", *_sweep(study), "--y", "loss", "--group-by", "lr", "-o", str(svg))
    assert result.returncode == 0, text(result.stderr)
    # One entry per group, named by its key's value and its number of trials.
    assert _legend_labels(svg) == ["lr=0.01 n=3", "lr=0.1 n=3", "lr=0.5 n=3"]
    root = ElementTree.parse(svg).getroot()
    width = _number(root.get("width"))
    legend = root.find(".//svg:g[@id='legend_1']", _SVG)
    xs = [float(node.get("x")) for node in legend.iterfind(".//svg:text", _SVG)]
    assert min(xs) >= 0 and max(xs) < width  # inside the figure
    words = ["".join(node.itertext()) for node in root.iterfind(".//svg:text", _SVG)]
    assert "loss (mean ± std of each group)" in words


def test_every_key_but_the_seed_groups_as_the_key_named_does(study, tmp_path):
    svg = tmp_path / "every.svg"
    result = study.read(
        "plot", *_sweep(study), "--y", "loss", "--group-by", "*", "--band", "range",
        "-o", str(svg),
    )  # fmt: skip
    assert result.returncode == 0, text(result.stderr)
    assert text(result.stderr).splitlines()[0] == (
        "kleio: grouped by lr, epochs, every; seeds: seed"
    )
    assert _legend_labels(svg) == ["lr=0.01 n=3", "lr=0.1 n=3", "lr=0.5 n=3"]
    # A key given as a seed is left out of '*' too: by every key, each trial is alone.
    alone = study.read(
        "plot", *_sweep(study), "--y", "loss", "--group-by", "*", "--seed-key", "lr",
        "-o", str(svg),
    )  # fmt: skip
    assert alone.returncode == 0, text(alone.stderr)
    assert text(alone.stderr).splitlines()[0] == (
        "kleio: grouped by epochs, every; seeds: lr, seed"
    )
    assert _legend_labels(svg) == ["epochs=6 every=1 n=9"]


def _rows_and_legend(lines: list[str]) -> tuple[list[str], list[str], list[str]]:
    axis = next(i for i, line in enumerate(lines) if "└" in line)
    return lines[:axis], lines[axis : axis + 2], lines[axis + 2 :]


def _plot_of(row: str) -> str:
    return re.split("[┤│]", row, maxsplit=1)[1]


@pytest.mark.parametrize("columns", [80, 200])
def test_a_terminal_plot_draws_each_groups_mean_and_its_band_edges(study, columns):
    result = study.read(
        "plot", *_sweep(study), "--y", "loss", "--group-by", "lr",
        COLUMNS=str(columns), LINES="30",
    )  # fmt: skip
    assert result.returncode == 0, text(result.stderr)
    out = text(result.stdout)
    assert "\033[" not in out  # piped: no colour, patterns tell what is what
    lines = out.splitlines()
    assert all(len(line) <= columns for line in lines)
    rows, axis, legend = _rows_and_legend(lines)
    assert legend == [
        "⠤⠤⠤⠤ lr=0.01 n=3",
        "⠤ ⠤  lr=0.1 n=3",
        "⠄⠄⠄⠄ lr=0.5 n=3",
        "⠄ ⠄  band: mean ± std",  # sparse dots: no curve takes them while bands are drawn
    ]
    assert axis[1].split() == ["0", "epoch", "5"]
    # The top of the plot is the highest band edge, the bottom the lowest one.
    at = {
        lr: [[loss(float(lr), seed, epoch) for seed in SEEDS] for epoch in range(6)] for lr in RATES
    }
    highest = max(numpy.mean(v) + numpy.std(v) for by in at.values() for v in by)
    lowest = min(numpy.mean(v) - numpy.std(v) for by in at.values() for v in by)
    assert rows[0].split("┤")[0].strip() == f"{highest:.4g}"
    assert rows[-1].split("┤")[0].strip() == f"{lowest:.4g}"
    # Each group's mean at the last epoch is drawn in the last column, where it goes.
    last = [_plot_of(row)[-1] for row in rows]
    for lr in RATES:
        mean = numpy.mean(at[lr][5])
        dot = round((highest - mean) / (highest - lowest) * (4 * len(rows) - 1))
        assert last[dot // 4] != " ", lr


def test_in_colour_a_band_is_its_groups_colour_dimmed(study, monkeypatch):
    from kleio.cli.braille import COLOURS

    monkeypatch.setattr("kleio.cli.output._is_terminal", lambda stream: True)
    result = study.read(
        "plot", *_sweep(study), "--y", "loss", "--group-by", "lr", COLUMNS="80", LINES="30"
    )
    assert result.returncode == 0, text(result.stderr)
    out = text(result.stdout)
    rows, _, legend = _rows_and_legend(out.splitlines())
    for colour in COLOURS[:3]:
        assert any(f"\033[{colour}m" in row for row in rows)  # the mean
        assert any(f"\033[2;{colour}m" in row for row in rows)  # its band, dimmed
    assert legend[0] == f"\033[{COLOURS[0]}m⠤⠤⠤⠤\033[0m lr=0.01 n=3"  # colours name groups
    assert legend[3] == "⠄ ⠄  band: mean ± std"
    # The last column: each group's mean at the last epoch, in its colour, not dimmed.
    cells = [re.findall(r"\033\[([0-9;]+)m.\033\[0m|.", row.split("│")[-1].split("┤")[-1])[-1]
             for row in rows]  # fmt: skip
    values = [[loss(float(lr), s, epoch) for s in SEEDS] for lr in RATES for epoch in range(6)]
    highest = max(numpy.mean(v) + numpy.std(v) for v in values)
    lowest = min(numpy.mean(v) - numpy.std(v) for v in values)
    for lr, colour in zip(RATES, COLOURS, strict=False):
        mean = numpy.mean([loss(float(lr), seed, 5) for seed in SEEDS])
        dot = round((highest - mean) / (highest - lowest) * (4 * len(rows) - 1))
        assert cells[dot // 4] == colour, lr


def test_a_groups_trials_are_aligned_on_the_x_key_not_on_their_records(study):
    """u1 and u3 log epochs 0 to 9, u2 every second one to 18: at an epoch all three
    have, the mean is numpy's over the three; past 9, over u2 alone; the odd epochs
    before 9, which u2 spans but did not log, are left out (a mean over u1 and u3 there,
    over all three beside them, would zigzag)."""
    from kleio.core.model.catalogue import open_journal
    from kleio.core.reading.query import Query
    from kleio.core.reading.selection import Selection
    from kleio.core.reading.series import plot_curves

    store = open_journal(str(Path(study.env["KLEIO_HOME"]) / "kleio.db"))
    query = Query(Selection(tags=["uneven"]))
    plot = plot_curves(store, query, 60.0, "epoch", ["loss"], group_by=["lr"])
    (curve,) = plot.curves
    assert curve.label == "lr=0.05 n=3" and curve.trials == 3
    assert curve.xs == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    for place, epoch in enumerate(curve.xs):
        seeds = [seed for seed, every, end in UNEVEN.values() if epoch in range(0, end, every)]
        values = [loss(0.05, seed, epoch) for seed in seeds]
        assert len(seeds) == (3 if epoch < 10 else 1)
        assert curve.ys[place] == pytest.approx(numpy.mean(values), abs=1e-12)
        assert curve.upper[place] - curve.ys[place] == pytest.approx(numpy.std(values), abs=1e-12)
        assert curve.ys[place] - curve.lower[place] == pytest.approx(numpy.std(values), abs=1e-12)
    assert plot.notes == [
        "lr=0.05 n=3: 5 epoch values held by only some of its trials, inside the others' "
        "span, left out (a mean over other trials at each x would zigzag)",
        "lr=0.05 n=3: at 5 of its 10 epoch values, fewer of its trials have a value (past "
        "the end of some): its mean and band there are over those that do",
    ]
    ranged = plot_curves(store, query, 60.0, "epoch", ["loss"], group_by=["lr"], band="range")
    (curve,) = ranged.curves
    values = [loss(0.05, seed, 4) for seed in (1, 2, 3)]
    assert (curve.lower[2], curve.upper[2]) == (min(values), max(values))
    # By record (--x step), the records of each trial are aligned by their number.
    steps = plot_curves(store, query, 60.0, "step", ["loss"], group_by=["lr"]).curves[0]
    assert steps.xs == list(range(10))
    assert steps.ys[5] == pytest.approx(
        numpy.mean([loss(0.05, 1, 5), loss(0.05, 2, 10), loss(0.05, 3, 5)]), abs=1e-12
    )


def test_the_notes_of_alignment_reach_the_user(study):
    result = study.read("plot", "--tags", "uneven", "--y", "loss", "--group-by", "lr")
    assert result.returncode == 0, text(result.stderr)
    errors = text(result.stderr).splitlines()
    assert errors[0].startswith("kleio: lr=0.05 n=3: 5 epoch values held by only some")
    assert errors[1].startswith("kleio: lr=0.05 n=3: at 5 of its 10 epoch values")


def test_smoothing_applies_to_each_trial_before_the_mean():
    from kleio.core.reading.series import group_series, smooth

    xs = [0.0, 1.0, 2.0, 3.0]
    a, b = [1.0, 0.0, 1.0, 0.0], [3.0, 2.0, 5.0, 1.0]
    # The EMA is linear: the mean of the smoothed trials is the smoothed mean; the band
    # is the spread of the smoothed trials, not the smoothed spread.
    group = group_series([(xs, smooth(a, 0.5)), (xs, smooth(b, 0.5))])
    expected = numpy.std([list(smooth(a, 0.5)), list(smooth(b, 0.5))], axis=0)
    assert [u - m for u, m in zip(group.upper, group.means, strict=True)] == pytest.approx(expected)
    assert group.means == pytest.approx(list(smooth([2.0, 1.0, 3.0, 0.5], 0.5)))


def test_with_x_time_a_groups_trials_are_binned_on_a_common_grid():
    from kleio.core.reading.series import _binned, group_series

    early = ([0.0, 1.0, 2.0, 3.0], [4.0, 3.0, 2.0, 1.0])
    late = ([0.1, 1.1, 2.1, 3.1], [6.0, 5.0, 4.0, 3.0])
    binned = _binned([early, late], 4)
    assert list(binned[0][0]) == list(binned[1][0])  # the same x: they are aligned
    group = group_series(binned)
    assert group.means == [5.0, 4.0, 3.0, 2.0] and group.left_out == 0
    assert math.isclose(group.upper[0] - group.means[0], 1.0)


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--group-by", "rate"], ["no trial has a configuration key 'rate' to group by",
                                  "keys: lr, seed, epochs, every"]),
        (["--group-by", "lr", "--band", "foo"],
         ["unknown --band 'foo': choose among std, range, none"]),
        (["--band", "range"], ["--band draws around a group's mean: give --group-by KEY too"]),
        (["--seed-key", "s"], ["--seed-key tells seeds apart for --group-by: give it too"]),
    ],
)  # fmt: skip
def test_bad_group_requests_are_one_line_errors(study, args, fragments):
    result = study.read("plot", *_sweep(study), "--y", "loss", *args)
    one_line_error(result, *fragments)
    assert result.returncode == 2
