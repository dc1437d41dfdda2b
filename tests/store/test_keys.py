"""Event keys (kleio/store/keys.py): one layout, whether made one by one or a batch at once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kleio.store.keys import event_key, event_keys, time_key

TIMES = st.lists(st.floats(min_value=0, max_value=4e9), max_size=20).map(sorted)
WRITERS = st.text(alphabet="0123456789abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)


@given(TIMES, WRITERS, st.integers(0, 10**9))
def test_a_batch_of_keys_is_the_keys_made_one_by_one_in_order(times, writer, first):
    keys = list(event_keys(writer, times, first))
    assert keys == [event_key(t, writer, first + i) for i, t in enumerate(times)]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(key.startswith(time_key(t) + ".") for key, t in zip(keys, times, strict=True))
