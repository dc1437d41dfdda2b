"""Ranks of one launch are members of one execution of one trial, end to end.

The ranks here are told by hand (``KLEIO_RANK``, ``KLEIO_WORLD_SIZE``,
``KLEIO_RANK_GROUP``), as a launcher's variables would tell them
(``tests/core/test_ranks.py``); ``tests/cli/test_torchrun.py`` runs torchrun itself.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import commit, write_script
from tests.helpers import invoke, one_line_error, run_kleio, start_kleio, text

SCRIPT = """\
import os, sys, time
from kleio.client.logger import kleio_logger

rank = kleio_logger.rank
if os.environ.get("FROM_RANK_0"):
    kleio_logger.log_ranks = False
print(f"rank {rank} of {kleio_logger.world_size} says hello", flush=True)
print(f"rank {rank} complains", file=sys.stderr, flush=True)
time.sleep(float(os.environ.get("PAUSE", "1")))
for step in range(3):
    kleio_logger.log_statistic(step=step, loss=rank + step / 10)
kleio_logger.log_artifact("weights.bin", b"rank %d" % rank, step=2)
sys.exit(int(os.environ.get("CODE_OF_RANK_" + str(rank), "0")))
"""


@pytest.fixture
def ranked(project):
    write_script(project, "ddp.py", SCRIPT)
    commit(project, "ddp")
    return project


def start_ranks(env, project, group, size=2, *args, **extra):
    return [
        start_kleio(
            env,
            project,
            "python",
            "ddp.py",
            *args,
            KLEIO_RANK=str(rank),
            KLEIO_WORLD_SIZE=str(size),
            KLEIO_RANK_GROUP=group,
            **extra,
        )
        for rank in range(size)
    ]


def finished(processes):
    return [(process.wait(timeout=120), *map(text, process.communicate())) for process in processes]


def info_json(env, project, trial_id):
    result = invoke("info", "--json", trial_id, env=env, cwd=project)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def trial_of(results):
    ids = {
        line.split("id: ")[1].split()[0]
        for _, _, err in results
        for line in err.splitlines()
        if "with id: " in line
    }
    assert len(ids) == 1, results
    return ids.pop()


def test_the_ranks_of_one_launch_are_one_execution_of_one_trial(env, ranked, journal):
    results = finished(start_ranks(env, ranked, "launch-1"))
    assert [code for code, _, _ in results] == [0, 0], results
    reserved = [err for _, _, err in results if "trial reserved with id:" in err]
    joined = [err for _, _, err in results if "trial joined with id:" in err]
    assert len(reserved) == len(joined) == 1, results
    trial_id = trial_of(results)
    document = journal.get_trial(trial_id)
    assert document["status"] == "completed" and document["executions"] == 1
    assert len(list(journal.find_trials())) == 1

    info = info_json(env, ranked, trial_id)
    (execution,) = info["executions"]
    assert execution["status"] == "completed" and execution["exit_code"] == 0
    members = execution["members"]
    assert [(m["rank"], m["status"], m["exit_code"]) for m in members] == [
        (0, "completed", 0),
        (1, "completed", 0),
    ]
    assert all(m["pid"] and m["host"]["hostname"] for m in members)

    # Each rank's output apart; rank 0's by default.
    def cat(*args):
        result = invoke("cat", *args, trial_id, env=env, cwd=ranked)
        assert result.returncode == 0, result.stderr
        return text(result.stdout)

    assert cat() == "rank 0 of 2 says hello\n"
    assert cat("--rank", "1") == "rank 1 of 2 says hello\n"
    assert sorted(cat("--rank", "all").splitlines()) == [
        "[rank 0] rank 0 of 2 says hello",
        "[rank 1] rank 1 of 2 says hello",
    ]
    both = cat("--rank", "all", "--stderr")
    assert "rank 1 complains" in both and "rank 0 complains" in both
    assert all(line.startswith(("[rank 0] ", "[rank 1] ")) for line in both.splitlines())
    assert cat("--rank", "5") == ""
    tail = invoke("tail", "--rank", "1", trial_id, env=env, cwd=ranked)
    assert text(tail.stdout) == "rank 1 of 2 says hello\n"
    bad = invoke("cat", "--rank", "first", trial_id, env=env, cwd=ranked)
    assert bad.returncode == 2 and "expected a rank (0, 1, ...) or all" in text(bad.stderr)


def test_a_failing_rank_breaks_the_execution_with_its_exit_code(env, ranked, journal):
    results = finished(start_ranks(env, ranked, "launch-2", 2, CODE_OF_RANK_1="3"))
    assert sorted(code for code, _, _ in results) == [0, 3], results
    trial_id = trial_of(results)
    document = journal.get_trial(trial_id)
    assert document["status"] == "broken" and document["exit_code"] == 3
    assert any("broken (exit code 3 of rank 1)" in err for _, _, err in results), results
    (execution,) = info_json(env, ranked, trial_id)["executions"]
    assert execution["status"] == "broken" and execution["exit_code"] == 3
    assert [(m["rank"], m["exit_code"]) for m in execution["members"]] == [(0, 0), (1, 3)]
    shown = text(invoke("info", trial_id, env=env, cwd=ranked).stdout)
    assert "rank 1  host" in shown and "broken, exit code 3" in shown


def test_a_command_outside_the_launch_is_refused_and_a_rank_cannot_come_twice(env, ranked, journal):
    ranks = start_ranks(env, ranked, "launch-3", 2, PAUSE="6")
    try:
        # Both ranks in the execution: their first line says so.
        first = [text(process.stderr.readline()) for process in ranks]
        alone = run_kleio("python", "ddp.py", env=env, cwd=ranked)
        one_line_error(alone, "is running by another process", "2 ranks of launch launch-3")
        again = run_kleio(
            "python",
            "ddp.py",
            env={**env, "KLEIO_RANK": "1", "KLEIO_WORLD_SIZE": "2", "KLEIO_RANK_GROUP": "launch-3"},
            cwd=ranked,
        )
        one_line_error(again, "its rank 1 is already running")
        elsewhere = run_kleio(
            "python",
            "ddp.py",
            env={**env, "KLEIO_RANK": "0", "KLEIO_WORLD_SIZE": "2", "KLEIO_RANK_GROUP": "other"},
            cwd=ranked,
        )
        one_line_error(elsewhere, "is running by another process")
    finally:
        results = finished(ranks)
    assert [code for code, _, _ in results] == [0, 0], results
    trial_id = trial_of([(0, "", line) for line in first])
    assert journal.get_trial(trial_id)["status"] == "completed"
    statistics = [event.data for event in journal.read_events(trial_id, ["statistic"])]
    assert len(statistics) == 6  # three of each rank, once


def test_many_ranks_arriving_at_once_make_one_execution(env, ranked, journal):
    results = finished(start_ranks(env, ranked, "launch-4", 4, PAUSE="0"))
    assert [code for code, _, _ in results] == [0, 0, 0, 0], results
    trial_id = trial_of(results)
    document = journal.get_trial(trial_id)
    assert document["status"] == "completed" and document["executions"] == 1
    assert sorted(document["members"]) == ["0", "1", "2", "3"]


def test_what_each_rank_logged_carries_its_rank(env, ranked, journal):
    """Statistics and artifacts say which rank logged them: `kleio stats --with-meta`,
    `to_pandas(with_meta=True)`, `kleio artifacts`; each once."""
    results = finished(start_ranks(env, ranked, "launch-5", 2, PAUSE="0"))
    assert [code for code, _, _ in results] == [0, 0], results
    trial_id = trial_of(results)

    result = invoke("stats", trial_id, "--with-meta", "--format", "json", env=env, cwd=ranked)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert sorted((row["_rank"], row["step"], row["loss"]) for row in rows) == [
        (rank, step, rank + step / 10) for rank in (0, 1) for step in range(3)
    ]
    assert all(row["_execution"] == 1 for row in rows)
    # Sorted and filtered, the list is read whole: the same meta.
    result = invoke(
        "stats", trial_id, "--with-meta", "--format", "json", "--sort", "loss", env=env, cwd=ranked
    )
    assert [row["_rank"] for row in json.loads(result.stdout)] == [0, 0, 0, 1, 1, 1]
    table = text(invoke("stats", trial_id, "--with-meta", env=env, cwd=ranked).stdout)
    assert "_RANK" in table.splitlines()[0]

    from kleio.client import api

    statistics = api.load_trial(trial_id, home=str(env["KLEIO_HOME"])).statistics
    frame = statistics.to_pandas(with_meta=True)
    assert sorted(zip(frame["_rank"], frame["step"], strict=True)) == [
        (rank, step) for rank in (0, 1) for step in range(3)
    ]

    listed = invoke("artifacts", trial_id, "--format", "json", env=env, cwd=ranked)
    assert listed.returncode == 0, listed.stderr
    artifacts = json.loads(listed.stdout)
    assert sorted((a["filename"], a["rank"]) for a in artifacts) == [
        ("weights.bin", 0),
        ("weights.bin", 1),
    ]
    assert "RANK" in text(invoke("artifacts", trial_id, env=env, cwd=ranked).stdout)


@pytest.mark.parametrize("how", ["KLEIO_LOG_RANKS", "kleio_logger.log_ranks"])
def test_log_ranks_off_keeps_rank_0s_statistics_alone(env, ranked, journal, how):
    setting = {"KLEIO_LOG_RANKS": "0"} if how == "KLEIO_LOG_RANKS" else {"FROM_RANK_0": "1"}
    results = finished(start_ranks(env, ranked, "launch-6", 3, PAUSE="0", **setting))
    assert [code for code, _, _ in results] == [0, 0, 0], results
    trial_id = trial_of(results)
    result = invoke("stats", trial_id, "--with-meta", "--format", "json", env=env, cwd=ranked)
    rows = json.loads(result.stdout)
    assert [(row["_rank"], row["step"]) for row in rows] == [(0, 0), (0, 1), (0, 2)]
    artifacts = json.loads(
        invoke("artifacts", trial_id, "--format", "json", env=env, cwd=ranked).stdout
    )
    assert [a["rank"] for a in artifacts] == [0]
    assert journal.get_trial(trial_id)["status"] == "completed"


def test_a_bad_log_ranks_setting_is_one_line(env, ranked, journal):
    result = run_kleio("python", "ddp.py", env={**env, "KLEIO_LOG_RANKS": "maybe"}, cwd=ranked)
    one_line_error(result, "log_ranks must be true or false", "KLEIO_LOG_RANKS")
    assert list(journal.find_trials()) == []
