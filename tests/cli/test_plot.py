"""``kleio plot``, end to end: curves of two trials and a branch drawn in a PNG, an SVG and
the terminal at a fixed width, legends naming trials by what differs, and one-line
errors (matplotlib missing, a file type it cannot write, a key no trial logged)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kleio.cli.braille import COLOURS, Line, Marker, draw
from tests.conftest import commit, git, write_script
from tests.helpers import clean_environment, invoke, run_kleio, text, trial_id_in

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
        f"branch point of {trials.short('c')} (step=2)",
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
    assert lines[-2].split() == ["0", "step", "5"]
    assert lines[-1] == f"⠤⠤ {trials.short('a')}"


def test_a_terminal_plot_of_a_branch_marks_its_branch_point(trials):
    result = trials.read(
        "plot", trials.ids["c"], trials.ids["b"], "--y", "loss", "--x", "epoch", COLUMNS="70"
    )
    assert result.returncode == 0, text(result.stderr)
    lines = text(result.stdout).splitlines()
    assert lines[-3:] == [
        f"⠤⠤ {trials.short('c')} lr=0.05",
        f"⠤⠤ {trials.short('b')} lr=0.01",
        f"⡇  branch point of {trials.short('c')} (epoch=2)",
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


def _one_line_error(result, *fragments: str) -> str:
    errors = text(result.stderr)
    assert result.returncode != 0, errors
    assert "Traceback" not in errors, errors
    assert errors.count("\n") == 1 and errors.startswith("kleio: error: "), errors
    for fragment in fragments:
        assert fragment in errors, errors
    return errors


def test_without_matplotlib_plot_to_a_file_says_how_to_install_it(trials, tmp_path):
    blocker = tmp_path / "blocked" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    result = trials.kleio(
        "plot", trials.ids["a"], "--y", "loss", "-o", str(tmp_path / "x.png"),
        PYTHONPATH=str(blocker.parent),
    )  # fmt: skip
    _one_line_error(result, "needs matplotlib: pip install 'kleio[plot]'")
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
    _one_line_error(result, *fragments)
    assert result.returncode == 2


def test_plot_of_an_unknown_trial_is_an_error(trials):
    _one_line_error(trials.read("plot", "fffffff", "--y", "loss"), "no trial with id fffffff")
