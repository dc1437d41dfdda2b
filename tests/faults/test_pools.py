"""Statistics logged by multiprocessing pool workers.

``with Pool() as pool`` ends with ``pool.terminate()``: SIGTERM to every worker, at any
moment after it returned its last task, maybe as it leaves on its own. Every statistic
a worker logged in a task it returned must be journalled, whatever the start method
(fork, spawn, forkserver), whether threads or the main thread logged before the pool
was made, and whether the pool is left by ``with`` or by ``close()`` and ``join()``.
No run may hang in ``terminate()`` either.

Every combination runs in one project and one journal, three at a time; each run makes
three pools of eight workers in turn (the issue's case, eight), so each has many
chances to lose a worker's statistics.
"""

from __future__ import annotations

import itertools
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from kleio.core.model import status as st
from kleio.core.model.catalogue import TRIAL_CATALOGUE
from kleio.store.sqlite import SQLiteStore
from tests.conftest import commit, git, write_script
from tests.faults.common import store_errors_in, trial_id_of
from tests.helpers import clean_environment, run_kleio, text

pytestmark = pytest.mark.slow  # every way a pool of processes can end

TASKS, PER_TASK, ROUNDS, THREADS, PER_THREAD = 40, 20, 3, 16, 100

POOLS = f"""\
import multiprocessing, sys, threading
from kleio.client.logger import kleio_logger as log


def work(task):
    for i in range({PER_TASK}):
        log.log_statistic(task=task, i=i)
    return task


def log_from_a_thread(thread):
    for i in range({PER_THREAD}):
        log.log_statistic(thread=thread, i=i)


if __name__ == "__main__":
    method, before, leaving, rounds = sys.argv[2], sys.argv[4], sys.argv[6], int(sys.argv[8])
    if before == "main":
        log.log_statistic(main=True)
    elif before == "threads":
        threads = [
            threading.Thread(target=log_from_a_thread, args=(n,)) for n in range({THREADS})
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    context = multiprocessing.get_context(method)
    for round in range(rounds):
        tasks = list(range(round * {TASKS}, (round + 1) * {TASKS}))
        if leaving == "with":
            with context.Pool(8) as pool:
                assert pool.map(work, tasks) == tasks
        else:
            pool = context.Pool(8)
            assert pool.map(work, tasks) == tasks
            pool.close()
            pool.join()
    print("pools done", flush=True)
"""

METHODS = ["fork", "spawn", "forkserver"]
BEFORE = ["nothing", "threads", "main"]
LEAVING = ["with", "close-join"]
#: The issue's case (fork, threads before, ``with``) runs five more times, with more pools.
REPEATS, MORE_ROUNDS = 5, 8
COMBINATIONS = [
    *itertools.product(METHODS, BEFORE, LEAVING, [0]),
    *(("fork", "threads", "with", attempt) for attempt in range(1, REPEATS + 1)),
]


def rounds_of(combination: tuple) -> int:
    return MORE_ROUNDS if combination[3] else ROUNDS


def label(combination: tuple) -> str:
    return "-".join(map(str, combination))


@pytest.fixture(scope="module")
def pool_runs(tmp_path_factory):
    """Every combination's run: (exit code, stderr, trial document, statistics)."""
    base = tmp_path_factory.mktemp("pools")
    home, project = base / "kleio-home", base / "pools"
    project.mkdir()
    env = clean_environment(home)
    git(project, "init", "-q", "-b", "main")
    write_script(project, "pools.py", POOLS)
    commit(project, "pools")
    # Made once, before three processes race for it.
    SQLiteStore(home / "kleio.db", catalogue=TRIAL_CATALOGUE).close()

    def run(combination: tuple) -> tuple:
        method, before, leaving, attempt = combination
        argv = [
            "python", "pools.py", "--method", method, "--before", before,
            "--leaving", leaving, "--rounds", str(rounds_of(combination)),
            "--attempt", str(attempt),
        ]  # fmt: skip
        try:
            result = run_kleio(*argv, env=env, cwd=project, timeout=240)
        except subprocess.TimeoutExpired as timeout:
            return None, f"hung for {timeout.timeout} s: {text(timeout.stderr or b'')}", None, []
        with SQLiteStore(home / "kleio.db", catalogue=TRIAL_CATALOGUE) as store:
            trial_id = trial_id_of(project, argv)
            statistics = [e.data for e in store.read_events(trial_id, ["statistic"])]
            document = store.get_trial(trial_id)
        return result.returncode, text(result.stderr), document, statistics

    with ThreadPoolExecutor(3) as executor:
        return dict(zip(COMBINATIONS, executor.map(run, COMBINATIONS), strict=True))


@pytest.mark.parametrize("combination", COMBINATIONS, ids=[label(c) for c in COMBINATIONS])
def test_every_statistic_a_pool_worker_logged_is_journalled(pool_runs, combination):
    code, errors, document, statistics = pool_runs[combination]
    method, before, leaving, _ = combination
    assert code == 0, errors
    assert not store_errors_in(errors), errors
    assert "AssertionError" not in errors, errors
    assert document["status"] == st.COMPLETED
    logged = Counter((s["task"], s["i"]) for s in statistics if "task" in s)
    twice = [key for key, count in logged.items() if count > 1]
    assert not twice, f"journalled twice: {twice[:10]}"
    missing = sorted(
        (task, i)
        for task in range(rounds_of(combination) * TASKS)
        for i in range(PER_TASK)
        if (task, i) not in logged
    )
    assert not missing, f"{len(missing)} statistics of pool workers lost, such as {missing[:10]}"
    if before == "threads":
        assert sum("thread" in s for s in statistics) == THREADS * PER_THREAD
    if before == "main":
        assert sum("main" in s for s in statistics) == 1
