"""Event keys (kleio/store/keys.py): one layout, whether made one by one or a batch at once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kleio.core.model.journal import EventWriter
from kleio.store.keys import event_key, event_keys, key_range, time_key

TIMES = st.lists(st.floats(min_value=0, max_value=4e9), max_size=20).map(sorted)
WRITERS = st.text(alphabet="0123456789abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)


@given(TIMES, WRITERS, st.integers(0, 10**9))
def test_a_batch_of_keys_is_the_keys_made_one_by_one_in_order(times, writer, first):
    keys = list(event_keys(writer, times, first))
    assert keys == [event_key(t, writer, first + i) for i, t in enumerate(times)]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(key.startswith(time_key(t) + ".") for key, t in zip(keys, times, strict=True))


@given(st.lists(st.floats(min_value=1.5e9, max_value=4e9), max_size=20).map(sorted))
def test_an_event_is_within_the_key_range_of_its_own_time(times):
    events = EventWriter().events("t", [("statistic", t, {}) for t in times])
    for event in events:
        low, high = key_range(event.time, event.time)
        assert low <= event.key < high


def test_the_key_range_of_a_time_holds_the_events_of_its_microsecond_only():
    # A time whose microsecond plus one rounded back to it before.
    moment = 1732907742.3924744
    low, high = key_range(moment, moment)
    assert low <= event_key(moment, "w", 0) < high
    assert int(high) == int(low) + 1  # the microsecond after the time's own


@given(st.floats(min_value=1.5e9, max_value=4e9))
def test_a_view_cut_just_before_an_event_holds_what_came_before_and_not_the_event(moment):
    from kleio.core.running.branching import just_before

    _, high = key_range(None, just_before(moment))
    before = event_key(moment - 2e-6, "w", 0)
    assert before < high <= event_key(moment, "w", 0)
