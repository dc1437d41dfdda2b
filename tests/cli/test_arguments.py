"""Where Kleio's words end and the script's begin, and what a table looks like."""

from __future__ import annotations

import io

import pytest

from kleio.cli import arguments
from kleio.cli.main import _subparser, build_parser
from kleio.cli.output import number, table


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
    assert arguments.command_after_options(_subparser(parser, "run"), words) == (
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
    assert arguments.options_around_id(_subparser(parser, "branch"), words) == (
        kleio,
        {"changes": changes},
    )


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
    assert arguments._edits(typo, name) == edits


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
