"""``kleio plot``, end to end: curves of two trials and a branch drawn in a PNG, an SVG and
the terminal at a fixed width, legends naming trials by what differs, and one-line
errors (matplotlib missing, a file type it cannot write, a key no trial logged). A sweep
of 12 trials logging two keys every batch: a colour per trial and a style per key, in
files and in the terminal, with or without colour; a legend below the axes, in columns;
the epoch as the x axis, each epoch's mean drawn."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ElementTree
from argparse import Namespace
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kleio.cli.braille import COLOURS, Canvas, Line, Marker, draw
from kleio.core.model.catalogue import open_journal
from kleio.core.model.settings import load_settings
from kleio.core.running.execution import Runner, RunOptions
from tests.conftest import commit, git, write_script
from tests.helpers import (
    clean_environment,
    invoke,
    one_line_error,
    run_kleio,
    text,
    trial_id_in,
)

TRAIN = """\
import argparse
from kleio.client.logger import kleio_logger as log

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--batch", type=int, default=32)
args = parser.parse_args()
start = len(log.load_statistics())  # a branch continues where its parent stopped
for epoch in range(start, 6):
    log.log_statistic(epoch=epoch, loss=round(1 / (1 + args.lr * 10 * epoch), 6))
"""

#: matplotlib's default colours of the first curves, as a PNG holds them (RGB 0-255).
TAB10 = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]


@dataclass
class Trials:
    project: Path
    env: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)

    def kleio(self, *args: str, **extra: str):
        return run_kleio(*args, env={**self.env, **extra}, cwd=self.project)

    def read(self, *args: str, **extra: str):
        """A command that only reads, in this process (fast)."""
        return invoke(*args, env={**self.env, **extra}, cwd=self.project)

    def short(self, name: str) -> str:
        return self.ids[name][:7]


@pytest.fixture(scope="module")
def trials(tmp_path_factory) -> Trials:
    """``a`` (lr 0.1) and ``b`` (lr 0.01) log 6 epochs; ``c`` branches ``a`` at epoch 2
    with lr 0.05."""
    base = tmp_path_factory.mktemp("plot")
    project = base / "mnist"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    write_script(project, "train.py", TRAIN)
    commit(project, "first")
    made = Trials(project, clean_environment(base / "home"))
    for name, lr in (("a", "0.1"), ("b", "0.01")):
        result = made.kleio("python", "train.py", "--lr", lr)
        assert result.returncode == 0, text(result.stderr)
        made.ids[name] = trial_id_in(result.stderr)
    result = made.kleio("branch", made.ids["a"][:7], "--timestamp", "epoch=2", "--lr", "0.05")
    assert result.returncode == 0, text(result.stderr)
    made.ids["c"] = trial_id_in(result.stderr)
    return made


def _pixels(path: Path):
    import matplotlib.image

    image = matplotlib.image.imread(path)  # height x width x RGBA, floats 0-1
    return (image[:, :, :3] * 255).round().astype(int)


def _count(pixels, colour, tolerance=12) -> int:
    import numpy

    return int((numpy.abs(pixels - numpy.array(colour)).max(axis=2) <= tolerance).sum())


def test_plot_writes_a_png_of_every_curve_with_the_branch_point_in_the_legend(trials, tmp_path):
    png = tmp_path / "loss.png"
    result = trials.read("plot", *trials.ids.values(), "--y", "loss", "-o", str(png))
    assert result.returncode == 0, text(result.stderr)
    assert text(result.stderr) == f"kleio: wrote {png} (3 curves)\n"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = _pixels(png)
    assert pixels.shape == (560, 1000, 3)
    white = _count(pixels, (255, 255, 255), tolerance=3)
    assert white < 0.97 * 560 * 1000  # not blank: curves, axes, text
    # Three curves, three colours (drawn and in the legend); a fourth colour is not there.
    for colour in TAB10[:3]:
        assert _count(pixels, colour, tolerance=8) > 200, colour
    assert _count(pixels, TAB10[3], tolerance=8) == 0
    assert _count(pixels, (115, 115, 115), tolerance=6) > 50  # the dashed branch point


def test_the_svg_legend_names_each_curve_by_short_id_and_what_differs(trials, tmp_path):
    svg = tmp_path / "loss.svg"
    result = trials.read("plot", *trials.ids.values(), "--y", "loss", "-o", str(svg))
    assert result.returncode == 0, text(result.stderr)
    tree = ElementTree.parse(svg)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    legend = tree.getroot().find(".//svg:g[@id='legend_1']", ns)
    assert legend is not None
    lines = ["".join(node.itertext()).strip() for node in legend.iterfind(".//svg:text", ns)]
    assert lines == [  # in the order the trials were named
        f"{trials.short('a')} lr=0.1",
        f"{trials.short('b')} lr=0.01",
        f"{trials.short('c')} lr=0.05",
        f"branch point of {trials.short('c')} (epoch=2)",  # every record has an epoch
    ]


def test_a_terminal_plot_fits_the_width_and_draws_the_curve_where_it_goes(trials):
    result = trials.read("plot", trials.ids["a"], "--y", "loss", COLUMNS="60", LINES="20")
    assert result.returncode == 0, text(result.stderr)
    lines = text(result.stdout).splitlines()
    assert "\033[" not in text(result.stdout)  # not a terminal: no colour
    assert all(len(line) <= 60 for line in lines), lines
    rows = [line for line in lines if "┤" in line or "│" in line]
    assert len(rows) == 20 - 1 - 4  # the rows left by the legend and the axis
    assert rows[0].split("┤")[0].strip() == "1"  # the highest loss, at the top
    assert rows[-1].split("┤")[0].strip() == "0.1667"  # the lowest, 1 / (1 + 0.1 * 10 * 5)
    plot = [re.split("[┤│]", row, maxsplit=1)[1] for row in rows]
    width = len(plot[0])
    assert width == 60 - len(rows[0].split("┤")[0]) - 1
    # Loss goes down: the first column's dots are in the top row, the last's at the bottom.
    first = [i for i, row in enumerate(plot) if row[0] != " "]
    last = [i for i, row in enumerate(plot) if row[width - 1] != " "]
    assert first and first[0] == 0 and last and last[-1] == len(plot) - 1
    assert all(0x2800 <= ord(char) <= 0x28FF or char == " " for row in plot for char in row)
    assert lines[-2].split() == ["0", "epoch", "5"]
    assert lines[-1] == f"⠤⠤⠤⠤ {trials.short('a')}"


def test_a_terminal_plot_of_a_branch_marks_its_branch_point(trials):
    result = trials.read(
        "plot", trials.ids["c"], trials.ids["b"], "--y", "loss", "--x", "epoch", COLUMNS="70"
    )
    assert result.returncode == 0, text(result.stderr)
    lines = text(result.stdout).splitlines()
    assert lines[-3:] == [
        f"⠤⠤⠤⠤ {trials.short('c')} lr=0.05",
        f"⠤ ⠤  {trials.short('b')} lr=0.01",  # piped: no colour, a pattern of its own
        f"⡇    branch point of {trials.short('c')} (epoch=2)",
    ]


def test_curves_are_coloured_on_a_terminal():
    lines = [Line("a", [0, 1, 2], [3, 2, 1]), Line("b", [0, 1, 2], [1, 2, 3])]
    coloured = draw(lines, [Marker("m", 1)], 40, 8, color=True)
    for colour in COLOURS[:2]:
        assert f"\033[{colour}m" in coloured
    plain = draw(lines, [], 40, 8, color=False)
    assert "\033[" not in plain
    assert all(len(line) <= 40 for line in plain.splitlines())


def test_a_log_scale_drops_what_is_not_above_zero():
    out = draw([Line("a", [0, 1, 2], [0.0, 10.0, 1000.0])], [], 40, 6, log=True)
    assert out.splitlines()[0].split("┤")[0].strip() == "1000"
    assert out.splitlines()[5].split("┤")[0].strip() == "10"
    assert draw([Line("a", [0], [-1.0])], [], 40, 6, log=True).startswith("(no point to draw")


def test_without_matplotlib_plot_to_a_file_says_how_to_install_it(trials, tmp_path):
    blocker = tmp_path / "blocked" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    result = trials.kleio(
        "plot", trials.ids["a"], "--y", "loss", "-o", str(tmp_path / "x.png"),
        PYTHONPATH=str(blocker.parent),
    )  # fmt: skip
    one_line_error(result, "needs matplotlib: pip install 'kleio[plot]'")
    assert result.returncode == 1 and not (tmp_path / "x.png").exists()
    # The terminal plot needs no library.
    drawn = trials.kleio("plot", trials.ids["a"], "--y", "loss", PYTHONPATH=str(blocker.parent))
    assert drawn.returncode == 0 and "⠤⠤" in text(drawn.stdout), text(drawn.stderr)


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["-o", "loss.jpg"], ["cannot write 'loss.jpg': name a .png, .svg or .pdf file"]),
        (["--y", "los"], ["no trial logged a number 'los'", "keys: epoch, loss"]),
        (["--x", "epochs"], ["for the x axis; keys: step, time, epoch, loss"]),
        (["--smooth", "1.5"], ["smoothing must be at least 0 and below 1, not 1.5"]),
        (["--y", ","], ["no statistic to draw"]),
    ],
)
def test_bad_plot_requests_are_one_line_errors(trials, args, fragments):
    base = ["plot", trials.ids["a"], "--y", "loss"]
    result = trials.read(*base, *args)
    one_line_error(result, *fragments)
    assert result.returncode == 2


def test_plot_of_an_unknown_trial_is_an_error(trials):
    one_line_error(trials.read("plot", "fffffff", "--y", "loss"), "no trial with id fffffff")


# -- a sweep: 12 trials, two keys logged every batch --------------------------------------

SWEEP = """\
import argparse
from kleio.client.logger import kleio_logger as log

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--name", required=True)
args = parser.parse_args()
for epoch in range(3):
    for batch in range(4):  # every batch, with its epoch
        loss = round(1 / (1 + args.lr * (4 * epoch + batch)) + 0.1 * batch, 6)
        log.log_statistic(epoch=epoch, batch=batch, loss=loss, acc=round(1 - loss / 2, 6))
"""
#: More trials than matplotlib's ten colours; their names make labels of 54 characters.
RATES = [round(0.05 * (i + 1), 2) for i in range(12)]
NAME = "a-long-name-for-the-run-number-{:02d}"


def _sweep_loss(lr: float, epoch: int, batch: int) -> float:
    return round(1 / (1 + lr * (4 * epoch + batch)) + 0.1 * batch, 6)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Trials:
    base = tmp_path_factory.mktemp("sweep")
    project = base / "sweep"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    write_script(project, "sweep.py", SWEEP)
    commit(project, "first")
    made = Trials(project, clean_environment(base / "home"))
    # Saved as `kleio save` saves them, then run by one worker: twelve trials for the
    # price of one kleio process (twelve took 19 s of the suite's time, one each).
    settings, notes = load_settings(environ=made.env), []
    with open_journal(settings.db_address, settings.db_name) as store:
        runner = Runner(store, settings, dict(made.env), notes.append, RunOptions(tags=["sweep"]))
        for index, lr in enumerate(RATES):
            command = ["python", "sweep.py", "--lr", str(lr), "--name", NAME.format(index)]
            made.ids[str(index)] = runner.save_command(command, str(project))["_id"]
    assert not notes, notes
    result = made.kleio("run", "--tags", "sweep")
    assert result.returncode == 0, text(result.stderr)
    assert text(result.stderr).count("trial reserved with id") == len(RATES), text(result.stderr)
    return made


def _label(sweep: Trials, index: int) -> str:
    return f"{sweep.short(str(index))} lr={RATES[index]} name={NAME.format(index)}"


_SVG = {"svg": "http://www.w3.org/2000/svg"}


def _style(node) -> dict[str, str]:
    path = node.find("svg:path", _SVG)
    pairs = (item.split(":", 1) for item in path.get("style", "").split(";") if ":" in item)
    return {name.strip(): value.strip() for name, value in pairs}


def _curves(root) -> list[dict[str, str]]:
    """The style of each curve drawn in the axes (not the ticks' or the legend's lines)."""
    axes = root.find(".//svg:g[@id='axes_1']", _SVG)
    return [
        _style(node)
        for node in axes.findall("svg:g", _SVG)
        if node.get("id", "").startswith("line2d_")
    ]


def test_a_trial_has_a_colour_of_its_own_and_its_keys_a_line_style_each(sweep, tmp_path):
    from kleio.core.reading.series import PALETTE

    svg = tmp_path / "sweep.svg"
    result = sweep.read("plot", *sweep.ids.values(), "--y", "loss,acc", "-o", str(svg))
    assert result.returncode == 0, text(result.stderr)
    root = ElementTree.parse(svg).getroot()
    curves = _curves(root)
    assert len(curves) == 24  # trial by trial: loss, then acc
    colours = [curve["stroke"] for curve in curves]
    assert colours[0::2] == colours[1::2]  # a trial's two keys share its colour
    assert colours[0::2] == list(PALETTE[:12])  # 12 trials, 12 colours: none repeats
    assert all("stroke-dasharray" not in curve for curve in curves[0::2])  # loss: solid
    assert all("stroke-dasharray" in curve for curve in curves[1::2])  # acc: dashed
    legend = root.find(".//svg:g[@id='legend_1']", _SVG)
    labels = ["".join(node.itertext()) for node in legend.iterfind(".//svg:text", _SVG)]
    # The legend says it: a line per trial in its colour, then a line per key in its style.
    assert labels == [_label(sweep, i)[:39] + "…" for i in range(12)] + ["loss", "acc"]
    png = tmp_path / "sweep.png"
    drawn = sweep.read("plot", *sweep.ids.values(), "--y", "loss,acc", "-o", str(png))
    assert drawn.returncode == 0, text(drawn.stderr)
    pixels = _pixels(png)
    for colour in PALETTE[10:12]:  # the 11th and 12th trials' are not the 1st and 2nd's
        rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert _count(pixels, rgb, tolerance=8) > 100, colour


def _number(text: str) -> float:
    return float(text.removesuffix("pt"))


def test_a_figures_legend_sits_below_the_axes_in_columns_and_leaves_them_the_figure(
    sweep, tmp_path
):
    svg = tmp_path / "sweep.svg"
    result = sweep.read("plot", *sweep.ids.values(), "--y", "loss,acc", "-o", str(svg))
    assert result.returncode == 0, text(result.stderr)
    root = ElementTree.parse(svg).getroot()
    width, height = _number(root.get("width")), _number(root.get("height"))
    frame = root.find(".//svg:g[@id='axes_1']/svg:g[@id='patch_2']/svg:path", _SVG)
    corners = [float(n) for n in re.findall(r"-?[0-9.]+", frame.get("d"))]
    top, bottom = min(corners[1::2]), max(corners[1::2])
    assert bottom - top >= 0.55 * height  # the axes keep most of the figure
    legend = root.find(".//svg:g[@id='legend_1']", _SVG)
    texts = list(legend.iterfind(".//svg:text", _SVG))
    xs = sorted({round(float(node.get("x"))) for node in texts})
    ys = sorted({round(float(node.get("y"))) for node in texts})
    assert all(float(node.get("y")) > bottom for node in texts)  # below the axes, not on them
    assert xs[0] >= 0 and xs[-1] < width
    columns, rows = len(xs), len(ys)
    assert columns >= 2 and rows == math.ceil(14 / columns)  # 12 trials and 2 keys
    assert all(len("".join(node.itertext())) <= 40 for node in texts)


def test_values_logged_every_batch_are_drawn_against_the_epoch_as_its_mean(sweep, tmp_path):
    svg = tmp_path / "loss.svg"
    result = sweep.read("plot", sweep.ids["0"], "--y", "loss", "-o", str(svg))
    assert result.returncode == 0, text(result.stderr)
    assert text(result.stderr).splitlines()[0] == (
        "kleio: loss: up to 4 values at one epoch, drawn as their mean (--x step draws every value)"
    )
    root = ElementTree.parse(svg).getroot()
    words = ["".join(node.itertext()) for node in root.iterfind(".//svg:text", _SVG)]
    assert "epoch" in words and "loss (mean per epoch)" in words  # the axes say it
    axes = root.find(".//svg:g[@id='axes_1']", _SVG)
    (curve,) = [node for node in axes.findall("svg:g", _SVG) if node.get("id").startswith("line2d")]
    # One point per epoch, not four up and down: no sawtooth.
    path = curve.find("svg:path", _SVG).get("d")
    assert path.count("L") == 2 and path.count("M") == 1
    drawn = sweep.read("plot", sweep.ids["0"], "--y", "loss", COLUMNS="80")
    lines = text(drawn.stdout).splitlines()
    assert lines[-2].split() == ["0", "epoch", "2"]
    mean = sum(_sweep_loss(RATES[0], 0, batch) for batch in range(4)) / 4
    assert lines[0].split("┤")[0].strip() == f"{mean:.4g}"  # the first epoch's mean, on top
    every = sweep.read("plot", sweep.ids["0"], "--y", "loss", "--x", "step", COLUMNS="80")
    assert text(every.stderr) == "" and text(every.stdout).splitlines()[-2].split()[1] == "step"


def _rows_and_legend(lines: list[str]) -> tuple[list[str], list[str]]:
    axis = next(i for i, line in enumerate(lines) if "└" in line)
    return lines[:axis], lines[axis + 2 :]


def _cells(legend: list[str]) -> list[str]:
    """The entries of a legend in columns, in their order (down, then across)."""
    grid = [[cell for cell in re.split(r"  +(?=\033|[⠀-⣿])", line) if cell] for line in legend]
    return [row[column] for column in range(len(grid[0])) for row in grid if column < len(row)]


@pytest.mark.parametrize("columns, legend_columns", [(80, 2), (200, 5)])
def test_without_colour_a_terminal_plot_of_24_curves_tells_them_apart_by_pattern(
    sweep, columns, legend_columns
):
    result = sweep.read(
        "plot", *sweep.ids.values(), "--y", "loss,acc", COLUMNS=str(columns), LINES="24"
    )
    assert result.returncode == 0, text(result.stderr)
    out = text(result.stdout)
    assert "\033[" not in out  # piped: no colour
    lines = out.splitlines()
    assert all(len(line) <= columns for line in lines), max(map(len, lines))
    rows, legend = _rows_and_legend(lines)
    assert len(rows) >= 10  # the legend does not flatten the curves to a few rows
    note = legend.pop()
    assert note == "     (patterns repeat after 6 curves: in colour, or with -o FILE, they do not)"
    assert len(legend) == math.ceil(24 / legend_columns)  # in columns, filled down
    cells = _cells(legend)
    assert len(cells) == 24
    # Each of six curves in turn has a pattern of its own; the legend shows it.
    samples = [cell[:4] for cell in cells]
    assert samples[:6] == ["⠤⠤⠤⠤", "⠤ ⠤ ", "⠄⠄⠄⠄", "⠤⠤ ⠄", "⠄ ⠄ ", "⠤⠤⠤ "]
    room = (columns + 2) // legend_columns - 2 - 5  # the columns share the width
    assert cells[0][5:].rstrip() == _label(sweep, 0)[: room - 1] + "…"
    assert cells[1][5:].rstrip() == _label(sweep, 0)[: room - 1] + "…"  # its acc


def test_in_colour_a_terminal_legend_names_a_trial_by_colour_and_a_key_by_pattern(
    sweep, monkeypatch
):
    from kleio.core.reading.series import PALETTE

    monkeypatch.setattr("kleio.cli.output._is_terminal", lambda stream: True)
    result = sweep.read("plot", *sweep.ids.values(), "--y", "loss,acc", COLUMNS="200")
    assert result.returncode == 0, text(result.stderr)
    lines = text(result.stdout).splitlines()
    _, legend = _rows_and_legend(lines)
    cells = _cells(legend)
    assert len(cells) == 14  # 12 trials, 2 keys: the note of patterns is not needed
    for index, cell in enumerate(cells[:12]):
        colour = COLOURS[index]
        label = _label(sweep, index)[: (200 + 2) // 5 - 2 - 5 - 1] + "…"  # 5 columns
        assert cell.rstrip() == f"\033[{colour}m⠤⠤⠤⠤\033[0m {label}"
        assert any(f"\033[{colour}m" in line for line in lines[:10])  # its curves drawn
    assert [cell.rstrip() for cell in cells[12:]] == ["⠤⠤⠤⠤ loss", "⠤ ⠤  acc"]
    assert len(set(COLOURS)) == len(COLOURS) == len(PALETTE) == 20


def _lab(red: float, green: float, blue: float) -> tuple[float, float, float]:
    """sRGB (0-255) in CIELAB (D65)."""
    linear = [
        (c / 255 / 12.92) if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4
        for c in (red, green, blue)
    ]
    r, g, b = linear
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def test_terminal_colours_are_the_nearest_of_256_to_the_palette_of_files_and_dashboard():
    from kleio.core.reading.series import PALETTE

    levels = (0, 95, 135, 175, 215, 255)
    xterm = {16 + 36 * r + 6 * g + b: (levels[r], levels[g], levels[b])
             for r in range(6) for g in range(6) for b in range(6)}  # fmt: skip
    xterm.update({232 + i: (8 + 10 * i,) * 3 for i in range(24)})
    for colour, ansi in zip(PALETTE, COLOURS, strict=True):
        want = _lab(*(int(colour[i : i + 2], 16) for i in (1, 3, 5)))
        nearest = min(xterm, key=lambda n: math.dist(_lab(*xterm[n]), want))
        assert ansi == f"38;5;{nearest}", colour


def test_a_line_style_is_a_pattern_of_dots_that_runs_on_along_the_curve():
    from kleio.cli.braille import PATTERNS
    from kleio.cli.plot import LINESTYLES
    from kleio.core.reading.series import STYLES

    assert list(PATTERNS) == list(LINESTYLES) == list(STYLES)  # each drawer draws each style

    def drawn(style: str, points) -> str:
        canvas = Canvas(10, 1)
        canvas.path(points, None, style)
        return canvas.rows(False)[0]

    flat = [(0, 0), (19, 0)]
    assert drawn("solid", flat) == "⠉" * 10
    assert drawn("dotted", flat) == "⠁" * 10
    assert drawn("dashed", flat) == "⠉ " * 5
    assert drawn("sparse", flat) == "⠁ " * 5
    # Cut in pieces, the pattern goes on where the piece before stopped.
    assert drawn("dashed", [(0, 0), (5, 0), (11, 0), (19, 0)]) == "⠉ " * 5


def test_a_label_holding_dollar_signs_is_written_as_it_is(tmp_path):
    """A configuration value such as ``$HOME`` or ``$x_1$`` is no formula to matplotlib."""
    import matplotlib

    from kleio.cli.plot import _write_figure
    from kleio.core.reading.series import Curve, Plot

    labels = ["1111111 path=$HOME/$unclosed \\frac", "2222222 name=$x_1$"]
    curves = [
        Curve(str(i), label[:7], "completed", "loss", label, [0, 1], [1.0, 0.5], [], 2)
        for i, label in enumerate(labels)
    ]
    svg = tmp_path / "dollars.svg"
    _write_figure(matplotlib, Plot("step", curves, [], trials=2), str(svg), Namespace(log=False))
    legend = ElementTree.parse(svg).getroot().find(".//svg:g[@id='legend_1']", _SVG)
    assert ["".join(node.itertext()) for node in legend.iterfind(".//svg:text", _SVG)] == labels
