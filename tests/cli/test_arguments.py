"""Where Kleio's words end and the script's begin, and what a table looks like."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kleio.cli import arguments, main, suggestions
from kleio.cli.main import _subparser, build_parser
from kleio.cli.output import Display, _cut, _fitted, number, table
from kleio.cli.words import command_after_options, options_around_id
from kleio.core.model.clock import zone_named


@pytest.fixture(scope="module")
def parser():
    return build_parser()


@pytest.mark.parametrize(
    "words, kleio, command",
    [
        (["python", "t.py", "--tags", "x"], [], ["python", "t.py", "--tags", "x"]),
        (["--tags", "a", "python", "--c"], ["--tags", "a"], ["python", "--c"]),
        (["--tags=a", "--capture", "x"], ["--tags=a", "--capture"], ["x"]),
        (["--capture", "--", "--x"], ["--capture"], ["--x"]),
        (["--cap", "python"], ["--cap"], ["python"]),  # no abbreviation: argparse refuses
        (["-h", "python"], ["-h"], ["python"]),
        (["--tags"], ["--tags"], []),
    ],
)
def test_run_reads_its_options_before_the_command_only(parser, words, kleio, command):
    assert command_after_options(_subparser(parser, "run"), words) == (
        kleio,
        {"command": command},
    )


@pytest.mark.parametrize(
    "words, kleio, changes",
    [
        (["ID", "--lr", "1"], ["ID"], ["--lr", "1"]),
        (
            ["--no-run", "ID", "--timestamp", "e=1", "--lr", "1"],
            ["--no-run", "--timestamp", "e=1", "ID"],
            ["--lr", "1"],
        ),
        (
            ["ID", "--lr=1", "--tags=a", "--", "--tags", "b"],
            ["--tags=a", "ID"],
            ["--lr=1", "--tags", "b"],
        ),
        (["ID", "--allow-code-change", "x"], ["--allow-code-change", "ID"], ["x"]),
        (["--lr", "ID"], ["--lr", "ID"], []),  # an unknown option before the id: refused
    ],
)
def test_branch_reads_its_options_on_both_sides_of_the_id(parser, words, kleio, changes):
    assert options_around_id(_subparser(parser, "branch"), words) == (
        kleio,
        {"changes": changes},
    )


# -- what the help writes out, checked against the domain ------------------------------
# `kleio --help` imports no module of the domain (tests/test_architecture.py): the names
# it shows are written out in the command line's definitions, and must stay the domain's.


def test_the_statuses_of_the_help_are_the_trials_statuses():
    from kleio.core.model.status import STATUSES

    assert arguments.STATUSES == STATUSES, "update STATUSES in kleio/cli/arguments.py"


def test_an_allow_option_per_identity_component():
    from kleio.core.capture.snapshot import COMPONENTS

    assert {c.option: c.name for c in COMPONENTS} == arguments.CHANGES, (
        "a new identity component needs its option in CHANGES of kleio/cli/arguments.py"
    )


def test_the_database_option_names_every_backend():
    from kleio.store import schemes_help

    assert schemes_help() == main._ADDRESSES, "update _ADDRESSES in kleio/cli/main.py"


@pytest.mark.parametrize(
    "typo, name, edits",
    [
        ("tial", "tail", 1),
        ("tai", "tail", 1),
        ("tal", "tail", 1),
        ("stast", "stats", 1),
        ("brnach", "branch", 1),
        ("swtichovr", "switchover", 2),
        ("xyz", "ls", 3),
    ],
)
def test_edits_count_insertions_deletions_replacements_and_swaps(typo, name, edits):
    assert suggestions._edits(typo, name) == edits


@pytest.mark.parametrize(
    "value, shown",
    [
        (0.010956081337462923, "0.01096"),
        (1.23456, "1.235"),
        (12345.678, "12346"),
        (0.5, "0.5"),
        (100.0, "100"),
        (-2.5e-7, "-2.5e-07"),
        (0.0, "0"),
        (float("nan"), "nan"),
    ],
)
def test_numbers_have_four_significant_digits_in_tables(value, shown):
    assert number(value) == shown


def test_a_table_cuts_its_widest_cuttable_column_to_the_width():
    out = io.StringIO()
    rows = [["a", "x" * 50, "y" * 10], ["b", "short", "z"]]
    table(out, ["ID", "COMMAND", "TAGS"], rows, width=40, fit=[False, True, True])
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 40
    assert lines[1] == "a   " + "x" * 23 + "…  " + "y" * 10
    piped = io.StringIO()
    table(piped, ["ID", "COMMAND", "TAGS"], rows, fit=[False, True, True])
    assert "x" * 50 in piped.getvalue()


@pytest.mark.parametrize("columns", ["60", "100"])
def test_help_is_wrapped_to_the_terminal_width(columns, monkeypatch):
    # The width is read without shutil (its import costs every run 3 ms), as argparse
    # reads it: COLUMNS, less the two columns argparse keeps free.
    monkeypatch.setenv("COLUMNS", columns)
    text = _subparser(build_parser(["ls"]), "ls").format_help()
    widest = max(len(line) for line in text.splitlines())
    assert int(columns) - 12 <= widest <= int(columns) - 2


def _table_one_line_at_a_time(headers, rows, width=None, fit=None, paint=None) -> str:
    """What a table is, written plainly: the widths, then each line cut, padded, painted."""
    widths = [
        max([len(header), *(len(row[i]) for row in rows)]) for i, header in enumerate(headers)
    ]
    if width is not None and fit:
        widths = _fitted(widths, headers, fit, width)
    lines = []
    for number_, row in enumerate([list(headers), *rows]):
        shown = [_cut(value, widths[i]) for i, value in enumerate(row)] if width else row
        padded = [value.ljust(widths[i]) for i, value in enumerate(shown)]
        if number_ and paint:
            padded = [p(value) if p else value for value, p in zip(padded, paint, strict=True)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines) + "\n"


@given(
    st.lists(st.lists(st.text(alphabet="ab …é ", max_size=12), min_size=3, max_size=3), max_size=8),
    st.one_of(st.none(), st.integers(0, 40)),
    st.booleans(),
)
def test_a_table_is_the_same_built_column_by_column_as_line_by_line(rows, width, painted):
    headers, fit = ["ID", "STATUS", "COMMAND"], [False, True, True]
    paint = [None, lambda text: f"<{text}>", None] if painted else None
    out = io.StringIO()
    table(out, headers, rows, width=width, fit=fit, paint=paint)
    assert out.getvalue() == _table_one_line_at_a_time(headers, rows, width, fit, paint)


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_times_formatted_once_a_second_read_as_each_formatted_alone(zone):
    display = Display(zone=zone_named(zone))
    shown = display.times()
    # Around second boundaries (a time a hair under the next second rounds up to it),
    # before the epoch, at a change of daylight saving time, repeated.
    moments = [1.7e9, 1.7e9 + 0.9999994, 1.7e9 + 0.9999996, 1.7e9 + 0.5, -1.5, -0.0000004]
    moments += [1710054000.0 + delta for delta in (-0.5, 0, 3599.9999999, 3600)] * 2
    assert [shown(moment) for moment in [*moments, None]] == [
        display.time(moment) for moment in [*moments, None]
    ]
    assert display.times(precise=True)(1.7e9 + 0.25) == display.time(1.7e9 + 0.25, True)
