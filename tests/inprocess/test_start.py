"""A script or a notebook that runs its own trial (``kleio.start``), end to end: a real
``python script.py`` in a temporary git repository with a fresh KLEIO_HOME."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import commit, write_script
from tests.helpers import run_kleio, text, trial_id_in

TRAIN = """\
import argparse
import kleio
from kleio.client.logger import kleio_logger

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--fail", action="store_true")
parser.add_argument("--resume", default="yes")
parser.add_argument("--interrupt", action="store_true")
args = parser.parse_args()
resume = {"yes": True, "no": False, "branch": "branch"}[args.resume]
with kleio.trial(config={"lr": args.lr, "fail": args.fail}, resume=resume) as t:
    print("training", t.id)
    print("earlier", len(kleio_logger.load_statistics()))
    for epoch in range(3):
        kleio_logger.log_statistic(epoch=epoch, loss=args.lr / (epoch + 1))
    if args.fail:
        raise ValueError("bad batch")
    if args.interrupt:
        raise KeyboardInterrupt
"""


def python(project: Path, env: dict[str, str], *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=project, env=env, capture_output=True, timeout=120, **kwargs
    )


def info(env: dict[str, str], project: Path, trial: str) -> dict:
    result = run_kleio("info", "--json", trial, env=env, cwd=project)
    assert result.returncode == 0, text(result.stderr)
    return json.loads(result.stdout)


@pytest.fixture
def train(project):
    write_script(project, "train.py", TRAIN)
    commit(project, "train")
    return project


def test_a_script_records_a_completed_trial_and_refuses_it_again_in_one_line(train, env):
    first = python(train, env, "train.py", "--lr", "0.5")
    assert first.returncode == 0, text(first.stderr)
    trial = trial_id_in(first.stderr)
    assert f"training {trial}" in text(first.stdout)  # the terminal still shows it
    document = info(env, train, trial)
    assert document["status"] == "completed"
    assert document["commandline"] == ["python", "train.py"]
    assert document["configuration"] == {"lr": 0.5, "fail": False}
    assert document["version"]["commit"] and document["version"]["branch"] == "main"
    assert document["executions"][0]["host"]["hostname"]
    stats = run_kleio("stats", "--json", trial, env=env, cwd=train)
    assert [row["epoch"] for row in json.loads(stats.stdout)] == [0, 1, 2]
    cat = run_kleio("cat", trial, env=env, cwd=train)
    assert f"training {trial}" in text(cat.stdout)

    again = python(train, env, "train.py", "--lr", "0.5")
    assert again.returncode == 1
    errors = [line for line in text(again.stderr).splitlines() if line]
    assert errors == [
        f"kleio: error: trial {trial[:7]} is already completed: "
        'kleio.start(resume="branch") makes a branch of it, resume=False a new trial'
    ]

    branched = python(train, env, "train.py", "--lr", "0.5", "--resume", "branch")
    assert branched.returncode == 0, text(branched.stderr)
    branch = trial_id_in(branched.stderr)
    assert branch != trial
    assert info(env, train, branch)["parent"] == trial
    assert "earlier 3" in text(branched.stdout)  # its parent's statistics are its past

    fresh = python(train, env, "train.py", "--lr", "0.5", "--resume", "no")
    assert fresh.returncode == 0 and trial_id_in(fresh.stderr) not in (trial, branch)


def test_a_block_that_raises_leaves_a_broken_trial_with_its_traceback(train, env):
    result = python(train, env, "train.py", "--fail")
    assert result.returncode == 1
    trial = trial_id_in(result.stderr)
    assert info(env, train, trial)["status"] == "broken"
    cat = run_kleio("cat", "--stderr", trial, env=env, cwd=train)
    assert "ValueError: bad batch" in text(cat.stdout)
    assert "Traceback" in text(cat.stdout)


def test_keyboard_interrupt_leaves_an_interrupted_trial_that_resumes(train, env):
    result = python(train, env, "train.py", "--interrupt")
    trial = trial_id_in(result.stderr)
    assert info(env, train, trial)["status"] == "interrupted"
    resumed = python(train, env, "train.py")
    assert trial_id_in(resumed.stderr) == trial
    assert "earlier 3" in text(resumed.stdout)
    assert info(env, train, trial)["status"] == "completed"


SLEEPER = """\
import kleio, time
t = kleio.start(config={"seconds": 60})
print("started", flush=True)
time.sleep(60)
"""


@pytest.mark.slow
def test_a_killed_process_leaves_a_lost_trial_after_the_lease(project, env):
    write_script(project, "sleeper.py", SLEEPER)
    env = {**env, "KLEIO_HEARTBEAT": "0.5", "KLEIO_LEASE": "2"}
    process = subprocess.Popen(
        [sys.executable, "sleeper.py"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout.readline() == b"started\n"
    time.sleep(1.5)  # heartbeats keep it running past the lease
    os.kill(process.pid, signal.SIGKILL)
    _, errors = process.communicate()
    trial = trial_id_in(errors)
    assert info(env, project, trial)["status"] == "running"
    time.sleep(2.5)
    assert info(env, project, trial)["status"] == "lost"


def test_under_kleio_the_script_joins_the_wrappers_trial(train, env):
    result = run_kleio("python", "train.py", "--lr", "0.25", env=env, cwd=train)
    assert result.returncode == 0, text(result.stderr)
    trial = trial_id_in(result.stderr)
    assert f"training {trial}" in text(result.stdout)
    listed = json.loads(run_kleio("ls", "--json", env=env, cwd=train).stdout)
    assert [row["id"] for row in listed] == [trial]
    assert info(env, train, trial)["status"] == "completed"


def test_a_config_that_cannot_be_made_plain_is_a_type_error_naming_its_key(project, env):
    write_script(
        project,
        "bad.py",
        """\
        import kleio
        try:
            kleio.start(config={"model": {"layers": [1, object()]}})
        except TypeError as error:
            print(error)
        """,
    )
    result = python(project, env, "bad.py")
    assert "configuration value model.layers[1] is a object" in text(result.stdout)
