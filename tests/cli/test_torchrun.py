"""torchrun itself, as docs/cluster.rst runs it: ``torchrun --no-python --nproc-per-node 2
kleio python ddp.py`` (CPU, gloo), the script being ``examples/torchrun/ddp.py``."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import commit
from tests.helpers import invoke, one_line_error, run_kleio, text

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).parents[2] / "examples" / "torchrun" / "ddp.py"
#: The command docs/cluster.rst shows, after ``torchrun``.
COMMAND = ["--no-python", "--nproc-per-node", "2", "kleio", "python", "ddp.py", "--steps", "3"]


@pytest.fixture
def ddp(project):
    shutil.copy(EXAMPLE, project / "ddp.py")
    commit(project, "ddp")
    return project


def _free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def torchrun(env, project, **extra) -> subprocess.Popen:
    # PET_MASTER_PORT is torchrun's --master-port: test workers run side by side.
    environment = {**env, "PET_MASTER_PORT": _free_port(), **extra}
    return subprocess.Popen(
        [shutil.which("torchrun", path=env["PATH"]), *COMMAND],
        cwd=project,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_the_documented_command_is_the_one_run_here():
    documented = (Path(__file__).parents[2] / "docs" / "cluster.rst").read_text()
    assert "torchrun " + " ".join(COMMAND) in documented


def the_trial(journal):
    (document,) = list(journal.find_trials())
    return document


def statistics_of(env, project, trial_id):
    result = invoke("stats", trial_id, "--with-meta", "--format", "json", env=env, cwd=project)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def members_of(env, project, trial_id):
    result = invoke("info", "--json", trial_id, env=env, cwd=project)
    (execution,) = json.loads(result.stdout)["executions"]
    return execution, {m["rank"]: m for m in execution["members"]}


def test_torchrun_ranks_are_one_execution_of_one_trial(env, ddp, journal):
    launch = torchrun(env, ddp)
    out, err = launch.communicate(timeout=300)
    assert launch.returncode == 0, text(err)
    document = the_trial(journal)
    assert document["status"] == "completed" and document["executions"] == 1
    trial_id = document["_id"]
    execution, members = members_of(env, ddp, trial_id)
    assert execution["status"] == "completed" and sorted(members) == [0, 1]
    assert all(m["status"] == "completed" and m["exit_code"] == 0 for m in members.values())
    rows = statistics_of(env, ddp, trial_id)
    assert sorted((row["_rank"], row["step"]) for row in rows) == [
        (rank, step) for rank in (0, 1) for step in range(3)
    ]
    for rank in (0, 1):
        shown = text(invoke("cat", "--rank", str(rank), trial_id, env=env, cwd=ddp).stdout)
        assert [line.split(" loss")[0] for line in shown.splitlines()] == [
            f"rank {rank} step {step}" for step in range(3)
        ]


def test_a_failing_rank_breaks_the_trial_and_torchrun_stops_the_other(env, ddp, journal):
    launch = torchrun(env, ddp, FAIL_RANK="1", PAUSE="120")
    started = time.monotonic()
    out, err = launch.communicate(timeout=300)
    assert launch.returncode != 0 and time.monotonic() - started < 100, text(err)
    document = the_trial(journal)
    assert document["status"] == "broken" and document["exit_code"] == 3
    execution, members = members_of(env, ddp, document["_id"])
    assert execution["status"] == "broken" and execution["exit_code"] == 3
    assert (members[1]["status"], members[1]["exit_code"]) == ("broken", 3)
    assert members[0]["status"] == "interrupted", members[0]  # stopped by torchrun
    rows = statistics_of(env, ddp, document["_id"])
    assert sorted((row["_rank"], row["step"]) for row in rows) == [
        (rank, step) for rank in (0, 1) for step in range(3)
    ]


def test_the_same_command_from_outside_the_launch_is_refused(env, ddp, journal, tmp_path):
    """The ranks stay at work (2 minutes at most) until the command from outside was
    refused; then they end, and the launch completes its trial."""
    release = tmp_path / "release"
    launch = torchrun(env, ddp, PAUSE="120", RELEASE=str(release))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            trials = list(journal.find_trials())
            if trials and len(trials[0].get("members") or {}) == 2:
                break
            time.sleep(0.3)
        else:
            raise AssertionError("the two ranks never joined")
        alone = run_kleio("python", "ddp.py", "--steps", "3", env=env, cwd=ddp)
        one_line_error(alone, "is running by another process")
    finally:
        release.touch()
        out, err = launch.communicate(timeout=300)
    assert launch.returncode == 0, text(err)
    assert the_trial(journal)["status"] == "completed"
