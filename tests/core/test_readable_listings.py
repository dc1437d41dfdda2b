"""Every listing checked at once (kleio.core.model.schema.all_readable) says "all
readable" only when each listing, checked alone, is: the check of 100,000 listings
``kleio ls`` makes costs a third of a check per listing, and finds no fewer damages."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from kleio.core.model.schema import all_readable, reading_problem

GOOD = {
    "_id": "0123456789abcdef0123456789abcdef",
    "status": "completed",
    "heartbeat": 1.5,
    "members": {"0": {"status": "running", "heartbeat": 2.0}},
    "created": 1.0,
    "started": None,
    "run_time": 3,
    "tags": ["a", "b"],
    "commandline": ["python", "t.py"],
    "refers": {},
    "project": "p",
    "job": None,
    "incomplete": None,
    "name": "bold-fox",
    "study": None,
}
#: Values a field may be given: good, null, and those of a hostile or buggy writer.
VALUES = st.sampled_from(
    [
        None, "text", "", 7, 2.5, math.nan, math.inf, True, [], ["x"], ["python", 3, None],
        {}, {"parent": "a" * 32, "time": 1.0}, {"parent": 3}, "a parent", "running",
        "nonsense", "0123456789ABCDEF0123456789ABCDEF", "0123456789abcdef" * 4,
    ]
)  # fmt: skip


@st.composite
def listings(draw):
    count = draw(st.integers(1, 6))
    documents = []
    for index in range(count):
        document = {**GOOD, "_id": f"{index:032x}"}
        for _ in range(draw(st.integers(0, 2))):
            document[draw(st.sampled_from(sorted(GOOD)))] = draw(VALUES)
        if draw(st.booleans()):
            document.pop(draw(st.sampled_from(sorted(GOOD))), None)
        documents.append(document)
    if draw(st.integers(0, 9)) == 0:
        documents.append(draw(st.sampled_from([[], "text", None])))
    return documents


@settings(max_examples=400, deadline=None)
@given(documents=listings())
def test_listings_checked_at_once_are_readable_only_if_each_is(documents):
    if all_readable(documents):
        assert [reading_problem(d) for d in documents] == [None] * len(documents)


def test_good_listings_are_checked_at_once():
    documents = [{**GOOD, "_id": f"{n:032x}", "run_time": float(n)} for n in range(1000)]
    assert all_readable(documents) and all_readable([])
    for name, value in [("_id", "a" * 64), ("created", math.inf), ("status", None), ("tags", "a")]:
        damaged = [*documents, {**GOOD, name: value}]
        assert reading_problem(damaged[-1]) is not None
        assert not all_readable(damaged)
