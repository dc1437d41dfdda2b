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


# -- 4. files the script writes are not configuration -----------------------------------

WRITER = """\
import json, os, sys
arguments = dict(zip(sys.argv[1::2], sys.argv[2::2]))
if "--config" in arguments:
    print("read", open(arguments["--config"]).read().strip())
with open(arguments["--out"], "w") as stream:
    stream.write(os.environ.get("WRITE", json.dumps({"accuracy": 0.9})))
sys.exit(int(os.environ.get("EXIT", "0")))
"""


@pytest.fixture
def writer(project):
    write_script(project, "out.py", WRITER)
    commit(project, "writer")
    return project


@pytest.mark.parametrize("name", ["metrics.json", "results.yaml"])
def test_the_same_command_after_its_script_wrote_a_file_finds_the_broken_trial(
    kleio, writer, journal, name
):
    first = kleio("python", "out.py", "--out", name, EXIT="1")
    assert first.returncode == 1 and (writer / name).exists()
    trial = trial_id_in(first.stderr)
    again = kleio("python", "out.py", "--out", name)
    one_line_error(again, f"trial {trial[:7]} is broken")
    assert [document["_id"] for document in journal.find_trials()] == [trial]


def test_an_interrupted_trial_that_wrote_its_output_is_resumed(kleio, writer, journal):
    first = kleio("python", "out.py", "--out", "metrics.json", EXIT="130")
    trial = trial_id_in(first.stderr)
    assert journal.get_trial(trial)["status"] == "interrupted"
    again = kleio("python", "out.py", "--out", "metrics.json", WRITE='{"accuracy": 0.95}')
    assert again.returncode == 0, text(again.stderr)
    assert trial_id_in(again.stderr) == trial
    document = journal.get_trial(trial)
    assert document["status"] == "completed" and document["executions"] == 2
    assert document["configuration"] == {"out": "metrics.json"}
    (output,) = document["outputs"]
    assert output["path"] == "metrics.json" and output["execution"] == 2
    assert output["size"] == len('{"accuracy": 0.95}')
    # Once completed, the same command runs nothing, however many times.
    done = kleio("python", "out.py", "--out", "metrics.json")
    assert done.returncode == 0 and "already completed" in text(done.stderr)
    # `kleio run ID` reads the files as the trial did too.
    by_id = kleio("run", trial[:7])
    assert by_id.returncode == 0 and "already completed" in text(by_id.stderr)
    assert len(journal.find_trials()) == 1


def test_info_shows_the_files_a_trial_wrote_as_outputs(kleio, writer):
    trial = trial_id_in(kleio("python", "out.py", "--out", "metrics.json").stderr)
    info = text(kleio("info", trial[:7]).stdout)
    section = info.split("Outputs\n-------\n", 1)[1]
    assert section.startswith("  metrics.json  17 B  written by execution #1  sha256 ")
    recorded = json.loads(kleio("info", trial[:7], "--json").stdout)
    assert [output["path"] for output in recorded["outputs"]] == ["metrics.json"]
    assert recorded["inputs"] == []


def test_an_output_changed_by_someone_else_is_an_input_and_makes_a_new_trial(
    kleio, writer, journal
):
    first = trial_id_in(kleio("python", "out.py", "--out", "metrics.json", EXIT="1").stderr)
    (writer / "metrics.json").write_text('{"accuracy": 0.1}')  # not what the trial wrote
    second = kleio("python", "out.py", "--out", "metrics.json")
    assert second.returncode == 0, text(second.stderr)
    assert trial_id_in(second.stderr) != first
    document = journal.get_trial(trial_id_in(second.stderr))
    assert document["configuration"] == {"out": {"accuracy": 0.1}}
    assert document["inputs"] == ["metrics.json"]


def test_editing_an_input_config_between_runs_still_makes_a_new_trial(kleio, writer, journal):
    (writer / "config.yaml").write_text("lr: 0.1\n")
    words = ("python", "out.py", "--config", "config.yaml", "--out", "metrics.json")
    first = trial_id_in(kleio(*words).stderr)
    same = kleio(*words)
    assert "already completed" in text(same.stderr)  # its output did not make it new
    (writer / "config.yaml").write_text("lr: 0.2\n")
    edited = kleio(*words)
    assert edited.returncode == 0, text(edited.stderr)
    assert trial_id_in(edited.stderr) != first
    document = journal.get_trial(trial_id_in(edited.stderr))
    assert document["configuration"] == {"config": {"lr": 0.2}, "out": "metrics.json"}
    # metrics.json, written by the first trial of this command, is an output, not an input:
    assert document["inputs"] == ["config.yaml"]
    again = kleio(*words)  # so after the new trial wrote it, the command finds it again
    assert "already completed" in text(again.stderr)
    assert len(journal.find_trials()) == 2


def test_a_missing_output_is_no_missing_input(kleio, writer, journal):
    (writer / "config.yaml").write_text("lr: 0.1\n")
    words = ("python", "out.py", "--config", "config.yaml", "--out", "metrics.json")
    first = trial_id_in(kleio(*words).stderr)
    (writer / "config.yaml").write_text("lr: 0.2\n")
    (writer / "metrics.json").unlink()
    second = kleio(*words)  # the first trial wrote metrics.json, it never read it
    assert second.returncode == 0, text(second.stderr)
    assert trial_id_in(second.stderr) != first
    (writer / "config.yaml").unlink()  # but config.yaml was read: its loss is named
    one_line_error(kleio(*words), "config.yaml does not exist")


def test_a_malformed_file_the_trial_wrote_is_its_output_not_a_bad_input(kleio, writer, journal):
    first = kleio("python", "out.py", "--out", "metrics.json", WRITE='{"accu', EXIT="1")
    trial = trial_id_in(first.stderr)
    again = kleio("python", "out.py", "--out", "metrics.json")
    one_line_error(again, f"trial {trial[:7]} is broken")


def test_a_config_file_holding_only_its_own_name_is_refused(kleio, writer, journal):
    (writer / "metrics.json").write_text('"metrics.json"')
    one_line_error(kleio("python", "out.py", "--out", "metrics.json"), "its own name")
    assert journal.find_trials() == []


def test_a_branch_does_not_read_its_parents_output(kleio, writer, journal):
    parent = trial_id_in(kleio("python", "out.py", "--out", "metrics.json", "--lr", "1").stderr)
    child = kleio("branch", parent[:7], "--lr", "2")
    assert child.returncode == 0, text(child.stderr)
    branch = trial_id_in(child.stderr)
    assert journal.get_trial(branch)["configuration"] == {"out": "metrics.json", "lr": 2}
    again = kleio("run", branch[:7])  # the branch's own output does not change it either
    assert "already completed" in text(again.stderr)
