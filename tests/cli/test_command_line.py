"""How ``kleio`` reads a command line: Kleio's options end where the command starts,
``branch`` reads its options on both sides of the id, and a word that names nothing to
run is refused, not run."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from kleio.cli.main import COMMANDS
from tests.conftest import commit, write_script
from tests.helpers import invoke, text, trial_id_in

ECHO = "import json, sys\nprint(json.dumps(sys.argv[1:]))\n"

EPOCHS = """\
import sys
from kleio.client.logger import kleio_logger
for epoch in range(1, 4):
    kleio_logger.log_statistic(epoch=epoch, loss=1.0 / epoch)
print("argv", sys.argv[1:])
"""


def echoed(result) -> list[str]:
    assert result.returncode == 0, text(result.stderr)
    return json.loads(result.stdout)


def one_line_error(result, *fragments: str) -> str:
    errors = text(result.stderr)
    assert result.returncode != 0, errors
    assert "Traceback" not in errors + text(result.stdout), errors
    assert errors.count("\n") == 1, errors
    for fragment in fragments:
        assert fragment in errors, errors
    return errors


@pytest.fixture
def echo(project):
    write_script(project, "echo.py", ECHO)
    commit(project, "echo")
    return project


# -- 1. Kleio's options end where the command starts ------------------------------------


@pytest.mark.parametrize(
    "words",
    [
        ["--c", "1.0"],  # once "ambiguous option: --c could match --capture, --config"
        ["--a", "1"],
        ["--al", "1"],
        ["--allow", "1"],
        ["--a=1"],
        ["--cap"],
        ["-h"],  # the script's help, not Kleio's
        ["--help"],
        ["--tags", "x", "--capture", "--config", "c.yaml"],  # Kleio's names, the script's
        ["--project=p", "--allow-code-change"],
        ["--lr=0.1", "--lr", "0.2", "--lr=0.3"],  # --opt=value, repeated
        ["--", "--tags", "y"],
    ],
)
def test_every_word_after_the_command_reaches_the_script_unchanged(kleio, echo, journal, words):
    result = kleio("python", "echo.py", *words)
    assert echoed(result) == words
    document = journal.get_trial(trial_id_in(result.stderr))
    assert document["commandline"] == ["python", "echo.py", *words]
    assert document["tags"] == []


@pytest.mark.parametrize("subcommand", [["run"], ["save"]])
def test_run_and_save_read_the_scripts_options_as_the_scripts(kleio, echo, journal, subcommand):
    result = kleio(*subcommand, "--tags", "mine", "python", "echo.py", "--c", "1", "--tags", "x")
    assert result.returncode == 0, text(result.stderr)
    (document,) = journal.find_trials()
    assert document["commandline"] == ["python", "echo.py", "--c", "1", "--tags", "x"]
    assert document["tags"] == ["mine"]


def test_double_dash_ends_kleios_options(kleio, echo, journal):
    result = kleio("run", "--tags=a", "--", "python", "echo.py", "--tags", "b")
    assert echoed(result) == ["--tags", "b"]
    (document,) = journal.find_trials()
    assert document["tags"] == ["a"] and document["commandline"][0] == "python"


def test_kleios_options_are_never_abbreviated(kleio, echo, journal):
    for words in (["--cap", "python", "echo.py"], ["--tag", "a", "python", "echo.py"]):
        result = kleio(*words)
        assert result.returncode == 2 and "unrecognized arguments" in text(result.stderr)
    assert kleio("--data", "x.db", "ls").returncode == 2
    assert kleio("ls", "--stat", "broken").returncode == 2
    assert journal.find_trials() == []


# -- 2. branch reads its own options on both sides of the id ----------------------------


@pytest.fixture
def parent(kleio, project):
    write_script(project, "epochs.py", EPOCHS)
    commit(project, "epochs")
    result = kleio("python", "epochs.py", "--lr", "0.1")
    assert result.returncode == 0, text(result.stderr)
    return trial_id_in(result.stderr)


def test_branch_options_after_the_id_are_kleios(kleio, journal, parent):
    result = kleio(
        "branch", parent[:7], "--lr", "0.01", "--timestamp", "epoch=2", "--tags", "late",
        "--no-run",
    )  # fmt: skip
    assert result.returncode == 0, text(result.stderr)
    assert result.stdout == b""  # --no-run: recorded, not run
    (child,) = journal.find_trials(parent=parent)
    assert child["commandline"] == ["python", "epochs.py", "--lr", "0.01"]
    assert child["refers"]["timestamp"] == "epoch=2"
    assert child["tags"] == ["late"] and child["status"] == "new"


def test_after_a_double_dash_branch_words_are_the_scripts(kleio, journal, parent):
    result = kleio("branch", "--no-run", parent[:7], "--tags", "t", "--", "--timestamp", "3")
    assert result.returncode == 0, text(result.stderr)
    (child,) = journal.find_trials(parent=parent)
    assert child["commandline"] == ["python", "epochs.py", "--lr", "0.1", "--timestamp", "3"]
    assert child["refers"]["timestamp"] is None and child["tags"] == ["t"]


def test_a_branch_point_no_statistic_has_lists_what_the_parent_logged(kleio, journal, parent):
    result = kleio("branch", parent[:7], "--timestamp", "epoch=999", "--lr", "0.01")
    one_line_error(result, "epoch=999", "epoch from 1 to 3 (3 values)")
    assert journal.find_trials(parent=parent) == []
    result = kleio("branch", parent[:7], "--timestamp", "step=1")
    one_line_error(result, "step=1", "it logged no step")


def test_branch_with_changed_code_needs_an_allow_option_on_either_side(
    kleio, project, journal, parent
):
    (project / "epochs.py").write_text(EPOCHS.replace("1.0 / epoch", "2.0 / epoch"))
    refused = kleio("branch", parent[:7], "--lr", "0.01")
    one_line_error(refused, "code changed", "--allow-code-change")
    assert journal.find_trials(parent=parent) == []
    allowed = kleio("branch", parent[:7], "--lr", "0.01", "--allow-code-change")
    assert allowed.returncode == 0, text(allowed.stderr)
    (child,) = journal.find_trials(parent=parent)
    assert child["commandline"] == ["python", "epochs.py", "--lr", "0.01"]
    before = kleio("branch", "--allow-any-change", parent[:7], "--lr", "0.02", "--no-run")
    assert before.returncode == 0, text(before.stderr)


# -- 3. the first word decides -----------------------------------------------------------


def _executable(folder: Path, name: str, body: str = "") -> Path:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_kleio_command_wins_over_a_program_of_that_name(env, project, tmp_path, command):
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    marker = tmp_path / "ran"
    _executable(bin_folder, command, f"touch {marker}")
    env = {**env, "PATH": f"{bin_folder}{os.pathsep}{env['PATH']}"}
    invoke(command, "--help", env=env, cwd=project)
    assert not marker.exists()


def test_kleio_run_name_runs_the_program_even_when_it_is_a_kleio_command(
    kleio, env, journal, tmp_path
):
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    _executable(bin_folder, "tail", 'echo "the program tail $1"')
    result = kleio("run", "tail", "notes.txt", PATH=f"{bin_folder}{os.pathsep}{env['PATH']}")
    assert result.returncode == 0, text(result.stderr)
    assert text(result.stdout) == "the program tail notes.txt\n"
    (document,) = journal.find_trials()
    assert document["commandline"] == ["tail", "notes.txt"]


def test_a_program_wins_over_a_trial_id_prefix(kleio, env, tmp_path):
    trial = trial_id_in(kleio("python", "train.py").stderr)
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    for prefix in (trial[:2], trial[:3]):
        _executable(bin_folder, prefix, "echo the program")
    path = f"{env['PATH']}{os.pathsep}{bin_folder}"
    for words in ([trial[:2]], ["run", trial[:3]]):
        result = kleio(*words, PATH=path)
        assert result.returncode == 0, text(result.stderr)
        assert text(result.stdout) == "the program\n"  # not the trial resumed
    resumed = kleio("run", trial[:7], PATH=path)  # no program of that name: the trial
    assert "already completed" in text(resumed.stderr)


def _typos(name: str) -> list[str]:
    """``name`` with one letter missing, and with one letter replaced."""
    typos = {name[:-1], name[1:], name[:1] + "q" + name[2:], name[:-1] + "z"}
    return sorted(typo for typo in typos if typo and typo not in COMMANDS)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_typo_of_a_command_is_refused_with_a_suggestion_and_records_nothing(
    env, project, tmp_path, command
):
    empty = tmp_path / "no-programs"
    empty.mkdir()
    env = {**env, "PATH": str(empty)}  # no program of that name exists
    for typo in _typos(command):
        result = invoke(typo, "0", env=env, cwd=project)
        line = one_line_error(result, f"command not found: {typo}", f"`kleio {command}`")
        assert result.returncode == 127 and "did you mean" in line
    listed = invoke("ls", "--json", env=env, cwd=project)
    assert json.loads(listed.stdout) == []


@pytest.mark.parametrize(
    "words", [["delete", "6a680d5"], ["tagg"], ["kleio-no-such-program", "--x", "1"], ["e0"]]
)
def test_a_word_that_names_nothing_to_run_is_refused_with_127(kleio, journal, words):
    result = kleio(*words)
    one_line_error(result, f"command not found: {words[0]}")
    assert result.returncode == 127
    assert journal.find_trials() == []


@pytest.mark.parametrize("words", [[""], ["run", ""], ["run", "--", ""], ["save", " "]])
def test_an_empty_command_is_an_error_and_records_nothing(kleio, journal, words):
    one_line_error(kleio(*words), "the command is empty")
    assert journal.find_trials() == []


def test_a_usage_error_of_a_command_that_shadows_a_program_says_how_to_run_the_program(kleio):
    if not shutil.which("cat"):
        pytest.fail("cat, a POSIX program, is not on PATH")
    result = kleio("cat")
    assert result.returncode == 2
    assert "`kleio run cat ...` runs the program" in text(result.stderr)
