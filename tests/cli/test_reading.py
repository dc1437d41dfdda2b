"""Reading and branching a journal, end to end: ``kleio ls``, ``cat``, ``tail``, ``info``,
``pdb``, ``branch``, ``stats``, ``artifacts``, the Python API, and how each command
taking an id answers an unknown id or an ambiguous prefix."""

from __future__ import annotations

import csv
import io
import json
import platform
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kleio.core.model import clock
from kleio.core.model import status as st
from tests.conftest import TRAIN, commit, git, write_script
from tests.faults.common import wait_until
from tests.helpers import (
    clean_environment,
    follow,
    invoke,
    reads_only,
    run_kleio,
    start_kleio,
    stop,
    text,
    trial_id_in,
    wait_for,
)

# -- helpers ---------------------------------------------------------------------------


def ran(result) -> str:
    """The id of the trial a ``kleio`` run reserved, once it exited 0."""
    assert result.returncode == 0, text(result.stderr)
    return trial_id_in(result.stderr)


def saved(result) -> str:
    assert result.returncode == 0, text(result.stderr)
    match = re.search(r"trial saved with id: ([0-9a-f]{32})", text(result.stderr))
    assert match, text(result.stderr)
    return match.group(1)


def listed(kleio, *args: str, **extra: str) -> list[dict]:
    result = kleio("ls", "--json", *args, **extra)
    assert result.returncode == 0, text(result.stderr)
    return json.loads(result.stdout)


def one_line_error(result, *fragments: str) -> str:
    """The single line ``kleio`` wrote on stderr when it failed, without a traceback."""
    errors = text(result.stderr)
    assert result.returncode != 0, errors
    assert "Traceback" not in errors, errors
    assert errors.endswith("\n") and errors.count("\n") == 1, errors
    for fragment in fragments:
        assert fragment in errors, errors
    return errors


def columns(table: str) -> list[dict[str, str]]:
    """The rows of a table printed by ``kleio``, cut at the header's column starts."""
    header, *lines = table.rstrip("\n").split("\n")
    names = header.split()
    starts, position = [], 0
    for name in names:
        position = header.index(name, position)
        starts.append(position)
        position += len(name)
    rows = []
    for line in lines:
        cells = [
            line[begin:end].strip()
            for begin, end in zip(starts, [*starts[1:], len(line) + 1], strict=True)
        ]
        rows.append(dict(zip(names, cells, strict=True)))
    return rows


def sections(info: str) -> dict[str, list[str]]:
    """``kleio info``'s sections: title -> lines (a title is underlined with dashes)."""
    lines = info.split("\n")
    found: dict[str, list[str]] = {}
    current = None
    for index, line in enumerate(lines):
        underline = lines[index + 1] if index + 1 < len(lines) else ""
        if line and underline == "-" * len(line):
            current = line
            found[current] = []
        elif current is not None and line and line != "-" * len(current):
            found[current].append(line)
    return found


def item(lines: list[str], label: str) -> str:
    """The value of ``label:`` among a section's lines."""
    for line in lines:
        if line.strip().startswith(f"{label}:"):
            return line.strip()[len(label) + 1 :].strip()
    raise AssertionError(f"no {label!r} in {lines}")


# A training script that resumes after the last epoch it finds in its statistics or its
# checkpoints, and notes what it found.
EPOCHS = """\
import json, sys, time
from kleio.client.logger import kleio_logger as log

args = sys.argv[1:]
def option(name, default=None):
    return args[args.index(name) + 1] if name in args else default
lr = float(option("--lr"))
epochs = int(option("--epochs"))
pause = float(option("--pause", "0"))

statistics = log.load_statistics()
checkpoints = log.load_artifacts("checkpoint")
done = max(
    [s["epoch"] for s in statistics if "epoch" in s]
    + [c.attributes["epoch"] for c in checkpoints]
    + [0]
)
with open("seen.jsonl", "a") as seen:
    seen.write(json.dumps({
        "argv": args,
        "statistics": [[s["epoch"], s["lr"]] for s in statistics],
        "checkpoints": [[c.attributes["epoch"], json.loads(c.read())["lr"]] for c in checkpoints],
    }) + "\\n")
print(f"start at epoch {done + 1}", flush=True)
for epoch in range(done + 1, epochs + 1):
    log.log_statistic(epoch=epoch, lr=lr, loss=round(1.0 / epoch, 3))
    log.log_artifact("checkpoint", json.dumps({"epoch": epoch, "lr": lr}).encode(), epoch=epoch)
    print(f"epoch {epoch} lr {lr}", flush=True)
    time.sleep(pause)
"""


def seen_by_runs(project: Path) -> list[dict]:
    return [json.loads(line) for line in (project / "seen.jsonl").read_text().splitlines()]


def epochs_project(project: Path) -> None:
    write_script(project, "epochs.py", EPOCHS)
    commit(project, "epochs")


# -- 1. kleio ls -----------------------------------------------------------------------

NAP = "import sys, time\ntime.sleep(float(sys.argv[1]))\n"
FAIL = "import sys\nprint('failing')\nsys.exit(2)\n"


def test_ls_is_a_table_newest_first_with_id_status_created_run_time_tags_and_command(
    kleio, project
):
    write_script(project, "nap.py", NAP)
    write_script(project, "fail.py", FAIL)
    before = clock.now()
    first = ran(kleio("run", "--tags", "a;b", "python", "train.py", "--lr", "0.1"))
    napped = ran(kleio("python", "nap.py", "0.6"))
    broken = trial_id_in(kleio("run", "--tags", "b", "python", "fail.py").stderr)
    new = saved(kleio("save", "python", "train.py", "--lr", "0.2"))

    result = kleio("ls")
    assert result.returncode == 0, text(result.stderr)
    table = text(result.stdout)
    names = ["ID", "STATUS", "CREATED (UTC)", "RUN TIME", "TAGS", "COMMAND"]
    assert re.split(r"\s{2,}", table.split("\n")[0]) == names
    rows = columns(table.replace("RUN TIME", "RUN_TIME").replace("CREATED (UTC)", "CREATED_(UTC)"))
    assert [row["ID"] for row in rows] == [new[:7], broken[:7], napped[:7], first[:7]]
    assert [row["STATUS"] for row in rows] == ["new", "broken", "completed", "completed"]
    assert [row["TAGS"] for row in rows] == ["", "b", "", "a,b"]
    assert [row["COMMAND"] for row in rows] == [
        "python train.py --lr 0.2",
        "python fail.py",
        "python nap.py 0.6",
        "python train.py --lr 0.1",
    ]
    for row in rows:
        created = clock.parse_iso(row["CREATED_(UTC)"])  # UTC, to the second
        assert before - 1 <= created <= clock.now()
        assert re.fullmatch(r"\d+\.\ds", row["RUN_TIME"]), row
    assert 0.6 <= float(rows[2]["RUN_TIME"][:-1]) < 10
    assert rows[0]["RUN_TIME"] == "0.0s"  # never ran


def test_ls_filters_by_tags_status_and_project(kleio, project):
    write_script(project, "fail.py", FAIL)
    ab = ran(kleio("run", "--tags", "a;b", "python", "train.py", "--i", "1"))
    a = ran(kleio("run", "--tags", "a", "python", "train.py", "--i", "2"))
    broken = trial_id_in(kleio("run", "--tags", "a", "python", "fail.py").stderr)
    other = saved(kleio("save", "--project", "other", "python", "train.py", "--i", "3"))

    def ids(*args):
        return [row["id"] for row in listed(kleio, *args)]

    assert ids() == [other, broken, a, ab]
    assert ids("--tags", "a") == [broken, a, ab]
    assert ids("--tags", "a;b") == [ab]  # all of them
    assert ids("--tags", "nope") == []
    assert ids("--status", "completed") == [a, ab]
    assert ids("--status", "broken,new") == [other, broken]
    assert ids("--status", "completed", "--tags", "b") == [ab]
    assert ids("--project", "other") == [other]
    assert ids("--project", "mnist") == [broken, a, ab]
    table = text(kleio("ls", "--tags", "a", "--status", "broken").stdout)
    assert broken[:7] in table and a[:7] not in table and ab[:7] not in table

    wrong = kleio("ls", "--status", "finished")
    one_line_error(wrong, "finished", "completed")


def test_ls_json_is_a_list_of_trials_with_their_id_status_command_tags_parent_and_time(
    kleio, project
):
    parent = ran(kleio("run", "--tags", "x", "python", "train.py", "--lr", "0.1"))
    child = ran(kleio("branch", parent[:8], "--lr", "0.5"))
    rows = listed(kleio)
    assert [row["id"] for row in rows] == [child, parent]
    for row in rows:
        assert row["short_id"] == row["id"][:7]
        assert row["status"] == "completed"
        assert row["tags"] == ["x"]
        assert abs(clock.parse_iso(row["created"]) - clock.now()) < 120
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", row["created"])
    assert rows[0]["commandline"] == "python train.py --lr 0.5"
    assert rows[1]["commandline"] == "python train.py --lr 0.1"
    assert rows[0]["parent"] == parent and rows[1]["parent"] is None


PATIENT = """\
import os, sys, time
with open(sys.argv[1], "w") as out:
    out.write(str(os.getpid()))
time.sleep(float(sys.argv[2]))
"""


@pytest.mark.slow
def test_a_trial_whose_kleio_was_killed_is_listed_as_lost_and_selected_by_status_lost(
    env, project, kleio, journal
):
    write_script(project, "patient.py", PATIENT)
    fast = {"KLEIO_HEARTBEAT": "1", "KLEIO_LEASE": "3"}
    done = ran(kleio("python", "train.py", **fast))
    killed = start_kleio(env, project, "python", "patient.py", "killed.pid", "60", **fast)
    alive = start_kleio(env, project, "python", "patient.py", "alive.pid", "30", **fast)
    try:
        lost = trial_id_in(killed.stderr.readline())
        wait_for(project / "killed.pid")
        wait_for(project / "alive.pid")
        deadline = time.monotonic() + 30
        while not json.loads(kleio("info", "--json", lost, **fast).stdout)["executions"]:
            assert time.monotonic() < deadline, "the execution was never journalled"
            time.sleep(0.1)
        killed.kill()  # SIGKILL: kleio cannot say anything
        killed.wait(10)
        # Until its last heartbeat is older than the lease (3 s), not a fixed 4 s.
        wait_until(
            lambda: st.observed_status(journal.get_trial(lost), 3) == st.LOST,
            timeout=15,
            interval=0.05,
            what="the lease to expire",
        )

        table = columns(text(kleio("ls", **fast).stdout).replace("RUN TIME", "RUN_TIME"))
        statuses = {row["ID"]: row["STATUS"] for row in table}
        assert statuses[lost[:7]] == "lost"
        assert statuses[done[:7]] == "completed"
        assert sorted(statuses.values()) == ["completed", "lost", "running"]

        assert [row["id"] for row in listed(kleio, "--status", "lost", **fast)] == [lost]
        running = listed(kleio, "--status", "running", **fast)
        assert [row["status"] for row in running] == ["running"]
        assert lost not in [row["id"] for row in running]
        assert {row["status"] for row in listed(kleio, "--status", "lost,completed", **fast)} == {
            "lost",
            "completed",
        }

        record = json.loads(kleio("info", "--json", lost, **fast).stdout)
        assert record["status"] == "lost" and record["stored_status"] == "running"
        assert [execution["status"] for execution in record["executions"]] == ["lost"]
        found = api({**env, **fast}, project, LIST, json.dumps({"status": "lost"}))
        assert [row[:2] for row in found] == [[lost, "lost"]]
    finally:
        alive.terminate()
        alive.wait(30)
        killed.wait(10)


# -- 2. kleio cat ----------------------------------------------------------------------

NOISY = r"""
import sys, time
pause = float(sys.argv[1])
out, err = sys.stdout.buffer, sys.stderr.buffer
out.write(b"first line\n")
out.write(b"invalid \xff\xfe bytes \xc3\x28 here\n")
for percent in range(0, 101, 25):
    out.write(b"\rprogress %3d%%" % percent)
out.write("\nunicode \u00e9 \u20ac \U0001f600\n".encode())
out.flush()
time.sleep(pause)
err.write(b"warning \xe9 on stderr\n")
err.flush()
time.sleep(pause)
out.write(b"tail without newline")
out.flush()
"""
NOISY_STDOUT = (
    b"first line\n"
    b"invalid \xff\xfe bytes \xc3\x28 here\n"
    b"\rprogress   0%\rprogress  25%\rprogress  50%\rprogress  75%\rprogress 100%"
    + "\nunicode \u00e9 \u20ac \U0001f600\n".encode()
    + b"tail without newline"
)


def test_cat_prints_what_the_trial_printed_byte_for_byte(kleio, project):
    write_script(project, "noisy.py", NOISY)
    result = kleio("python", "noisy.py", "0")
    trial = ran(result)
    assert result.stdout == NOISY_STDOUT

    printed = kleio("cat", trial[:6])
    assert printed.returncode == 0, text(printed.stderr)
    assert printed.stdout == NOISY_STDOUT
    assert printed.stderr == b""


def test_cat_stderr_interleaves_stderr_with_stdout_in_the_order_written(kleio, project):
    write_script(project, "noisy.py", NOISY)
    # Written over 2.4 s: output is journalled in batches of up to half a second.
    trial = ran(kleio("python", "noisy.py", "1.2"))
    both = kleio("cat", "--stderr", trial)
    assert both.returncode == 0, text(both.stderr)
    before, _, _ = NOISY_STDOUT.rpartition(b"tail without newline")
    assert both.stdout == before + b"warning \xe9 on stderr\n" + b"tail without newline"


# -- 3. kleio tail ---------------------------------------------------------------------

LINES = """\
for i in range(30):
    print("line", i)
print("last, without newline", end="")
"""


def test_tail_prints_the_last_ten_lines_or_as_many_as_asked(kleio, project):
    write_script(project, "lines.py", LINES)
    trial = ran(kleio("python", "lines.py"))
    everything = [f"line {i}\n" for i in range(30)] + ["last, without newline"]

    default = kleio("tail", trial[:7])
    assert default.returncode == 0, text(default.stderr)
    assert text(default.stdout) == "".join(everything[-10:])
    assert text(kleio("tail", "-n", "3", trial[:7]).stdout) == "".join(everything[-3:])
    assert text(kleio("tail", "--lines", "1", trial[:7]).stdout) == everything[-1]
    assert text(kleio("tail", "-n", "100", trial[:7]).stdout) == "".join(everything)


SLOW = """\
import time
for i in range(20):
    print(i, repr(time.time()), flush=True)
    time.sleep(0.2)
print("done", flush=True)
"""


@pytest.mark.slow
def test_tail_follow_prints_new_lines_within_a_second_and_exits_when_the_trial_stops(
    env, project, kleio
):
    write_script(project, "slow.py", SLOW)
    running = start_kleio(env, project, "python", "slow.py")
    follower = None
    try:
        trial = trial_id_in(running.stderr.readline())
        deadline = time.monotonic() + 30
        while text(kleio("cat", trial).stdout).count("\n") < 5:  # some output journalled
            assert time.monotonic() < deadline, "no output journalled"
            time.sleep(0.1)
        (row,) = listed(kleio)
        assert row["status"] == "running" and row["run_time"] > 0.5

        received, follower = follow(env, project, "-n", "2", trial[:7])  # (line, when read)
        assert running.wait(30) == 0
        assert follower.wait(10) == 0, text(follower.stderr.read())
    finally:
        stop(running, follower)

    assert received[-1][0] == "done"
    numbers = [int(line.split()[0]) for line, _ in received[:-1]]
    assert numbers[0] >= 3  # the last 2 lines of at least 5 first
    assert numbers == list(range(numbers[0], 20))  # then every line, once, in order
    first_read = received[0][1]
    followed = [
        (float(line.split()[1]), when)
        for line, when in received[:-1]
        if float(line.split()[1]) > first_read
    ]
    assert len(followed) >= 8, received
    delays = [when - printed for printed, when in followed]
    assert max(delays) < 1.0, delays


def test_tail_follow_of_a_finished_trial_prints_its_end_and_exits(kleio, project):
    write_script(project, "lines.py", LINES)
    trial = ran(kleio("python", "lines.py"))
    followed = kleio("tail", "-f", "-n", "2", trial, timeout=30)
    assert followed.returncode == 0
    assert text(followed.stdout) == "line 29\nlast, without newline"


# -- 4. kleio info ---------------------------------------------------------------------


def test_info_shows_every_section_of_a_trial(kleio, project):
    epochs_project(project)
    with open(project / "epochs.py", "a") as script:
        script.write("# tuned\n")  # uncommitted
    (project / "notes.txt").write_text("untracked\n")
    head = git(project, "rev-parse", "HEAD").strip()
    trial = ran(
        kleio("run", "--tags", "exp;v1", "python", "epochs.py", "--lr", "0.1", "--epochs", "3")
    )
    child = kleio("branch", "--no-run", trial[:7], "--lr", "0.2")
    assert child.returncode == 0, text(child.stderr)
    child_id = saved(child)

    result = kleio("info", trial[:7])
    assert result.returncode == 0, text(result.stderr)
    info = sections(text(result.stdout))
    assert list(info) == [
        f"Trial {trial}",
        "Command lines",
        "Configuration",
        "Code version",
        "Environment",
        "Executions",
        "Resource use",  # a run shorter than the sample interval has its sample at its end
        "Lineage",
        "Statistics",
        "Artifacts",
    ]
    top = info[f"Trial {trial}"]
    assert item(top, "status") == "completed"
    assert item(top, "tags") == "exp, v1"
    assert item(top, "project") == "mnist"
    assert item(top, "folder") == str(project)
    assert info["Command lines"] == [f"  {trial[:7]}  python epochs.py --lr 0.1 --epochs 3"]
    assert item(info["Configuration"], "lr") == "0.1"
    assert item(info["Configuration"], "epochs") == "3"

    code = info["Code version"]
    assert item(code, "commit") == head
    assert item(code, "branch") == "main"
    assert item(code, "dirty") == "yes"
    assert item(code, "changed") == "epochs.py"
    assert "notes.txt" in item(code, "untracked")

    environment = info["Environment"]
    assert platform.python_version() in item(environment, "python")
    assert re.fullmatch(r"\d+ installed: .+", item(environment, "packages"))
    assert platform.system() in item(environment, "system")

    executions = info["Executions"]
    assert executions[0].strip() == "#1  completed, exit code 0"
    assert item(executions, "host").startswith(socket.gethostname())
    start_time = clock.parse_iso(item(executions, "start").removesuffix(" UTC"))
    end_time = clock.parse_iso(item(executions, "end").removesuffix(" UTC"))
    assert start_time <= end_time <= clock.now()
    assert re.fullmatch(r"\d+\.\ds", item(executions, "duration"))

    assert item(info["Lineage"], "parent") == "-"
    assert item(info["Lineage"], "children") == f"{child_id[:7]} (new)"

    statistics = info["Statistics"]
    assert item(statistics, "count") == "3"
    assert item(statistics, "epoch") == "last 3"
    assert item(statistics, "lr") == "last 0.1"
    assert item(statistics, "loss") == "last 0.333"

    artifacts = [line.split() for line in info["Artifacts"]]
    assert [line[0] for line in artifacts] == ["checkpoint"] * 3
    size = len(json.dumps({"epoch": 3, "lr": 0.1}))
    assert artifacts[0][1:3] == [str(size), "B"]
    assert artifacts[0][-1] == "epoch=3"

    of_child = sections(text(kleio("info", child_id).stdout))
    assert item(of_child["Lineage"], "parent").startswith(f"{trial[:7]} (branched, at ")
    assert of_child["Command lines"] == [
        f"  {trial[:7]}  python epochs.py --lr 0.1 --epochs 3",
        f"  {child_id[:7]}  python epochs.py --lr 0.2 --epochs 3",
    ]
    assert of_child["Executions"] == ["  (never run)"]
    assert item(of_child[f"Trial {child_id}"], "status") == "new"


def test_info_json_prints_the_whole_record(kleio, project):
    epochs_project(project)
    trial = ran(kleio("python", "epochs.py", "--lr", "0.1", "--epochs", "3"))
    child = saved(kleio("branch", "--no-run", trial, "--lr", "0.2"))

    result = kleio("info", "--json", trial[:10])
    assert result.returncode == 0, text(result.stderr)
    record = json.loads(result.stdout)
    assert record["id"] == trial and record["short_id"] == trial[:7]
    assert record["status"] == "completed" and record["parent"] is None
    assert record["commandline"] == ["python", "epochs.py", "--lr", "0.1", "--epochs", "3"]
    assert record["configuration"] == {"lr": 0.1, "epochs": 3}
    assert record["version"]["commit"] == git(project, "rev-parse", "HEAD").strip()
    assert record["version"]["dirty"] is False
    assert record["environment"]["python"]["version"] == platform.python_version()
    (execution,) = record["executions"]
    assert execution["number"] == 1 and execution["exit_code"] == 0
    assert execution["status"] == "completed"
    assert execution["host"]["hostname"] == socket.gethostname()
    assert execution["start"] <= execution["end"]
    assert record["statistics"]["count"] == 3
    assert record["statistics"]["keys"] == ["epoch", "lr", "loss"]
    assert record["statistics"]["last"] == {"epoch": 3, "lr": 0.1, "loss": 0.333}
    assert [a["filename"] for a in record["artifacts"]] == ["checkpoint"] * 3
    assert [a["attributes"] for a in record["artifacts"]] == [{"epoch": e} for e in (3, 2, 1)]
    assert record["artifacts"][0]["size"] == len(json.dumps({"epoch": 3, "lr": 0.1}))
    assert record["children"] == [child]

    of_child = json.loads(kleio("info", "--json", child).stdout)
    assert of_child["parent"] == trial and of_child["status"] == "new"
    assert of_child["executions"] == [] and of_child["children"] == []
    assert of_child["statistics"]["count"] == 3  # its parent's, up to the branch point


# -- 5. kleio pdb ----------------------------------------------------------------------


def test_pdb_loads_the_trial_as_trial_and_answers_commands_from_stdin(kleio, project, env):
    epochs_project(project)
    trial = ran(kleio("python", "epochs.py", "--lr", "0.1", "--epochs", "4"))
    session = run_kleio(
        "pdb",
        trial[:7],
        env=env,
        cwd=project,
        timeout=60,
        input=b"p trial.id\np trial.status\np len(trial.statistics)\nc\n",
    )
    assert session.returncode == 0, text(session.stderr)
    banner = text(session.stderr)
    assert f"trial {trial}" in banner and "loaded as `trial`" in banner
    lines = text(session.stdout).replace("(kleio-pdb) ", "").splitlines()
    answers = [line for line in lines if line in (f"'{trial}'", "'completed'", "4")]
    assert answers == [f"'{trial}'", "'completed'", "4"], lines


@pytest.mark.parametrize("keys", ["Ctrl-D", "q"])
def test_pdb_ends_quietly_on_ctrl_d_or_quit(kleio, project, env, keys):
    trial = ran(kleio("python", "train.py"))
    session = run_kleio(
        "pdb",
        trial[:7],
        env=env,
        cwd=project,
        timeout=60,
        input=b"p trial.status\n" + (b"q\n" if keys == "q" else b""),
    )
    assert "'completed'" in text(session.stdout)
    assert "Traceback" not in text(session.stderr), text(session.stderr)
    assert session.returncode == 0


# -- 6. kleio branch -------------------------------------------------------------------


def test_branch_replaces_an_option_adds_a_new_one_and_runs_the_child(kleio, project, journal):
    epochs_project(project)
    parent = ran(
        kleio("run", "--tags", "base", "python", "epochs.py", "--lr", "0.1", "--epochs", "3")
    )

    result = kleio("branch", "--tags", "extra", parent[:7], "--lr", "0.01", "--new", "x")
    assert result.returncode == 0, text(result.stderr)
    child = trial_id_in(result.stderr)
    assert f"branched trial {parent[:7]} into trial {child[:7]}" in text(result.stderr)
    assert text(result.stdout) == "start at epoch 4\n"  # the parent's 3 epochs are its past

    document = journal.get_trial(child)
    assert document["commandline"] == [
        "python", "epochs.py", "--lr", "0.01", "--epochs", "3", "--new", "x",
    ]  # fmt: skip
    assert document["configuration"] == {"lr": 0.01, "epochs": 3, "new": "x"}
    assert document["refers"]["parent"] == parent
    assert document["status"] == "completed"
    assert document["tags"] == ["base", "extra"]  # the parent's and its own
    *_, seen = seen_by_runs(project)
    assert seen["argv"] == ["--lr", "0.01", "--epochs", "3", "--new", "x"]
    assert seen["statistics"] == [[1, 0.1], [2, 0.1], [3, 0.1]]
    assert seen["checkpoints"] == [[3, 0.1], [2, 0.1], [1, 0.1]]
    assert [row["id"] for row in listed(kleio)] == [child, parent]


@pytest.mark.slow
def test_branch_from_a_statistic_continues_the_parents_history_up_to_that_point(kleio, project):
    epochs_project(project)
    parent = ran(kleio("python", "epochs.py", "--lr", "0.1", "--epochs", "4", "--pause", "0.8"))

    result = kleio("branch", "--timestamp", "epoch=3", parent[:7], "--lr", "0.01")
    assert result.returncode == 0, text(result.stderr)
    child = trial_id_in(result.stderr)
    assert text(result.stdout) == "start at epoch 4\nepoch 4 lr 0.01\n"

    # What the resumed script found: the parent's statistics up to epoch 3, and its
    # checkpoints up to epoch 3's (logged after the statistic, before the next one).
    *_, seen = seen_by_runs(project)
    assert seen["argv"] == ["--lr", "0.01", "--epochs", "4", "--pause", "0.8"]
    assert seen["statistics"] == [[1, 0.1], [2, 0.1], [3, 0.1]]
    assert seen["checkpoints"] == [[3, 0.1], [2, 0.1], [1, 0.1]]

    stats = kleio("stats", child, "--format", "json")
    assert stats.returncode == 0, text(stats.stderr)
    assert json.loads(stats.stdout) == [
        {"epoch": 1, "lr": 0.1, "loss": 1.0},
        {"epoch": 2, "lr": 0.1, "loss": 0.5},
        {"epoch": 3, "lr": 0.1, "loss": 0.333},
        {"epoch": 4, "lr": 0.01, "loss": 0.25},
    ]
    artifacts = json.loads(kleio("artifacts", child, "--json").stdout)
    assert [(a["attributes"]["epoch"], a["trial"]) for a in artifacts] == [
        (4, child),
        (3, parent),
        (2, parent),
        (1, parent),
    ]
    # Its output: the parent's up to the branch point, then its own.
    assert text(kleio("cat", child).stdout) == (
        "start at epoch 1\nepoch 1 lr 0.1\nepoch 2 lr 0.1\nepoch 3 lr 0.1\n"
        "start at epoch 4\nepoch 4 lr 0.01\n"
    )
    # A branch point may also be a time: here, just after epoch 2's checkpoint.
    checkpoint_2 = next(
        clock.parse_iso(a["time"])
        for a in artifacts
        if a["trial"] == parent and a["attributes"]["epoch"] == 2
    )
    at_time = kleio(
        "branch", "--no-run", "--timestamp", clock.iso(checkpoint_2 + 0.1, precise=True),
        parent, "--lr", "0.02",
    )  # fmt: skip
    assert at_time.returncode == 0, text(at_time.stderr)
    timed = saved(at_time)
    timed_stats = json.loads(kleio("stats", timed, "--format", "json").stdout)
    assert [(s["epoch"], s["lr"]) for s in timed_stats] == [(1, 0.1), (2, 0.1)]
    timed_artifacts = json.loads(kleio("artifacts", timed, "--json").stdout)
    assert [a["attributes"]["epoch"] for a in timed_artifacts] == [2, 1]

    # The parent is unchanged.
    of_parent = json.loads(kleio("stats", parent, "--format", "json").stdout)
    assert [(s["epoch"], s["lr"]) for s in of_parent] == [(1, 0.1), (2, 0.1), (3, 0.1), (4, 0.1)]


def test_a_branch_of_a_fast_loop_shows_the_parents_lines_printed_up_to_its_branch_point(
    kleio, project
):
    # Epochs of 0.2 s, each printing its line right after logging its statistic: the
    # line of epoch 2 comes before the statistic of epoch 3, so before the branch point.
    epochs_project(project)
    parent = ran(kleio("python", "epochs.py", "--lr", "0.1", "--epochs", "4", "--pause", "0.2"))
    child = saved(kleio("branch", "--no-run", "--timestamp", "epoch=2", parent, "--lr", "0.01"))
    of_child = json.loads(kleio("stats", child, "--format", "json").stdout)
    assert [s["epoch"] for s in of_child] == [1, 2]
    assert text(kleio("cat", child).stdout) == "start at epoch 1\nepoch 1 lr 0.1\nepoch 2 lr 0.1\n"


def test_branch_at_a_value_no_statistic_has_is_a_clear_error(kleio, project):
    epochs_project(project)
    parent = ran(kleio("python", "epochs.py", "--lr", "0.1", "--epochs", "2"))
    result = kleio("branch", "--timestamp", "epoch=7", parent, "--lr", "0.01")
    one_line_error(result, "epoch=7")
    assert len(listed(kleio)) == 1


def test_branch_with_a_positional_argument_is_a_one_line_error(kleio, project):
    parent = ran(kleio("python", "train.py", "data/", "--lr", "0.1"))
    result = kleio("branch", parent[:7], "other/", "--lr", "0.01")
    one_line_error(result, "positional", "other/")
    assert result.stdout == b""
    assert [row["id"] for row in listed(kleio)] == [parent]  # nothing created


def test_the_same_branch_twice_names_the_existing_trial_and_how_to_run_it(kleio, project):
    parent = ran(kleio("python", "train.py", "--lr", "0.1"))
    recorded = kleio("branch", "--no-run", parent[:7], "--lr", "0.01")
    child = saved(recorded)
    assert recorded.stdout == b""  # recorded, not run

    again = kleio("branch", parent[:7], "--lr", "0.01")
    errors = one_line_error(again, child, f"`kleio run {child[:7]}`", "(new)")
    assert "exists" in errors
    assert again.stdout == b""

    advised = kleio("run", child[:7])  # what the message says to do
    assert ran(advised) == child
    assert text(advised.stdout) == "training with ['--lr', '0.01']\n"

    once_more = kleio("branch", parent, "--lr", "0.01")
    one_line_error(once_more, child, "(completed)", f"`kleio run {child[:7]}`")
    assert [row["id"] for row in listed(kleio)] == [child, parent]


# -- 7. kleio stats --------------------------------------------------------------------

STATS = """\
from kleio.client.logger import kleio_logger as log
for epoch, loss in enumerate([0.9, 0.5, 0.7, 0.3, 0.4, 0.6], 1):
    log.log_statistic(epoch=epoch, loss=loss, phase="train" if epoch % 2 else "valid")
log.log_statistic(epoch=7, note="done, with a comma")
"""


@pytest.fixture
def statistics_trial(kleio, project):
    write_script(project, "stats.py", STATS)
    return ran(kleio("python", "stats.py"))


def test_stats_prints_a_table_of_every_statistic_in_logging_order(kleio, statistics_trial):
    result = kleio("stats", statistics_trial[:7])
    assert result.returncode == 0, text(result.stderr)
    rows = columns(text(result.stdout))
    assert [row["EPOCH"] for row in rows] == ["1", "2", "3", "4", "5", "6", "7"]
    assert [row["LOSS"] for row in rows] == ["0.9", "0.5", "0.7", "0.3", "0.4", "0.6", ""]
    assert rows[1]["PHASE"] == "valid" and rows[-1]["NOTE"] == "done, with a comma"


def test_stats_sorts_by_any_key_and_selects_keys_and_values(kleio, statistics_trial):
    def epochs(*args):
        result = kleio("stats", statistics_trial, "--format", "json", *args)
        assert result.returncode == 0, text(result.stderr)
        return [statistic.get("epoch") for statistic in json.loads(result.stdout)]

    assert epochs("--sort", "loss") == [4, 5, 2, 6, 3, 1, 7]  # no loss: last
    assert epochs("--sort", "phase") == [1, 3, 5, 2, 4, 6, 7]  # text, stable
    assert epochs("--sort", "epoch", "--reverse") == [7, 6, 5, 4, 3, 2, 1]
    assert epochs("--where", "phase=valid") == [2, 4, 6]
    assert epochs("--where", "epoch=3") == [3]
    assert epochs("--where", "phase=train", "--where", "loss=0.4") == [5]
    assert epochs("--where", "phase=valid", "--sort", "loss") == [4, 2, 6]

    table = columns(text(kleio("stats", statistics_trial, "--keys", "loss,epoch").stdout))
    assert list(table[0]) == ["LOSS", "EPOCH"]
    assert [row["EPOCH"] for row in table] == ["1", "2", "3", "4", "5", "6", "7"]


def test_stats_sorted_in_reverse_still_put_statistics_without_the_key_last(kleio, statistics_trial):
    result = kleio("stats", statistics_trial, "--sort", "loss", "--reverse", "--format", "json")
    assert result.returncode == 0, text(result.stderr)
    assert [s["epoch"] for s in json.loads(result.stdout)] == [1, 3, 6, 2, 5, 4, 7]


ORDERS = """\
from kleio.client.logger import kleio_logger as log
log.log_statistic(b=1, a=2)
log.log_statistic(a=3, c=float("nan"), b=4)
log.log_statistic(c=5, d=6)
"""


def test_stats_as_json_streamed_keeps_the_keys_order_and_meta_of_the_whole_list(kleio, project):
    # JSON in logging order is streamed page by page; sorted, the list is read whole.
    # Both give each row its keys in the order of their first appearance.
    write_script(project, "orders.py", ORDERS)
    trial = ran(kleio("python", "orders.py"))

    def rows(*args):
        result = kleio("stats", trial, "--format", "json", *args)
        assert result.returncode == 0, text(result.stderr)
        return json.loads(result.stdout, object_pairs_hook=list)

    assert rows() == [
        [("b", 1), ("a", 2)],
        [("b", 4), ("a", 3), ("c", "NaN")],
        [("c", 5), ("d", 6)],
    ]
    for extra in ([], ["--with-meta"], ["--keys", "c,_time,b"], ["--where", "b=4"]):
        assert rows(*extra) == rows(*extra, "--sort", "no-such-key")  # read whole, same order
    meta = rows("--with-meta")
    assert [dict(row)["_execution"] for row in meta] == [1, 1, 1]
    assert [key for key, _ in meta[2]] == ["c", "d", "_trial", "_execution", "_time"]
    assert dict(meta[0])["_trial"] == trial and dict(meta[0])["_time"].endswith("Z")


#: Statistics of every kind, in pages of numbers (small floats of every form, a key order
#: changed midway) and pages holding the odd ones; the first execution is interrupted.
EVERY_KIND = """\
import math, os, sys
from kleio.client.logger import kleio_logger as log

execution, child = int(os.environ["KLEIO_EXECUTION"]), "--child" in sys.argv
odd = [
    {"loss": math.nan, "high": math.inf, "low": -math.inf},
    {"nested": {"a": {"b": [1, 2.5e-06, None]}, "c": {}}, "tags": ["x", "y"]},
    {"text": 'é 日本 "quoted" back\\\\slash, },{ tab\\t', "clé": 1, "e-5": 0.00001},
    {"big": 2**63 - 1, "small": -(2**63), "zero": -0.0, "flag": True, "none": None},
    {"lr": 3e-05, "tiny": 1.5e-07, "tinier": 1e-10, "huge": 1e22},
]
first = 12_000 * (execution - 1) + (30_000 if child else 0)
for step in range(first, first + 12_000):
    log.log_statistic(step=step, loss=1.0 / (step + 1), tiny=-1.0 / (step + 1) ** 2)
    if step % 12_000 in (0, 1, 2, 3, 4, 6_000):
        log.log_statistic(**odd[step % len(odd)])
    if step % 12_000 == 9_000:
        log.log_statistic(tiny=0.5, step=step)  # another order of the same keys
log.flush()
if execution == 1 and not child:
    sys.exit(130)
"""


def test_stats_as_json_prints_page_by_page_exactly_what_the_whole_list_prints(kleio, project):
    # Printing in logging order reads a page at a time and encodes each page at once;
    # sorted, the list is read whole and printed row by row: the same bytes.
    write_script(project, "kinds.py", EVERY_KIND)
    first = kleio("python", "kinds.py")
    parent = trial_id_in(first.stderr)
    assert first.returncode == 130, text(first.stderr)
    assert kleio("run", parent[:7]).returncode == 0  # a second execution
    branched = kleio("branch", "--timestamp", "step=20000", parent[:7], "--child", "1")
    assert branched.returncode == 0, text(branched.stderr)
    child = trial_id_in(branched.stderr)

    # 12,007 statistics an execution; the branch has its parent's up to step 20,000.
    for trial, count in ((parent, 2 * 12_007), (child, 12_007 + 8_007 + 12_007)):
        paged = kleio("stats", trial, "--format", "json")
        whole = kleio("stats", trial, "--format", "json", "--sort", "no-such-key")
        assert paged.returncode == whole.returncode == 0, text(paged.stderr)
        assert paged.stdout == whole.stdout
        rows = json.loads(paged.stdout)
        assert len(rows) == count
        assert {"loss": "NaN", "high": "Infinity", "low": "-Infinity"} in rows
        # Floats as repr writes them: 1e-05 and 1e-07, never orjson's 0.00001 and 1e-7.
        assert b"e-05, " in paged.stdout and b"e-09}" in paged.stdout
        assert not re.search(rb"0\.0000|e-[1-9][,}]", paged.stdout)
    assert paged.stdout.endswith(
        b'  {"step": 41999, "loss": 2.380952380952381e-05, "tiny": -5.668934240362812e-10}\n]\n'
    )


def test_stats_in_all_three_formats_parse_back(kleio, statistics_trial):
    selection = ("--keys", "epoch,loss,note", "--sort", "loss")

    as_json = kleio("stats", statistics_trial, *selection, "--format", "json")
    assert as_json.returncode == 0, text(as_json.stderr)
    assert json.loads(as_json.stdout) == [
        {"epoch": 4, "loss": 0.3},
        {"epoch": 5, "loss": 0.4},
        {"epoch": 2, "loss": 0.5},
        {"epoch": 6, "loss": 0.6},
        {"epoch": 3, "loss": 0.7},
        {"epoch": 1, "loss": 0.9},
        {"epoch": 7, "note": "done, with a comma"},
    ]

    as_csv = kleio("stats", statistics_trial, *selection, "--format", "csv")
    assert as_csv.returncode == 0, text(as_csv.stderr)
    rows = list(csv.reader(io.StringIO(text(as_csv.stdout))))
    assert rows == [
        ["epoch", "loss", "note"],
        ["4", "0.3", ""],
        ["5", "0.4", ""],
        ["2", "0.5", ""],
        ["6", "0.6", ""],
        ["3", "0.7", ""],
        ["1", "0.9", ""],
        ["7", "", "done, with a comma"],
    ]

    as_table = kleio("stats", statistics_trial, *selection, "--format", "table")
    assert as_table.returncode == 0, text(as_table.stderr)
    table = columns(text(as_table.stdout))
    assert [(r["EPOCH"], r["LOSS"], r["NOTE"]) for r in table] == [
        (row[0], row[1], row[2]) for row in rows[1:]
    ]

    empty = kleio("stats", statistics_trial, "--where", "epoch=99", "--format", "json")
    assert json.loads(empty.stdout) == []


# -- 8. kleio artifacts ----------------------------------------------------------------

ARTIFACTS = """\
from kleio.client.logger import kleio_logger as log
log.log_artifact("weights", b"w1", epoch=1)
log.log_artifact("weights", b"w2\\x00\\xff", epoch=2, best=True)
log.log_artifact("notes.txt", b"hello\\n", kind="text")
log.log_artifact("../../escape.txt", b"you shall not pass")
"""


@pytest.fixture
def artifacts_trial(kleio, project):
    write_script(project, "artifacts.py", ARTIFACTS)
    return ran(kleio("python", "artifacts.py"))


def test_artifacts_lists_name_size_metadata_and_time(kleio, artifacts_trial):
    result = kleio("artifacts", artifacts_trial[:7])
    assert result.returncode == 0, text(result.stderr)
    rows = columns(text(result.stdout).replace("TIME (UTC)", "TIME_(UTC)"))
    assert [(row["NAME"], row["SIZE"], row["METADATA"]) for row in rows] == [
        ("../../escape.txt", "18 B", ""),
        ("notes.txt", "6 B", 'kind="text"'),
        ("weights", "4 B", "epoch=2 best=true"),
        ("weights", "2 B", "epoch=1"),
    ]
    for row in rows:
        assert abs(clock.parse_iso(row["TIME_(UTC)"]) - clock.now()) < 120

    selected = columns(text(kleio("artifacts", artifacts_trial, "--where", "epoch=1").stdout))
    assert [(row["NAME"], row["SIZE"]) for row in selected] == [("weights", "2 B")]


def test_artifacts_get_writes_the_file_with_its_bytes(kleio, artifacts_trial, tmp_path):
    out = tmp_path / "out"
    first = kleio(
        "artifacts", "get", artifacts_trial[:7], "weights", "--where", "epoch=1", "-o", str(out)
    )
    assert first.returncode == 0, text(first.stderr)
    assert (out / "weights").read_bytes() == b"w1"

    latest = kleio("artifacts", "get", artifacts_trial, "weights", "-o", str(out))
    assert latest.returncode == 0, text(latest.stderr)
    assert (out / "weights").read_bytes() == b"w2\x00\xff"

    notes = kleio(
        "artifacts", "get", artifacts_trial, "notes.txt", "--where", "kind=text", "-o", str(out)
    )
    assert notes.returncode == 0, text(notes.stderr)
    assert (out / "notes.txt").read_bytes() == b"hello\n"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "weights"]

    missing = kleio(
        "artifacts", "get", artifacts_trial, "weights", "--where", "epoch=9", "-o", str(out)
    )
    one_line_error(missing, "weights")


def test_an_artifact_named_with_dot_dots_is_written_inside_the_folder(
    kleio, artifacts_trial, tmp_path
):
    out = tmp_path / "a" / "b" / "out"
    result = kleio("artifacts", "get", artifacts_trial, "../../escape.txt", "-o", str(out))
    assert result.returncode == 0, text(result.stderr)
    written = [p for p in tmp_path.rglob("*escape*") if p.is_file()]
    assert written == [out / "escape.txt"]
    assert written[0].read_bytes() == b"you shall not pass"
    assert not (out / "../../escape.txt").exists()


# -- 9. the Python API -----------------------------------------------------------------

API = """\
import json, sys
import kleio

trial = kleio.load_trial(sys.argv[1])
statistics = trial.statistics
try:
    frame = statistics.to_pandas()
    pandas = {"columns": list(frame.columns), "rows": len(frame)}
except ImportError as error:
    pandas = {"error": str(error)}
print(json.dumps({
    "id": trial.id,
    "status": trial.status,
    "commandline": trial.commandline,
    "configuration": trial.configuration,
    "commit": trial.version.get("commit"),
    "python": trial.environment["python"]["version"],
    "executions": [[e["number"], e["exit_code"], e["host"]["hostname"]] for e in trial.executions],
    "parent": trial.parent.id if trial.parent else None,
    "children": [child.id for child in trial.children],
    "stdout": trial.stdout,
    "statistics": list(statistics),
    "by_loss": [s["epoch"] for s in statistics.sorted_by("loss")],
    "where": list(statistics.where(lr=0.1)),
    "pandas": pandas,
    "artifacts": [[a.filename, a.attributes, a.read().decode()] for a in trial.artifacts],
}))
"""


def api(env, project, code: str, *args: str) -> dict | list:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=project, env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 0, text(result.stderr)
    return json.loads(result.stdout)


def test_load_trial_gives_every_part_of_a_trial(kleio, project, env):
    epochs_project(project)
    parent = ran(kleio("python", "epochs.py", "--lr", "0.1", "--epochs", "3"))
    child = ran(kleio("branch", "--timestamp", "epoch=2", parent, "--lr", "0.5"))

    loaded = api(env, project, API, parent[:6])
    assert loaded["id"] == parent and loaded["status"] == "completed"
    assert loaded["commandline"] == ["python", "epochs.py", "--lr", "0.1", "--epochs", "3"]
    assert loaded["configuration"] == {"lr": 0.1, "epochs": 3}
    assert loaded["commit"] == git(project, "rev-parse", "HEAD").strip()
    assert loaded["python"] == platform.python_version()
    assert loaded["executions"] == [[1, 0, socket.gethostname()]]
    assert loaded["parent"] is None and loaded["children"] == [child]
    assert loaded["stdout"] == "start at epoch 1\nepoch 1 lr 0.1\nepoch 2 lr 0.1\nepoch 3 lr 0.1\n"
    assert loaded["statistics"] == [
        {"epoch": 1, "lr": 0.1, "loss": 1.0},
        {"epoch": 2, "lr": 0.1, "loss": 0.5},
        {"epoch": 3, "lr": 0.1, "loss": 0.333},
    ]
    assert loaded["by_loss"] == [3, 2, 1]
    assert [s["epoch"] for s in loaded["where"]] == [1, 2, 3]
    if "error" in loaded["pandas"]:
        assert "pandas" in loaded["pandas"]["error"]
        assert "pip install pandas" in loaded["pandas"]["error"]
    else:
        assert loaded["pandas"] == {"columns": ["epoch", "lr", "loss"], "rows": 3}
    assert loaded["artifacts"] == [
        ["checkpoint", {"epoch": e}, json.dumps({"epoch": e, "lr": 0.1})] for e in (3, 2, 1)
    ]

    branch = api(env, project, API, child)
    assert branch["parent"] == parent and branch["children"] == []
    assert branch["configuration"] == {"lr": 0.5, "epochs": 3}
    assert [[s["epoch"], s["lr"]] for s in branch["statistics"]] == [[1, 0.1], [2, 0.1], [3, 0.5]]
    assert branch["by_loss"] == [3, 2, 1]
    assert [s["epoch"] for s in branch["where"]] == [1, 2]
    assert [[a[1]["epoch"], json.loads(a[2])["lr"]] for a in branch["artifacts"]] == [
        [3, 0.5],
        [2, 0.1],
        [1, 0.1],
    ]


LIST = """\
import json, sys
import kleio

filters = json.loads(sys.argv[1])
print(json.dumps([[t.id, t.status, t.tags] for t in kleio.list_trials(**filters)]))
"""


def test_list_trials_filters_by_tags_and_status(kleio, project, env):
    write_script(project, "fail.py", FAIL)
    ab = ran(kleio("run", "--tags", "a;b", "python", "train.py", "--i", "1"))
    a = ran(kleio("run", "--tags", "a", "python", "train.py", "--i", "2"))
    broken = trial_id_in(kleio("run", "--tags", "b", "python", "fail.py").stderr)
    new = saved(kleio("save", "--tags", "a", "python", "train.py", "--i", "3"))

    def ids(**filters):
        return [row[0] for row in api(env, project, LIST, json.dumps(filters))]

    assert ids() == [new, broken, a, ab]
    assert ids(tags=["a"]) == [new, a, ab]
    assert ids(tags="b") == [broken, ab]
    assert ids(tags=["a", "b"]) == [ab]
    assert ids(status="completed") == [a, ab]
    assert ids(status=["new", "broken"]) == [new, broken]
    assert ids(tags="a", status="completed") == [a, ab]
    assert ids(tags="b", status="broken") == [broken]
    assert ids(status="lost") == []
    rows = api(env, project, LIST, json.dumps({"tags": "a", "status": "new"}))
    assert rows == [[new, "new", ["a"]]]


# -- 10. unknown ids and ambiguous prefixes --------------------------------------------


#: Saved trials of the crowd: one more than the hex digits, so that at least two ids
#: share their first character (40 took twice the time and tested no more).
CROWD = 17


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    """:data:`CROWD` saved trials (so at least two ids share their first character), in a
    project and a home of their own: ``(env, project, ids)``."""
    base = tmp_path_factory.mktemp("crowd")
    project = base / "mnist"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    (project / "train.py").write_text(TRAIN)
    git(project, "add", ".")
    git(project, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "first")
    env = clean_environment(base / "kleio-home")
    first = run_kleio("save", "python", "train.py", "--i", "0", env=env, cwd=project)
    assert first.returncode == 0, text(first.stderr)
    processes = [
        start_kleio(env, project, "save", "python", "train.py", "--i", str(i))
        for i in range(1, CROWD)
    ]
    for process in processes:
        assert process.wait(120) == 0, text(process.stderr.read())
    result = invoke("ls", "--json", env=env, cwd=project)
    ids = [row["id"] for row in json.loads(result.stdout)]
    assert len(ids) == CROWD
    return env, project, ids


#: Each command taking an id, with ``{}`` where the id goes.
ID_COMMANDS = {
    "info": ["info", "{}"],
    "info --json": ["info", "--json", "{}"],
    "cat": ["cat", "{}"],
    "tail": ["tail", "{}"],
    "tail -f": ["tail", "-f", "{}"],
    "stats": ["stats", "{}"],
    "artifacts": ["artifacts", "{}"],
    "artifacts get": ["artifacts", "get", "{}", "weights"],
    "branch": ["branch", "{}", "--i", "100"],
    "pdb": ["pdb", "{}"],
    "switchover": ["switchover", "{}"],
    "run": ["run", "{}"],
}


def with_id(command: str, trial: str) -> list[str]:
    return [trial if word == "{}" else word for word in ID_COMMANDS[command]]


def run_in(crowd, *args: str):
    env, project, _ = crowd
    if reads_only(args):
        return invoke(*args, env=env, cwd=project)
    return run_kleio(*args, env=env, cwd=project, timeout=60, input=b"c\n")


@pytest.mark.parametrize("command", list(ID_COMMANDS))
def test_an_unknown_id_is_a_one_line_error(crowd, command):
    _, _, ids = crowd
    unknown = next(
        prefix
        for prefix in ("0000000", "fffffff", "1234567", "abcdef0")
        if not any(i.startswith(prefix) for i in ids)
    )
    before = json.loads(run_in(crowd, "ls", "--json").stdout)
    result = run_in(crowd, *with_id(command, unknown))
    one_line_error(result, unknown)
    assert result.stdout == b""
    assert json.loads(run_in(crowd, "ls", "--json").stdout) == before  # nothing changed


@pytest.mark.parametrize("command", list(ID_COMMANDS))
def test_an_ambiguous_prefix_is_a_one_line_error_listing_the_candidates(crowd, command):
    _, _, ids = crowd
    prefix = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) >= 2)
    candidates = [i for i in ids if i.startswith(prefix)]
    before = json.loads(run_in(crowd, "ls", "--json").stdout)
    result = run_in(crowd, *with_id(command, prefix))
    errors = one_line_error(result, f"'{prefix}'", "matches")
    for candidate in candidates[:10]:
        assert candidate[:12] in errors
    assert result.stdout == b""
    assert json.loads(run_in(crowd, "ls", "--json").stdout) == before  # nothing changed
