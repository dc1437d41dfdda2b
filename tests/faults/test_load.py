"""Load: eight workers ``kleio run --tags T`` over 200 saved short trials, on SQLite and on
the MongoDB wire backend. Each trial runs exactly once and completes, and no store error
nor traceback shows in any worker's stderr nor in any trial's journalled output.
"""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from kleio.core.model import status as st
from kleio.core.model.catalogue import open_journal
from kleio.core.model.printed import output_bytes
from kleio.core.model.settings import load_settings
from kleio.core.running.execution import Runner, RunOptions
from tests.conftest import commit, write_script
from tests.faults.common import store_errors_in
from tests.helpers import start_kleio, text
from tests.mongo_server import unique_database_name

pytestmark = pytest.mark.slow  # eight workers over two hundred trials

TRIALS = 200
WORKERS = 8
TAG = "load"

WORK = """\
import os, sys
i = sys.argv[sys.argv.index("--i") + 1]
runs = os.open("runs.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
os.write(runs, f"{i}\\n".encode())
os.close(runs)
print(f"trial {i} done")
"""

#: What a worker may say on stderr: nothing else (the script prints nothing there).
EXPECTED_STDERR = re.compile(
    r"trial reserved with id: [0-9a-f]{32}"
    rf"|kleio: no trial tagged '{TAG}' left to run; this worker ran (\d+)"
    # Another worker completed it between this worker's listing and its reservation.
    r"|kleio: (?P<completed>trial [0-9a-f]{7} is already completed): nothing to run .*"
)


@pytest.fixture(params=["sqlite", "wire"])
def backend_env(request, env):
    """The test's environment, with the wire backend's address for ``wire``."""
    if request.param == "sqlite":
        yield env
        return
    server = request.getfixturevalue("wire_server")
    name = unique_database_name()
    yield {**env, "KLEIO_DB_ADDRESS": server.uri, "KLEIO_DB_NAME": name}
    with open_journal(server.uri, name) as store:
        store._db.client.drop_database(name)


def save_trials(env: dict, project) -> list[str]:
    """Record the trials in-process, as ``kleio save --tags TAG`` would, one by one."""
    settings = load_settings(environ=env)
    notes: list[str] = []
    with open_journal(settings.db_address, settings.db_name) as store:
        runner = Runner(store, settings, dict(env), notes.append, RunOptions(tags=[TAG]))
        ids = [
            runner.save_command(["python", "work.py", "--i", str(i)], str(project))["_id"]
            for i in range(TRIALS)
        ]
    assert not notes, notes
    return ids


def test_eight_workers_run_two_hundred_trials_exactly_once_without_store_errors(
    backend_env, project, tmp_path
):
    env = backend_env
    write_script(project, "work.py", WORK)
    (project / ".gitignore").write_text("runs.txt\n")
    commit(project, "work")
    ids = save_trials(env, project)
    assert len(set(ids)) == TRIALS

    logs = tmp_path / "workers"
    logs.mkdir()
    started = time.monotonic()
    workers = []
    for n in range(WORKERS):
        with open(logs / f"{n}.out", "wb") as out, open(logs / f"{n}.err", "wb") as err:
            workers.append(start_kleio(env, project, "run", "--tags", TAG, stdout=out, stderr=err))
    try:
        codes = [worker.wait(170) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    elapsed = time.monotonic() - started

    problems, ran, taken = [], 0, []
    for n in range(WORKERS):
        errors = (logs / f"{n}.err").read_bytes().decode("utf-8", "replace")
        problems += [f"worker {n}: {line}" for line in store_errors_in(errors)]
        for line in errors.splitlines():
            match = EXPECTED_STDERR.fullmatch(line)
            if match is None:
                problems.append(f"worker {n} said: {line}")
            elif match.group(1):
                ran += int(match.group(1))
            elif match.group("completed"):
                taken.append(f"worker {n}: {match.group('completed')}")
    assert not problems, "\n".join(problems[:30])
    assert codes == [0] * WORKERS, codes
    # Each worker counts the trials it ran: together, every trial once.
    assert ran == TRIALS, (
        f"the workers say they ran {ran} trials (in {elapsed:.0f} s), not {TRIALS}; "
        f"trials they found completed by another worker: {taken}"
    )

    runs = (project / "runs.txt").read_text().splitlines()
    twice = [i for i, count in Counter(runs).items() if count > 1]
    assert not twice, f"trials executed more than once: {twice}"
    assert sorted(map(int, runs)) == list(range(TRIALS))

    settings = load_settings(environ=env)
    with open_journal(settings.db_address, settings.db_name) as store:
        documents = {d["_id"]: d for d in store.find_trials(tags=[TAG])}
        assert sorted(documents) == sorted(ids)
        for trial_id, document in documents.items():
            i = document["configuration"]["i"]
            assert document["status"] == st.COMPLETED, (i, document["status"])
            assert document["executions"] == 1, (i, document["executions"])
            phases = Counter(e.data["phase"] for e in store.read_events(trial_id, ["execution"]))
            assert phases == {"start": 1, "end": 1}, (i, phases)
            statuses = [e.data["status"] for e in store.read_events(trial_id, ["status"])]
            assert statuses == [st.RESERVED, st.RUNNING, st.COMPLETED], (i, statuses)
            stdout = b"".join(output_bytes(e.data) for e in store.read_events(trial_id, ["stdout"]))
            stderr = b"".join(output_bytes(e.data) for e in store.read_events(trial_id, ["stderr"]))
            assert stdout == f"trial {i} done\n".encode(), (i, stdout)
            assert stderr == b"", (i, text(stderr))
