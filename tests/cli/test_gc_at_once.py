"""Two ``kleio gc`` of one journal at once: each reports the space it gave back itself."""

from __future__ import annotations

import re

import pytest

from kleio.store.base import Event
from kleio.store.keys import event_key
from tests.helpers import start_kleio, text

_UNITS = {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30}
_REPORT = re.compile(r"database \S+: ([0-9.]+) (\w+) -> ([0-9.]+) (\w+)")


def _reported(stderr: str) -> tuple[float, float]:
    """The sizes before and after, in bytes, a gc reported."""
    found = _REPORT.search(stderr)
    assert found, stderr
    before, before_unit, after, after_unit = found.groups()
    return float(before) * _UNITS[before_unit], float(after) * _UNITS[after_unit]


@pytest.mark.slow
def test_two_gc_at_once_each_report_only_what_they_gave_back(env, project, journal):
    orphan = "0" * 32  # events of a trial that no longer exists: gc removes them
    for attempt in range(3):
        journal.append_events(
            [
                Event(orphan, "statistic", event_key(1.0 + n, "w", n), 1.0 + n, {"x": "y" * 200})
                for n in range(40_000)
            ]
        )
        journal.close()
        runs = [start_kleio(env, project, "gc") for _ in range(2)]
        said = [run.communicate(timeout=120)[1] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], said
        reports = [_reported(text(stderr)) for stderr in said]
        for before, after in reports:
            assert after <= before, (attempt, reports)
        # The space was given back once: one of them reports it, the other found none.
        gave_back = sorted(before - after for before, after in reports)
        assert gave_back[0] < 2**20 < gave_back[1], (attempt, reports)
        waited = [text(stderr) for stderr in said if "waiting for another" in text(stderr)]
        assert len(waited) <= 1, said
