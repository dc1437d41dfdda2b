"""A trial one of whose ranks vanished (issue 25: an execution's ``members``) shows as
lost wherever its status is shown: ``kleio ls`` and ``kleio compare``, sorted or not, as
``kleio info`` shows it."""

from __future__ import annotations

import json

import pytest

from kleio.core.model.catalogue import open_journal
from kleio.core.model.trial import TrialSpec, new_trial_document
from kleio.store.base import Event
from kleio.store.keys import event_key
from tests.helpers import clean_environment, invoke

NOW = 1_800_000_000.0


def _journal(folder) -> tuple[dict[str, str], str]:
    """Two running trials beating fresh: in one, rank 1 stopped beating an hour ago."""
    address = str(folder / "kleio.db")
    ids = []
    with open_journal(address) as store:
        for index, vanished in enumerate((False, True)):
            spec = TrialSpec("p", ["python", "t.py", "--i", str(index)], {"i": index}, {})
            document = new_trial_document(spec, status="running")
            document.update(created=NOW - 100 + index, started=NOW - 100, heartbeat=NOW - 1)
            document["members"] = {
                "0": {"status": "running", "heartbeat": NOW - 1},
                "1": {"status": "running", "heartbeat": NOW - (3600 if vanished else 1)},
            }
            store.create_trial(document)
            point = Event(document["_id"], "statistic", event_key(0, "w", 0), 0, {"loss": index})
            store.append_events([point])
            ids.append(document["_id"])
    env = clean_environment(folder / "home", KLEIO_DB_ADDRESS=address, COLUMNS="200")
    return env, ids[1]


@pytest.mark.parametrize(
    "argv",
    [
        ["ls"],
        ["ls", "-n", "5"],
        ["ls", "--status", "lost"],
        ["ls", "--sort", "loss:min", "-n", "5"],
        ["compare"],
        ["compare", "--sort", "loss:min", "-n", "5"],
    ],
)
def test_a_trial_whose_rank_vanished_is_listed_as_lost(tmp_path, monkeypatch, argv):
    env, lost = _journal(tmp_path)
    monkeypatch.setattr("kleio.core.model.clock.now", lambda: NOW)
    shown = invoke(*argv, "--format", "json", env=env)
    assert shown.returncode == 0, shown.stderr
    statuses = {row["id"]: row["status"] for row in json.loads(shown.stdout)}
    assert statuses[lost] == "lost"
    assert sorted(statuses.values()) == (["lost"] if "--status" in argv else ["lost", "running"])
