"""The dashboard's page of the newest trials reads the trials of the page alone
(kleio.core.reading.paging): the rows of every trial compared, their page cut out."""

from __future__ import annotations

import pytest

from kleio.core.model.catalogue import open_journal
from kleio.core.model.trial import TrialSpec, new_trial_document
from kleio.core.reading.comparison import compare_trials
from kleio.core.reading.query import Query
from kleio.core.reading.selection import Selection
from kleio.store.base import Event
from kleio.store.keys import event_key
from kleio.store.sqlite.store import SQLiteStore
from kleio.ui.api import Dashboard

NOW = 1_800_000_000.0
LEASE = 60.0


@pytest.fixture
def store(tmp_path, monkeypatch):
    """30 trials of two tags, some named, each logging loss and acc (branches too)."""
    monkeypatch.setattr("kleio.core.model.clock.now", lambda: NOW)
    with open_journal(str(tmp_path / "kleio.db")) as store:
        made = []
        for index in range(30):
            refers = {"parent": made[index - 3], "time": NOW - 50} if index % 7 == 6 else {}
            configuration = {"lr": [0.1, 0.01][index % 2], "batch": 32, "seed": index // 10}
            spec = TrialSpec("p", ["python", "t.py", "--i", str(index)], configuration, refers)
            document = new_trial_document(
                spec, status="completed", tags=["even" if index % 2 == 0 else "odd"]
            )
            document.update(created=NOW - 1000 + index // 2, started=NOW - 2000, run_time=1.5)
            if index % 5 == 0:
                document["name"] = f"trial-{index}"
            store.create_trial(document)
            made.append(document["_id"])
            store.append_events(
                [
                    Event(document["_id"], "statistic", event_key(t, "w", t), t, point)
                    for t, point in enumerate([{"loss": index / (t + 1)} for t in range(3)])
                ]
                + [Event(document["_id"], "statistic", event_key(9, "w", 9), 9, {"acc": index})]
            )
        yield store


@pytest.mark.parametrize("tags", ["", "odd"])
@pytest.mark.parametrize("offset,limit", [(0, 50), (0, 5), (5, 5), (26, 5), (40, 5)])
def test_a_page_of_the_newest_trials_is_the_comparisons_page_read_alone(
    store, monkeypatch, tags, offset, limit
):
    query = Query(Selection(tags=[tags] if tags else []))
    every = compare_trials(store, query, LEASE)
    read: list[str] = []
    original = SQLiteStore.get_trials
    monkeypatch.setattr(
        SQLiteStore, "get_trials", lambda self, ids: read.extend(ids) or original(self, ids)
    )
    monkeypatch.setattr(SQLiteStore, "_whole_documents", lambda *a: pytest.fail("every document"))
    monkeypatch.setattr(SQLiteStore, "_extracted_fields", lambda *a: pytest.fail("every document"))
    params = {"offset": [str(offset)], "limit": [str(limit)], "tags": [tags]}
    answer = Dashboard(store, LEASE, "kleio.db", "0").trials(params)
    shown = [row["id"] for row in every.rows[offset : offset + limit]]
    assert [row["id"] for row in answer["rows"]] == shown
    assert answer["total"] == len(every.rows)
    # The page's trials are read, and those before it: never every trial.
    assert len(read) <= offset + limit
    # Its columns are those of the comparison of its own trials.
    own = compare_trials(store, Query(Selection(ids=shown)), LEASE) if shown else None
    assert answer["configuration"] == (own.configuration if own else [])
    assert answer["statistics"] == (own.statistics if own else [])
    assert answer["columns"] == (own.columns if own else every.columns[:3] + ["run_time"])
    for row in answer["rows"]:
        (same,) = [r for r in every.rows if r["id"] == row["id"]]
        assert {k: same[k] for k in row} == row


@pytest.mark.parametrize("sort", ["loss:min", "-loss:max", "-acc:min"])
@pytest.mark.parametrize("tags", ["", "odd"])
@pytest.mark.parametrize("limit", [1, 5, 50])
def test_a_first_page_by_a_statistic_is_the_comparisons_read_alone(
    store, monkeypatch, sort, tags, limit
):
    query = Query(Selection(tags=[tags] if tags else []), [], [sort])
    every = compare_trials(store, query, LEASE)
    read: list[str] = []
    original = SQLiteStore.get_trials
    monkeypatch.setattr(
        SQLiteStore, "get_trials", lambda self, ids: read.extend(ids) or original(self, ids)
    )
    monkeypatch.setattr(SQLiteStore, "_whole_documents", lambda *a: pytest.fail("every document"))
    monkeypatch.setattr(SQLiteStore, "_extracted_fields", lambda *a: pytest.fail("every document"))
    params = {"offset": ["0"], "limit": [str(limit)], "tags": [tags], "sort": [sort]}
    answer = Dashboard(store, LEASE, "kleio.db", "0").trials(params)
    shown = [row["id"] for row in every.rows[:limit]]
    assert [row["id"] for row in answer["rows"]] == shown
    assert answer["total"] == len(every.rows)
    assert answer["best"] == every.best
    assert len(read) <= limit
    own = compare_trials(store, Query(Selection(ids=shown), [], [sort]), LEASE)
    assert (answer["configuration"], answer["statistics"]) == (own.configuration, own.statistics)
    assert answer["columns"] == own.columns
    for row in answer["rows"]:
        (same,) = [r for r in every.rows if r["id"] == row["id"]]
        assert {k: same[k] for k in row} == row
