"""What a run costs in round trips to MongoDB, end to end: each is 20 ms or more to a
hosted server, and a run's start and end wait for them (``bench/roundtrips.py``).

``kleio`` runs in a process of its own with a pymongo ``CommandListener`` registered
before any client exists, on the nx-27017 wire server; the listener writes every command
it saw (name, collection, and the kinds of the events inserted) as JSON on stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from kleio.core.model.catalogue import TRIAL_CATALOGUE
from kleio.store.mongodb import MongoStore
from tests.conftest import git
from tests.helpers import text, trial_id_in
from tests.mongo_server import unique_database_name

_LISTENING = """\
import json, os, sys
from pymongo import monitoring
seen = []
class Listening(monitoring.CommandListener):
    def started(self, event):
        command = event.command
        name = event.command_name
        documents = command.get("documents") or []
        seen.append({
            "name": name,
            "collection": command.get(name) if isinstance(command.get(name), str) else None,
            "kinds": [d.get("kind") for d in documents if isinstance(d, dict)],
            "filter": json.dumps(command.get("filter"), sort_keys=True, default=str),
            "updates": [
                {"q": sorted(u.get("q", {})), "set": sorted(u.get("u", {}).get("$set", {}))}
                for u in command.get("updates") or []
            ],
        })
    def succeeded(self, event):
        pass
    def failed(self, event):
        pass
monitoring.register(Listening())
import subprocess
_popen = subprocess.Popen.__init__
def _spawning(self, *args, **options):
    if "KLEIO_TRIAL_ID" in (options.get("env") or {}):  # the script, not git
        seen.append({"name": "SPAWN"})
    _popen(self, *args, **options)
subprocess.Popen.__init__ = _spawning
from kleio.cli.main import main
code = main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.write("\\nCOMMANDS " + json.dumps(seen) + "\\n")
sys.stderr.flush()
os._exit(code)
"""


@pytest.fixture
def mongo_env(env, wire_server):
    env.update(KLEIO_DB_ADDRESS=wire_server.uri, KLEIO_DB_NAME=unique_database_name())
    return env


def _commands(env, cwd, *args: str) -> tuple[list[dict], subprocess.CompletedProcess]:
    """The MongoDB commands of ``kleio ARGS``, in order, and the finished process."""
    done = subprocess.run(
        [sys.executable, "-c", _LISTENING, *args], env=env, cwd=cwd, capture_output=True
    )
    last = text(done.stderr).rstrip().splitlines()[-1]
    assert last.startswith("COMMANDS "), text(done.stderr)
    return json.loads(last.removeprefix("COMMANDS ")), done


def _names(commands: list[dict]) -> Counter:
    return Counter(command["name"] for command in commands if command["name"] != "SPAWN")


def test_a_short_runs_resource_sample_is_journalled_with_its_end(mongo_env, project):
    """A run shorter than the sample interval gets one resource sample at its end: it
    goes in the insert of the execution's end, not in an append of its own (three round
    trips more)."""
    _commands(mongo_env, project, "python", "-c", "pass", "warm-up")  # the indexes
    commands, done = _commands(mongo_env, project, "python", "-c", "pass")
    assert done.returncode == 0, text(done.stderr)
    inserted = [
        c["kinds"] for c in commands if c["name"] == "insert" and c["collection"] == "events"
    ]
    assert ["usage", "execution", "status"] in inserted, inserted  # the final status too
    assert sum(kinds.count("usage") for kinds in inserted) == 1, inserted
    trial = trial_id_in(done.stderr)
    store = MongoStore(
        mongo_env["KLEIO_DB_ADDRESS"], mongo_env["KLEIO_DB_NAME"], catalogue=TRIAL_CATALOGUE
    )
    try:
        samples = [event.data for event in store.read_events(trial, ["usage"])]
        phases = [event.data["phase"] for event in store.read_events(trial, ["execution"])]
        summary = store.read_summaries([trial], "usage")[trial]
    finally:
        store.close()
    assert len(samples) == 1 and samples[0]["at_end"] is True and samples[0]["execution"] == 1
    assert phases == ["start", "end"]
    assert summary["rss"].count == 1


def test_a_run_reads_its_trial_once_before_reserving_it(mongo_env, project):
    """The trial a run found or made a moment ago is reserved from what it read (the
    reservation's compare-and-set holds it to what is stored): one read of the trial,
    for a new trial and for one resumed."""
    _commands(mongo_env, project, "python", "-c", "pass", "warm-up")
    stop_first = "import os, sys; sys.exit(130 if os.environ['KLEIO_EXECUTION'] == '1' else 0)"
    for expected in (130, 0):  # interrupted, then resumed and completed
        commands, done = _commands(mongo_env, project, "python", "-c", stop_first)
        assert done.returncode == expected, text(done.stderr)
        reads = [c for c in commands if c["name"] == "find" and c["collection"] == "trials"]
        assert len(reads) == 1, reads
    # A trial that cannot be reserved is still refused on what is stored now.
    commands, done = _commands(mongo_env, project, "python", "-c", stop_first)
    assert done.returncode == 0 and "already completed" in text(done.stderr), text(done.stderr)


def test_a_run_costs_fewer_round_trips_than_before(mongo_env, project):
    """``kleio python -c pass`` cost 28 round trips (the release before resource samples,
    restart checks and names) and 32 after them; it costs 24 now, a resumed trial too."""
    _commands(mongo_env, project, "python", "-c", "pass", "warm-up")
    fresh, done = _commands(mongo_env, project, "python", "-c", "pass")
    assert done.returncode == 0, text(done.stderr)
    assert sum(_names(fresh).values()) <= 24, _names(fresh)
    stop_first = "import os, sys; sys.exit(130 if os.environ['KLEIO_EXECUTION'] == '1' else 0)"
    _commands(mongo_env, project, "python", "-c", stop_first)
    resumed, done = _commands(mongo_env, project, "python", "-c", stop_first)
    assert done.returncode == 0, text(done.stderr)
    assert sum(_names(resumed).values()) <= 24, _names(resumed)


def test_a_trial_of_the_former_project_name_is_looked_up_in_the_same_read(mongo_env, project):
    """In a clone whose folder is not named like its repository, a command is also looked
    up under the folder's name (Kleio's name for the project before): one read for both,
    and the trial made then is found again, as is one made under the former name."""
    git(project, "remote", "add", "origin", "https://example.org/team/vision.git")
    _commands(mongo_env, project, "python", "-c", "pass", "warm-up")
    commands, done = _commands(mongo_env, project, "python", "-c", "pass")
    assert done.returncode == 0, text(done.stderr)
    made = trial_id_in(done.stderr)
    reads = [c for c in commands if c["name"] == "find" and c["collection"] == "trials"]
    assert len(reads) == 1, reads
    commands, done = _commands(mongo_env, project, "python", "-c", "pass")
    assert "already completed" in text(done.stderr) and made[:7] in text(done.stderr)
    # A trial recorded when the project was named after its folder ("mnist") resumes.
    env = {**mongo_env, "KLEIO_PROJECT": "mnist"}
    _, done = _commands(env, project, "python", "-c", "pass", "old")
    assert done.returncode == 0, text(done.stderr)
    former = trial_id_in(done.stderr)
    commands, done = _commands(mongo_env, project, "python", "-c", "pass", "old")
    assert "already completed" in text(done.stderr), text(done.stderr)
    assert former[:7] in text(done.stderr), text(done.stderr)
    reads = [c for c in commands if c["name"] == "find" and c["collection"] == "trials"]
    assert len(reads) == 2, reads  # the lookup, then the refusal's read of what is stored


def _phases(commands: list[dict]) -> dict[str, list[dict]]:
    """The commands of a run by phase: ``start`` (until the script is spawned),
    ``journal`` (the start's events, appended once it runs), ``heartbeats`` (the lease's
    renewals while it runs), ``end`` (from the first append after it, its end's, on)."""
    spawn = next(i for i, command in enumerate(commands) if command["name"] == "SPAWN")
    before, after = commands[:spawn], commands[spawn + 1 :]
    beats = [
        c
        for c in after
        if c["name"] == "update"
        and c["collection"] == "trials"
        and c["updates"][0]["set"] == ["heartbeat"]
    ]
    rest = [c for c in after if c not in beats and c["name"] != "endSessions"]
    started = next(i for i, c in enumerate(rest) if "execution" in c["kinds"])
    return {
        "start": before,
        "journal": rest[: started + 2],  # the start's insert, then its summaries' update
        "heartbeats": beats,
        "end": rest[started + 2 :],
    }


def test_each_phase_of_a_run_costs_a_few_round_trips(mongo_env, project):
    """Each round trip is 20 ms or more to a hosted MongoDB. Before the script starts, a
    run sends 5 commands on a database already set up (the set-up markers' read, the
    trial's read, its creation, reservation and start), not 11: with the connection's
    handshakes, at most 8 round trips, the first three while git is looked at. Its
    statuses and execution's start are journalled once the script runs, in one append of
    4 round trips, not three appends of 3; each heartbeat is one; its end is one append
    of its resource sample, execution's end and final status (4) and the status itself
    (1), not 9."""
    _commands(mongo_env, project, "python", "-c", "pass", "warm-up")
    env = {**mongo_env, "KLEIO_HEARTBEAT": "0.3", "KLEIO_LEASE": "30"}
    commands, done = _commands(env, project, "python", "-c", "import time; time.sleep(1.2)")
    assert done.returncode == 0, text(done.stderr)
    phases = _phases(commands)
    counted = {phase: _names(listed) for phase, listed in phases.items()}
    assert sum(counted["start"].values()) <= 5, counted
    assert counted["start"]["find"] == 2, counted  # the markers and the trial
    assert sum(counted["journal"].values()) <= 4, counted
    kinds = [c["kinds"] for c in phases["journal"] if c["name"] == "insert"]
    assert kinds == [["status", "status", "execution"]], kinds
    assert len(phases["heartbeats"]) >= 2, counted  # each one round trip
    assert sum(counted["end"].values()) <= 5, counted
    kinds = [c["kinds"] for c in phases["end"] if c["name"] == "insert"]
    assert kinds == [["usage", "execution", "status"]], kinds
    trial = trial_id_in(done.stderr)
    store = MongoStore(
        mongo_env["KLEIO_DB_ADDRESS"], mongo_env["KLEIO_DB_NAME"], catalogue=TRIAL_CATALOGUE
    )
    try:
        statuses = [event.data["status"] for event in store.read_events(trial, ["status"])]
        summary = store.read_summaries([trial], "status")[trial]
        execution = store.read_summaries([trial], "execution")[trial]
    finally:
        store.close()
    assert statuses == ["reserved", "running", "completed"]
    assert summary["status"].count == 3 and summary["status"].last == "completed"
    assert execution["phase"].count == 2 and execution["phase"].last == "end"
