"""An execution that continues a trial's view but starts its counters again.

A branch (``kleio branch --timestamp epoch=2``) or a resumed execution should pick up
where the view stopped: its script loads its checkpoint and logs ``epoch=3`` after the
past's ``epoch=2``. A script that does not logs ``epoch=1`` again, and the view reads 1,
2, 1, 2, 3 without a word. At the end of such an execution, Kleio compares the first
value it logged of each key that only grew in the view before it (``epoch``, ``step``),
and of the branch point's key, with the value the view had reached, and says so once.
"""

from __future__ import annotations

from typing import Any

from kleio.core.model.trial import TrialDocument
from kleio.store.base import Store

#: Statistics of the view before the execution read at most to tell which keys only
#: grew (a second or so): past it, only the branch point's key is checked.
MOST_READ = 1_000_000
#: Statistics of the execution read for its first values.
FIRST_READ = 1_000


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def branch_key(document: TrialDocument) -> str | None:
    """The key of a branch point given as ``KEY=VALUE`` (``epoch`` of ``epoch=2``)."""
    timestamp = (document.get("refers") or {}).get("timestamp")
    if isinstance(timestamp, str) and "=" in timestamp:
        return timestamp.partition("=")[0].strip() or None
    return None


def restarted_keys(
    store: Store, document: TrialDocument, since: float
) -> dict[str, tuple[float, float]]:
    """Key -> (first value the execution started at ``since`` logged, value the view had
    reached before it), for the keys it logged lower than where the view stood: those
    that only grew in the view before, and the branch point's key."""
    first: dict[str, Any] = {}
    events = store.read_events(document["_id"], ["statistic"], since=since, page_size=FIRST_READ)
    for count, event in enumerate(events):
        if count >= FIRST_READ:
            break
        for key, value in event.data.items():
            if key not in first and _number(value):
                first[key] = value
    if not first:
        return {}
    # Not at the top: every run imports this module, but only an execution continuing a
    # view that logged numbers reads the view (the import: 0.3 ms of each run's start).
    from kleio.core.model.view import Segment, lineage

    segments = lineage(store, document)
    segments[-1] = Segment(document["_id"], since - 1e-6)
    reached: dict[str, Any] = {}
    grew = dict.fromkeys(first, True)
    pages = (
        page
        for segment in segments
        for page in store.read_data(segment.trial, "statistic", until=segment.until)
    )
    read = 0
    for page in pages:
        read += len(page.datas)
        if read > MOST_READ:  # too long to read at the end of a run: the branch key only
            grew = dict.fromkeys(first, False)
            break
        for data in page.datas:
            for key in first.keys() & data.keys():
                value = data[key]
                if not _number(value):
                    continue
                if key in reached and value < reached[key]:
                    grew[key] = False
                reached[key] = value
    checked = {key for key, only_grew in grew.items() if only_grew}
    checked.add(branch_key(document) or "")
    return {
        key: (first[key], reached[key])
        for key in sorted(checked & first.keys() & reached.keys())
        if first[key] < reached[key]
    }


def describe_restarts(restarted: dict[str, Any]) -> str:
    """``the script restarted at epoch=1 (the trial had reached epoch=2): ...``."""
    starts = ", ".join(f"{key}={first:g}" for key, (first, _) in restarted.items())
    reached = ", ".join(f"{key}={value:g}" for key, (_, value) in restarted.items())
    return (
        f"the script restarted at {starts} (its trial had reached {reached}): does it load "
        "its checkpoint? see docs/branching.rst"
    )
