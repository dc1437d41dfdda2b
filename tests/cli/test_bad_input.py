"""Bad input gets one clear line, a non-zero exit, and never a traceback.

Also covered elsewhere: unknown and ambiguous ids for every command
(tests/cli/test_reading.py), a command that is not found, non-UTF-8 and very long output
(tests/cli/test_run.py), unserialisable statistics at the call (tests/client/test_values.py),
artifact names with path separators (tests/cli/test_reading.py), a file that is not a
Kleio database and malformed settings files (tests/cli/test_basics.py), unknown keys in
``--keys``/``--sort``, bad ``--where``, ``rm`` of a running trial, ``checkout`` into a
folder that is not empty and ``import`` of a file that is not a whole export of a format
this Kleio reads (tests/cli/test_after_a_sweep.py).
"""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import write_script
from tests.helpers import text


def one_line_error(result) -> str:
    errors = text(result.stderr)
    assert result.returncode != 0, errors
    assert "Traceback" not in errors + text(result.stdout)
    lines = [line for line in errors.splitlines() if line.startswith("kleio: error:")]
    assert len(lines) == 1, errors
    return lines[0]


@pytest.mark.parametrize(
    "name, content, where",
    [
        ("cfg.yaml", "optimizer:\n  lr: [0.1\n  momentum: 0.9\n", "line 3"),
        ("cfg.yml", "a: 1\n\tb: 2\n", "line 2"),
        ("cfg.json", '{"lr": 0.1,\n "momentum": }\n', "line 2"),
    ],
)
def test_a_malformed_config_file_on_the_command_line_names_the_file_and_line(
    kleio, project, journal, name, content, where
):
    (project / name).write_text(content)
    line = one_line_error(kleio("python", "train.py", "--config", name))
    assert name in line and where in line
    assert journal.find_trials() == []  # nothing was recorded for it


def test_a_config_file_that_is_not_text_is_refused(kleio, project):
    (project / "cfg.yaml").write_bytes(b"\xff\xfe\x00garbage")
    line = one_line_error(kleio("python", "train.py", "--config", "cfg.yaml"))
    assert "cfg.yaml" in line and "UTF-8" in line


def test_a_config_file_that_disappears_between_runs_is_named(kleio, project, journal):
    (project / "cfg.yaml").write_text("lr: 0.1\n")
    first = kleio("python", "train.py", "--config", "cfg.yaml")
    assert first.returncode == 0
    (project / "cfg.yaml").unlink()
    line = one_line_error(kleio("python", "train.py", "--config", "cfg.yaml"))
    assert "cfg.yaml does not exist" in line
    assert len(journal.find_trials()) == 1  # no trial made of the missing file


@pytest.mark.parametrize("args", [("run",), ("run", "--"), ("save",), ("run", "--tags", "a;b")])
def test_an_empty_command_is_an_error(kleio, args):
    line = one_line_error(kleio(*args))
    assert "no command" in line or "one tag" in line


def test_kleio_alone_prints_its_help(kleio):
    result = kleio()
    assert result.returncode == 2 and "usage: kleio" in text(result.stderr)


def test_an_unusable_kleio_home_is_one_line(kleio, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for args in (("python", "train.py"), ("ls",)):
        line = one_line_error(kleio(*args, KLEIO_HOME=str(blocker / "home")))
        assert str(blocker / "home") in line


@pytest.mark.parametrize(
    "variables, fragment",
    [
        ({"KLEIO_LEASE": "soon"}, "lease must be a positive number"),
        ({"KLEIO_HEARTBEAT": "30", "KLEIO_LEASE": "10"}, "longer than the heartbeat"),
        ({"KLEIO_WRITE_PATIENCE": "-1"}, "write_patience must be a positive number"),
        ({"KLEIO_WRITE_PATIENCE": "nan"}, "write_patience must be a positive number"),
        ({"KLEIO_DB_ADDRESS": "postgres://db/x"}, "postgres://"),
    ],
)
def test_bad_settings_in_the_environment_are_one_line(kleio, variables, fragment):
    assert fragment in one_line_error(kleio("ls", **variables))


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("ls", "--status", "finished"), "unknown status 'finished'"),
        (("stats", "0", "--where", "epoch"), "no trial"),
    ],
)
def test_bad_option_values_are_one_line(kleio, args, fragment):
    assert fragment in one_line_error(kleio(*args))


def test_a_bad_where_clause_is_one_line(kleio, journal):
    trial = kleio("python", "train.py")
    short = journal.find_trials()[0]["_id"][:7]
    assert trial.returncode == 0
    # stats reads conditions as ls does (one grammar): KEY OP VALUE
    assert "expected KEY OP VALUE" in one_line_error(kleio("stats", short, "--where", "epoch"))
    assert "KEY=VALUE" in one_line_error(kleio("branch", "--timestamp", "=3", short))


def test_an_unserialisable_statistic_fails_the_script_at_the_call(kleio, project, journal):
    write_script(
        project,
        "bad_stat.py",
        """\
        from kleio.client.logger import kleio_logger
        kleio_logger.log_statistic(epoch=1, loss=0.5)
        kleio_logger.log_statistic(epoch=2, model=object())
    """,
    )
    result = kleio("python", "bad_stat.py")
    assert result.returncode == 1
    errors = text(result.stderr)
    assert "TypeError: statistic 'model': object cannot be journalled" in errors
    (trial,) = journal.find_trials()
    assert trial["status"] == "broken"
    assert [e.data for e in journal.read_events(trial["_id"], ["statistic"])] == [
        {"epoch": 1, "loss": 0.5}
    ]  # what was logged before the mistake is kept


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        (
            "laughs.yaml",
            "".join(
                f"l{n}: &l{n} [{','.join([f'*l{n - 1}' if n else '0'] * 9)}]\n" for n in range(6)
            ),
            "values once its aliases are expanded",
        ),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "nested deeper than"),
    ],
)
def test_a_config_file_over_the_caps_is_refused_in_one_line_naming_it(
    kleio, project, journal, name, content, fragment
):
    (project / name).write_text(content)
    line = one_line_error(kleio("python", "train.py", "--config", name))
    assert name in line and fragment in line
    assert journal.find_trials() == []


NOT_UTF8 = os.fsdecode(b"caf\xe9-\xff.txt")  # how Python passes bytes that are not UTF-8


@pytest.mark.parametrize(
    "args",
    [
        ("python", "train.py", NOT_UTF8),
        ("python", "train.py", "--name", NOT_UTF8),
        ("--tags", NOT_UTF8, "python", "train.py"),
        ("ls", "--tags", NOT_UTF8),
    ],
)
def test_an_argument_that_is_not_utf8_is_one_line(kleio, journal, args):
    line = one_line_error(kleio(*args))
    assert "not UTF-8" in line and "caf\\xe9-\\xff.txt" in line
    assert journal.find_trials() == []


ARTIFACT = """\
from kleio.client.logger import kleio_logger
kleio_logger.log_artifact("weights.bin", b"\\x00\\x01" * 10)
"""


@pytest.mark.parametrize("output", ["a-file", "a-file/inside"])
def test_artifacts_get_into_a_file_is_one_line_and_the_file_is_kept(kleio, project, output):
    write_script(project, "art.py", ARTIFACT)
    assert kleio("python", "art.py").returncode == 0
    (project / "a-file").write_text("mine")
    trial = kleio("ls", "--format", "csv").stdout.decode().splitlines()[1].split(",")[0]
    line = one_line_error(kleio("artifacts", "get", trial, "weights.bin", "-o", output))
    assert "a-file" in line
    assert (project / "a-file").read_text() == "mine"


NOT_FINITE = """\
from kleio.client.logger import kleio_logger
kleio_logger.log_statistic(step=1, loss=float("nan"), best=float("inf"), worst=-float("inf"))
kleio_logger.log_statistic(step=2, loss=0.5, curve=[1.0, float("nan")])
"""


def strict_json(text: str):
    """JSON as the standard defines it: no NaN, Infinity or -Infinity."""

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_output_is_strict_json_with_non_finite_numbers_as_strings(kleio, project):
    write_script(project, "nan.py", NOT_FINITE)
    assert kleio("python", "nan.py").returncode == 0
    trial = kleio("ls", "--format", "csv").stdout.decode().splitlines()[1].split(",")[0]
    stats = strict_json(text(kleio("stats", trial, "--format", "json").stdout))
    assert stats == [
        {"step": 1, "loss": "NaN", "best": "Infinity", "worst": "-Infinity"},
        {"step": 2, "loss": 0.5, "curve": [1.0, "NaN"]},
    ]
    record = strict_json(text(kleio("info", "--json", trial).stdout))
    assert record["statistics"]["last"] == {
        "step": 2,
        "loss": 0.5,
        "best": "Infinity",
        "worst": "-Infinity",
        "curve": [1.0, "NaN"],
    }
    table = text(kleio("stats", trial, "--keys", "curve").stdout)
    assert '[1.0, "NaN"]' in table  # a cell holding a list is JSON too


@pytest.mark.parametrize(
    "args",
    [
        ["ls", "--database", "mongodb://alice:s3cr3tpw@db.example.org/"],
        ["ls", "--database=mongodb://alice:s3cr3tpw@db.example.org/", "--bogus"],
    ],
)
def test_a_misplaced_database_option_never_shows_its_password(kleio, args):
    result = kleio(*args)
    assert result.returncode == 2
    assert "s3cr3tpw" not in text(result.stderr) + text(result.stdout)
    assert "unrecognized arguments: --database" in text(result.stderr)
