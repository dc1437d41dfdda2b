"""The JSON codec (kleio/codec.py), checked on generated values (hypothesis).

Every encoder gives the standard library's text, or a text that decodes to the same
value, as each function promises; orjson's bytes rewritten as the standard library's
are checked against the standard library itself.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kleio import codec
from kleio.codec import (
    BULK,
    compact_array,
    compact_json,
    compact_texts,
    decode_array,
    json_encoder,
    spaced_rows,
)

#: Floats as they come: NaN, infinities, -0.0, the smallest and the largest, and those
#: orjson writes otherwise than ``repr`` (below 1e-4).
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-0.0, 1e-05, 1.5e-07, 2.5e-05, -3e-05, 1e-10, 5e-324, 1e16, 1e22]),
    st.floats(min_value=-1e-4, max_value=1e-4),
)
TEXTS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(['":', ",", "},{", "e-5", "0.00001", "null", "a\\b", "\u2028", "日本"]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),  # the store's integers (orjson reads longer as floats)
    FLOATS,
    TEXTS,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXTS, inner, max_size=4),
    max_leaves=12,
)
#: What a page of statistics holds: numbers and booleans under a few names.
NUMBERS = st.one_of(st.integers(-(2**63), 2**63 - 1), FLOATS, st.booleans())
NUMERIC_ROWS = st.dictionaries(st.sampled_from(["step", "loss", "lr", "e", "é"]), NUMBERS)


def _same(value, other) -> bool:
    """Equal as JSON values: NaN equals NaN, -0.0 is not 0.0."""
    return json.dumps(value) == json.dumps(other)


@settings(max_examples=300)
@given(VALUES)
def test_compact_json_is_the_standard_librarys_compact_text(value):
    assert compact_json(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@settings(max_examples=200)
@given(VALUES)
def test_an_encoder_with_options_is_json_dumps_with_those_options(value):
    options = {"separators": (", ", ": "), "default": str, "allow_nan": False}
    try:
        expected = json.dumps(value, ensure_ascii=False, **options)
    except ValueError:
        with pytest.raises(ValueError):
            json_encoder(**options)(value)
        return
    assert json_encoder(**options)(value) == expected


@settings(max_examples=100)
@given(st.lists(VALUES, min_size=1, max_size=4))
def test_many_values_written_by_orjson_decode_to_themselves(some):
    values = (some * BULK)[:BULK]  # as many as make orjson worth its import
    texts = compact_texts(values)
    assert len(texts) == len(values)
    assert all(_same(json.loads(text), value) for text, value in zip(texts, values, strict=True))
    array = compact_array(values)
    assert _same(json.loads(array), values)
    assert _same(decode_array(array, len(values)), values)
    assert _same(decode_array(f"[{','.join(texts)}]"), values)


@given(st.lists(VALUES, max_size=8))
def test_a_few_values_are_the_standard_librarys_text(values):
    assert compact_texts(values) == list(map(compact_json, values))
    assert compact_array(values) == compact_json(values)
    assert _same(decode_array(compact_array(values), len(values)), values)


def test_a_value_orjson_refuses_is_the_standard_librarys_text_or_error():
    for encode in (compact_texts, compact_array):
        with pytest.raises(TypeError):
            encode([object()] * BULK)
    assert compact_texts([2**70] * BULK) == ["1180591620717411303424"] * BULK
    assert compact_array([-(2**70)] * BULK) == compact_json([-(2**70)] * BULK)
    assert compact_texts([{1: "\ud800"}] * BULK) == ['{"1":"\ud800"}'] * BULK


def _row_by_row(rows: list[dict], between: str) -> str:
    options = {"ensure_ascii": False, "separators": (", ", ": ")}
    return between.join(json.dumps(row, **options) for row in rows)


@settings(max_examples=300)
@given(
    st.one_of(
        st.lists(NUMERIC_ROWS, min_size=1, max_size=12),
        st.lists(st.dictionaries(TEXTS, VALUES, max_size=4), min_size=1, max_size=6),
    )
)
def test_rows_written_at_once_are_the_standard_librarys_rows(rows):
    text = spaced_rows(rows, ",\n  ")
    if text is not None:
        assert text == _row_by_row(rows, ",\n  ")


def test_a_page_of_numbers_is_written_at_once_small_floats_included():
    rows = [
        {"step": step, "loss": 1.0 / (step + 1), "tiny": -1.0 / (step + 1) ** 2, "lr": 3e-05}
        for step in range(0, 200_000, 1000)
    ]
    text = spaced_rows(rows, ",\n  ")
    assert text is not None and text == _row_by_row(rows, ",\n  ")
    assert "e-05" in text and "e-07" in text and "e-10" in text


def test_without_orjson_the_standard_library_writes_and_reads_everything(monkeypatch):
    monkeypatch.setattr(codec, "_ORJSON", False)
    values = [{"loss": 1e-05, "nan": math.nan}] * BULK
    assert compact_texts(values) == list(map(compact_json, values))
    assert compact_array(values) == compact_json(values)
    assert _same(decode_array(compact_array(values)), values)
    assert spaced_rows([{"a": 1}], ",") is None
