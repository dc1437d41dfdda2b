"""The conventions every command follows: help with an example, shell completion, one
time format, tables that fit the terminal, colours on a terminal only, typed API."""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
from pathlib import Path

import pytest

import kleio
from kleio.cli.main import COMMANDS, build_parser
from kleio.core.model import clock
from tests.conftest import write_script
from tests.helpers import invoke, run_kleio, start_kleio, text, trial_id_in

ROOT = Path(__file__).resolve().parents[2]
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
LONG = "python train.py " + " ".join(f"--option-{i} {i}" for i in range(12))


def on_terminal(env, cwd, *args: str, columns: int = 60, **extra: str) -> str:
    """What ``kleio ARGS`` prints on a terminal ``columns`` wide."""
    master, slave = pty.openpty()
    process = start_kleio(
        {**env, "COLUMNS": str(columns), "LINES": "40", **extra},
        cwd,
        *args,
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=60)
    os.close(master)
    return output.decode("utf-8").replace("\r\n", "\n")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_a_description_and_an_example_in_its_help(command):
    parser = _subcommands()[command]
    assert parser.description, f"`kleio {command} --help` has no description"
    assert "example" in (parser.epilog or ""), f"`kleio {command} --help` has no example"
    assert f"kleio {command}" in parser.epilog


# -- completion --------------------------------------------------------------------------


def completions(env, cwd, line: str) -> list[str]:
    """What argcomplete answers the shell for ``line`` (its own test mode)."""
    out = Path(cwd) / ".completions"
    run_kleio(
        env={
            **env,
            "_ARGCOMPLETE": "1",
            "_ARGCOMPLETE_IFS": "\n",
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        },
        cwd=cwd,
        timeout=60,
    ).check_returncode()
    return [word.strip() for word in out.read_text().split("\n") if word.strip()]


def test_completion_of_command_names_ids_and_tags(kleio, env, project):
    assert sorted(completions(env, project, "kleio ta")) == sorted(
        c for c in COMMANDS if c[:2] == "ta"
    )
    assert "tail" in completions(env, project, "kleio ta")
    ids = [
        trial_id_in(kleio("run", "--tags", f"tag-{i}", "python", "train.py", "--i", str(i)).stderr)
        for i in range(8)
    ]
    prefix = ids[0][:1]
    expected = {trial[:7] for trial in ids if trial.startswith(prefix)}
    assert set(completions(env, project, f"kleio info {prefix}")) == expected
    longer = ids[0][:9]
    assert completions(env, project, f"kleio cat {longer}") == [longer]
    assert set(completions(env, project, "kleio ls --tags tag-")) == {f"tag-{i}" for i in range(8)}
    assert "--local-time" in completions(env, project, "kleio ls --lo")


# -- one time format ---------------------------------------------------------------------


def test_json_has_every_time_in_iso_8601_utc_with_z(kleio, project):
    write_script(
        project,
        "logs.py",
        """\
        import io
        from kleio.client.logger import kleio_logger
        kleio_logger.log_statistic(epoch=1)
        kleio_logger.log_artifact("a.txt", io.BytesIO(b"71"))
        open("out.json", "w").write("{}")
        """,
    )
    trial = trial_id_in(kleio("python", "logs.py", "--out", "out.json").stderr)
    record = json.loads(kleio("info", trial, "--json").stdout)
    for key in ("created", "updated", "started", "ended"):
        assert ISO_Z.fullmatch(record[key]), (key, record[key])
    (execution,) = record["executions"]
    assert ISO_Z.fullmatch(execution["start"]) and ISO_Z.fullmatch(execution["end"])
    assert ISO_Z.fullmatch(record["artifacts"][0]["time"])
    assert ISO_Z.fullmatch(record["outputs"][0]["time"])
    (listed,) = json.loads(kleio("ls", "--json").stdout)
    assert ISO_Z.fullmatch(listed["created"])
    # The same time (a listing reads it back from SQLite to 15 significant digits).
    assert abs(clock.parse_iso(listed["created"]) - clock.parse_iso(record["created"])) < 1e-4
    (artifact,) = json.loads(kleio("artifacts", trial, "--json").stdout)
    assert ISO_Z.fullmatch(artifact["time"]) and artifact["size"] == 2
    csv_created = text(kleio("ls", "--format", "csv").stdout).splitlines()[1].split(",")[2]
    assert ISO_Z.fullmatch(csv_created) and csv_created[:19] == listed["created"][:19]


def test_tables_name_their_zone_and_show_local_time_when_asked(kleio, project):
    trial = trial_id_in(kleio("python", "train.py").stderr)
    created = json.loads(kleio("info", trial, "--json").stdout)["created"]
    utc = clock.iso(clock.parse_iso(created))
    kolkata = clock.iso(clock.parse_iso(created) + 5.5 * 3600)

    table = text(kleio("ls").stdout)
    assert "CREATED (UTC)" in table and utc in table
    zoned = text(kleio("ls", KLEIO_TIMEZONE="Asia/Kolkata").stdout)
    assert "CREATED (Asia/Kolkata)" in zoned and kolkata in zoned
    local = text(kleio("ls", "--local-time", TZ="Asia/Kolkata").stdout)
    assert "CREATED (IST)" in local and kolkata in local
    info = text(kleio("info", trial, "--local-time", TZ="Asia/Kolkata").stdout)
    assert f"created:      {kolkata} IST" in info
    assert f"created:      {utc} UTC" in text(kleio("info", trial).stdout)
    wrong = kleio("ls", KLEIO_TIMEZONE="Mars/Olympus")
    assert wrong.returncode == 2 and "unknown time zone 'Mars/Olympus'" in text(wrong.stderr)


def test_notes_show_their_time_in_the_zone_asked_as_info_does(kleio, project):
    trial = trial_id_in(kleio("python", "train.py").stderr)
    assert kleio("note", trial, "diverged after warm-up").returncode == 0
    (note,) = [event for event in json.loads(kleio("info", trial, "--json").stdout)["notes"]]
    noted = clock.parse_iso(note["time"])
    utc, kolkata = clock.iso(noted), clock.iso(noted + 5.5 * 3600)
    listed = {
        "utc": text(kleio("note", trial).stdout),
        "zoned": text(kleio("note", trial, KLEIO_TIMEZONE="Asia/Kolkata").stdout),
        "local": text(kleio("note", trial, "--local-time", TZ="Asia/Kolkata").stdout),
    }
    assert listed == {  # each note after its number
        "utc": f"1  {utc} UTC  diverged after warm-up\n",
        "zoned": f"1  {kolkata} Asia/Kolkata  diverged after warm-up\n",
        "local": f"1  {kolkata} IST  diverged after warm-up\n",
    }
    # As the notes of `kleio info`, in the same zone.
    info = text(kleio("info", trial, KLEIO_TIMEZONE="Asia/Kolkata").stdout)
    assert f"  {listed['zoned']}" in info


# -- tables for reading -----------------------------------------------------------------


def test_tables_fit_the_terminal_and_keep_full_lines_when_piped(kleio, env, project):
    trial = trial_id_in(kleio("run", "--tags", "a-long-tag;another", *LONG.split()).stderr)
    shown = on_terminal(env, project, "ls", "--no-color", columns=100)
    lines = shown.rstrip("\n").split("\n")
    assert all(len(line) <= 100 for line in lines), shown
    assert lines[1].startswith(trial[:7]) and lines[1].endswith("…")
    # The widest column is cut, the tags are kept whole.
    assert "a-long-tag,another  python train.py --option-0" in lines[1]
    piped = text(kleio("ls").stdout)  # not a terminal: nothing is cut
    assert LONG in piped and "…" not in piped
    wide = on_terminal(env, project, "ls", "--no-color", columns=400)
    assert LONG in wide and "…" not in wide


def test_statuses_are_coloured_on_a_terminal_only(kleio, env, project):
    write_script(project, "fail.py", "raise SystemExit(3)\n")
    kleio("python", "train.py")
    kleio("python", "fail.py")
    coloured = on_terminal(env, project, "ls")
    assert "\033[32mcompleted" in coloured and "\033[31mbroken" in coloured
    for words, extra in ((["ls", "--no-color"], {}), (["ls"], {"NO_COLOR": "1"})):
        assert "\033[" not in on_terminal(env, project, *words, **extra)
    assert "\033[" not in text(kleio("ls").stdout)
    trial = json.loads(kleio("ls", "--json").stdout)[0]["id"]
    assert "\033[31mbroken" in on_terminal(env, project, "info", trial)


def test_numbers_are_rounded_in_tables_and_full_in_csv_and_json(kleio, project):
    write_script(
        project,
        "loss.py",
        """\
        from kleio.client.logger import kleio_logger
        kleio_logger.log_statistic(epoch=1, loss=0.010956081337462923, big=123456.789)
        """,
    )
    trial = trial_id_in(kleio("python", "loss.py").stderr)
    table = text(kleio("stats", trial).stdout)
    assert "0.01096" in table and "123457" in table and "0.0109560" not in table
    assert "0.010956081337462923" in text(kleio("stats", trial, "--format", "csv").stdout)
    (row,) = json.loads(kleio("stats", trial, "--format", "json").stdout)
    assert row["loss"] == 0.010956081337462923


def test_sizes_are_in_human_units_in_artifacts_and_info(kleio, project):
    write_script(
        project,
        "artifact.py",
        """\
        import io
        from kleio.client.logger import kleio_logger
        kleio_logger.log_artifact("notes.txt", io.BytesIO(b"x" * 71))
        """,
    )
    trial = trial_id_in(kleio("python", "artifact.py").stderr)
    assert "71 B" in text(kleio("artifacts", trial).stdout)
    assert "notes.txt  71 B" in text(kleio("info", trial).stdout)


def test_in_process_output_is_plain_like_a_pipe(env, project):
    result = invoke("ls", env={**env, "COLUMNS": "20"}, cwd=project)
    assert result.returncode == 0 and "\033[" not in text(result.stdout)


# -- typed API ---------------------------------------------------------------------------


def test_the_package_ships_py_typed_so_type_checkers_see_its_hints():
    assert (Path(kleio.__file__).parent / "py.typed").is_file()
    setup = (ROOT / "setup.py").read_text()
    assert '"py.typed"' in setup and "package_data" in setup
