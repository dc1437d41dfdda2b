"""A notebook running its own trial, executed headless by nbclient in a real kernel."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.helpers import run_kleio, text

#: Runs the notebook given as JSON on stdin, cell by cell, until one fails or the
#: kernel dies; prints what ended it.
RUNNER = """\
import sys, nbformat
from nbclient import NotebookClient
notebook = nbformat.reads(sys.stdin.read(), as_version=4)
client = NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True)
try:
    client.execute()
except Exception as error:
    print("ended:", type(error).__name__)
for cell in notebook.cells:
    for output in cell.get("outputs", []):
        print(output.get("text", "") or output.get("ename", ""))
"""


def run_notebook(cells: list[str], cwd, env) -> subprocess.CompletedProcess:
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": source,
                "outputs": [],
                "execution_count": None,
            }
            for source in cells
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(notebook).encode(),
        cwd=cwd,
        env={**env, "JPY_SESSION_NAME": str(cwd / "train.ipynb")},
        capture_output=True,
        timeout=300,
    )


def only_trial(env, cwd) -> dict:
    listed = json.loads(run_kleio("ls", "--json", env=env, cwd=cwd).stdout)
    assert len(listed) == 1, listed
    result = run_kleio("info", "--json", listed[0]["id"], env=env, cwd=cwd)
    return json.loads(result.stdout)


START = """\
import kleio
from kleio.client.logger import kleio_logger
config = {"lr": 0.1, "epochs": 3}
t = kleio.start(config=config)"""

TRAIN = """\
weight = 1.0
for epoch in range(config["epochs"]):
    weight -= config["lr"] * weight
    print("epoch", epoch, "weight", round(weight, 4))
    kleio_logger.log_statistic(epoch=epoch, weight=weight)"""


@pytest.mark.slow
def test_a_notebook_records_its_cells_configuration_statistics_and_output(project, env):
    result = run_notebook([START, TRAIN, "t.end()"], project, env)
    assert result.returncode == 0, text(result.stderr)
    document = only_trial(env, project)
    assert document["status"] == "completed"
    assert document["commandline"] == ["<notebook>", "train.ipynb"]
    assert document["configuration"] == {"lr": 0.1, "epochs": 3}
    trial = document["id"]
    stats = json.loads(run_kleio("stats", "--json", trial, env=env, cwd=project).stdout)
    assert [row["epoch"] for row in stats] == [0, 1, 2]
    assert "epoch 2 weight 0.729" in text(run_kleio("cat", trial, env=env, cwd=project).stdout)
    got = run_kleio(
        "artifacts", "get", trial, "notebook-cells.py", "-o", "saved", env=env, cwd=project
    )
    assert got.returncode == 0, text(got.stderr)
    cells = "".join(path.read_text() for path in (project / "saved").rglob("*") if path.is_file())
    assert "kleio.start(config=config)" in cells and "weight -= config" in cells


@pytest.mark.slow
def test_a_cell_that_raises_leaves_a_broken_trial_with_its_traceback(project, env):
    run_notebook([START, TRAIN + "\nraise ValueError('diverged')"], project, env)
    document = only_trial(env, project)
    assert document["status"] == "broken"
    cat = run_kleio("cat", "--stderr", document["id"], env=env, cwd=project)
    assert "ValueError: diverged" in text(cat.stdout)


@pytest.mark.slow
def test_a_killed_kernel_leaves_a_lost_trial_after_the_lease(project, env):
    env = {**env, "KLEIO_HEARTBEAT": "0.5", "KLEIO_LEASE": "2"}
    result = run_notebook(
        [START, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"], project, env
    )
    assert "ended: DeadKernelError" in text(result.stdout), text(result.stdout + result.stderr)
    time.sleep(2.5)
    assert only_trial(env, project)["status"] == "lost"
