"""The configuration a command line expresses, and command lines made from one."""

from __future__ import annotations

import json

import pytest

from kleio.core.model.commandline import (
    ConfigFileError,
    configuration_of,
    split_command,
    typed,
    with_options,
)
from kleio.core.model.errors import KleioError


def configuration(*argv: str, cwd=None) -> dict:
    return configuration_of(split_command(argv), cwd=str(cwd) if cwd else None)


# -- the program and its interpreter ---------------------------------------------------


def test_python_options_and_the_script_are_not_configuration():
    command = split_command(["python", "-u", "-W", "error", "train.py", "--lr", "0.1"])
    assert command.interpreter == "python"
    assert command.program == "train.py"
    assert command.prefix == ["python", "-u", "-W", "error", "train.py"]
    assert configuration_of(command) == {"lr": 0.1}


def test_python_dash_m_runs_a_module_that_is_the_program():
    command = split_command(["python3", "-O", "-m", "pkg.train", "--epochs", "3"])
    assert command.interpreter == "python3"
    assert command.program == "pkg.train"
    assert command.prefix == ["python3", "-O", "-m", "pkg.train"]
    assert configuration_of(command) == {"epochs": 3}


def test_python_dash_c_code_is_neither_a_program_nor_configuration():
    command = split_command(["python", "-c", "import sys; print(sys.argv)", "--seed", "1"])
    assert command.program is None
    assert command.prefix == ["python", "-c", "import sys; print(sys.argv)"]
    assert configuration_of(command) == {"seed": 1}


@pytest.mark.parametrize("interpreter", ["/usr/bin/python3.11", "pypy3", "python"])
def test_an_interpreter_is_recognised_by_its_name_whatever_its_folder_or_version(interpreter):
    command = split_command([interpreter, "train.py", "--lr", "1"])
    assert (command.interpreter, command.program) == (interpreter, "train.py")
    assert configuration_of(command) == {"lr": 1}


def test_a_program_that_is_not_python_is_the_first_word():
    command = split_command(["./run.sh", "--nodes", "2", "input.txt"])
    assert command.interpreter is None
    assert command.program == "./run.sh"
    assert command.prefix == ["./run.sh"]
    assert configuration_of(command) == {"nodes": [2, "input.txt"]}


def test_an_empty_command_is_refused_with_a_hint():
    with pytest.raises(KleioError, match="no command given"):
        split_command([])


# -- options and positionals -----------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [["--lr", "0.1"], ["--lr=0.1"], ["-lr", "0.1"]],
    ids=["space", "equals", "single-dash"],
)
def test_every_spelling_of_an_option_gives_the_same_value(arguments):
    assert configuration("python", "train.py", *arguments) == {"lr": 0.1}


def test_a_short_option_takes_its_value():
    assert configuration("prog", "-k", "v", "-n", "3") == {"k": "v", "n": 3}


def test_several_values_make_a_list():
    assert configuration("prog", "--layers", "64", "64", "32") == {"layers": [64, 64, 32]}


def test_an_option_without_value_is_a_flag():
    assert configuration("prog", "--verbose", "--lr", "0.1", "--debug") == {
        "verbose": True,
        "lr": 0.1,
        "debug": True,
    }


def test_a_repeated_option_collects_its_occurrences_in_a_list():
    assert configuration("prog", "--tag", "a", "--tag", "b", "--tag", "c") == {
        "tag": ["a", "b", "c"]
    }
    assert configuration("prog", "--pair", "1", "2", "--pair", "3", "4") == {
        "pair": [[1, 2], [3, 4]]
    }


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--x", "1", "2", "--x", "3"], [[1, 2], 3]),
        (["--x", "1", "--x", "2", "3", "--x", "4", "5"], [1, [2, 3], [4, 5]]),
    ],
    ids=["list-then-one", "one-then-lists"],
)
def test_each_occurrence_of_a_repeated_option_is_one_item_whatever_its_number_of_values(
    arguments, expected
):
    # `--x 1 2 --x 3` must not read as `--x 1 --x 2 --x 3` (nor as `--x 1 2 3`).
    assert configuration("prog", *arguments) == {"x": expected}


def test_everything_after_a_double_dash_is_positional():
    assert configuration("prog", "--fast", "--", "a", "--b", "-3") == {
        "fast": True,
        "_pos_0": "a",
        "_pos_1": "--b",
        "_pos_2": -3,
    }


def test_negative_numbers_are_values_not_options():
    assert configuration("prog", "--shift", "-3", "--eps", "-1e-3", "--bias", "-.5", "2") == {
        "shift": -3,
        "eps": -0.001,
        "bias": [-0.5, 2],
    }


def test_positionals_come_before_the_first_option_and_keep_their_order():
    assert configuration("python", "train.py", "data/", "7", "--lr", "0.1") == {
        "_pos_0": "data/",
        "_pos_1": 7,
        "lr": 0.1,
    }


# -- typing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-12", -12),
        ("0.1", 0.1),
        ("1e-3", 0.001),
        ("-2.5E2", -250.0),
        (".5", 0.5),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("adam", "adam"),
        ("0x10", "0x10"),
        ("1_000", "1_000"),
        ("yes", "yes"),
        ("null", "null"),
        ("", ""),
    ],
)
def test_values_are_typed_like_strict_yaml_scalars(text, value):
    result = typed(text)
    assert result == value and type(result) is type(value)


# -- configuration files ---------------------------------------------------------------


def test_a_yaml_file_named_on_the_command_line_is_replaced_by_its_content(tmp_path):
    (tmp_path / "cfg.yaml").write_text("model:\n  layers: [64, 32]\n  act: relu\nday: 2024-01-02\n")
    assert configuration("python", "train.py", "--config", "cfg.yaml", cwd=tmp_path) == {
        "config": {"model": {"layers": [64, 32], "act": "relu"}, "day": "2024-01-02"}
    }


def test_a_json_file_is_replaced_by_its_content_as_a_positional_too(tmp_path):
    (tmp_path / "params.json").write_text(json.dumps({"lr": 0.1, "names": ["a", "b"]}))
    assert configuration("prog", "params.json", cwd=tmp_path) == {
        "_pos_0": {"lr": 0.1, "names": ["a", "b"]}
    }


def test_a_changed_file_is_a_changed_configuration(tmp_path):
    path = tmp_path / "cfg.yml"
    path.write_text("lr: 0.1\n")
    before = configuration("prog", "--config", "cfg.yml", cwd=tmp_path)
    path.write_text("lr: 0.2\n")
    assert configuration("prog", "--config", "cfg.yml", cwd=tmp_path) != before


def test_a_missing_json_file_stays_its_name(tmp_path):
    assert configuration("prog", "--config", "absent.json", cwd=tmp_path) == {
        "config": "absent.json"
    }


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("bad.yaml", "a: 1\nb: [1, 2\nc: 3\n", 3),
        ("bad.json", '{\n  "a": 1,\n  "b": \n}\n', 4),
    ],
)
def test_a_malformed_file_is_an_error_naming_the_file_and_the_line(tmp_path, name, content, line):
    (tmp_path / name).write_text(content)
    with pytest.raises(ConfigFileError) as raised:
        configuration("prog", "--config", name, cwd=tmp_path)
    message = str(raised.value)
    assert "\n" not in message
    assert str(tmp_path / name) in message
    assert f"line {line}" in message


# -- command lines again ---------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["python", "-u", "-W", "error", "train.py", "data/", "--lr=0.1", "--layers", "1", "2"],
        ["python", "-m", "pkg.train", "--flag", "--x", "-3"],
        ["python", "-c", "print(1)", "--a", "1"],
        ["./run.sh", "in", "out", "--verbose", "--", "--not-an-option", "x"],
        ["prog", "--x", "1", "--x", "2", "--x=3", "--"],
        ["python"],
    ],
)
def test_words_give_back_the_command_line_exactly(argv):
    assert split_command(argv).words() == argv


def test_a_positional_after_an_option_with_equals_stays_in_its_place():
    argv = ["python", "train.py", "--lr=0.1", "data/"]
    assert split_command(argv).words() == argv


def test_a_replaced_option_keeps_its_place_and_spelling():
    argv = ["python", "train.py", "data/", "--lr", "0.1", "-k", "1", "--epochs", "3"]
    assert with_options(argv, [("--lr", ["0.01"]), ("--k", ["2"])]) == [
        "python",
        "train.py",
        "data/",
        "--lr",
        "0.01",
        "-k",
        "2",
        "--epochs",
        "3",
    ]


def test_an_option_written_with_equals_stays_joined():
    argv = ["python", "train.py", "--lr=0.1", "--epochs", "3"]
    assert with_options(argv, [("--lr", ["0.01"])]) == [
        "python",
        "train.py",
        "--lr=0.01",
        "--epochs",
        "3",
    ]


def test_a_joined_option_given_several_values_is_written_apart():
    argv = ["prog", "--layers=64"]
    assert with_options(argv, [("--layers", ["32", "16"])]) == ["prog", "--layers", "32", "16"]


def test_new_options_and_flags_are_appended_before_the_trailing_positionals():
    argv = ["./run.sh", "in", "--x", "1", "--", "out"]
    assert with_options(argv, [("--y", ["2"]), ("--verbose", [])]) == [
        "./run.sh",
        "in",
        "--x",
        "1",
        "--y",
        "2",
        "--verbose",
        "--",
        "out",
    ]


def test_an_option_can_become_a_flag():
    assert with_options(["prog", "--debug=0"], [("--debug", [])]) == ["prog", "--debug"]


def test_a_repeated_option_is_replaced_by_one():
    argv = ["prog", "--tag", "a", "--seed", "1", "--tag", "b"]
    assert with_options(argv, [("--tag", ["c"])]) == ["prog", "--tag", "c", "--seed", "1"]


def test_positionals_and_the_interpreter_never_change():
    argv = ["python", "-u", "-m", "pkg", "a.txt", "--lr", "0.1", "--", "b.txt", "--lr"]
    changed = with_options(argv, [("--lr", ["0.5"]), ("--new", ["x"])])
    assert changed == [
        "python",
        "-u",
        "-m",
        "pkg",
        "a.txt",
        "--lr",
        "0.5",
        "--new",
        "x",
        "--",
        "b.txt",
        "--lr",
    ]
    assert split_command(changed).positionals == split_command(argv).positionals
