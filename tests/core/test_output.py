"""Journalled output: valid UTF-8 as text, anything else in base64, byte for byte."""

from __future__ import annotations

import json
import random

import pytest

from kleio.core.model.journal import EventWriter
from kleio.core.model.printed import CHUNK, output_bytes, output_data
from kleio.core.running.recorder import OutputRecorder, utf8_boundary

#: One character of each UTF-8 length: 1, 2, 3 and 4 bytes.
CHARACTERS = ["a", "\n", "é", "ß", "€", "中", "😀", "𝔘"]
INVALID = [b"\xff", b"\xfe", b"\x80", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xed\xa0\x80"]


def text_of(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(CHARACTERS) for _ in range(length))


def messy_bytes(rng: random.Random, length: int) -> bytes:
    """Valid text with invalid sequences (lone continuation bytes, cut characters) in it."""
    parts = []
    while sum(map(len, parts)) < length:
        if rng.random() < 0.2:
            parts.append(rng.choice(INVALID))
        else:
            parts.append(text_of(rng, rng.randint(1, 50)).encode())
    return b"".join(parts)


def boundaries(text: str) -> set[int]:
    return {len(text[:index].encode()) for index in range(len(text) + 1)}


def joined(pieces) -> bytes:
    return b"".join(output_bytes(data) for data in pieces)


# -- utf8_boundary ---------------------------------------------------------------------


def test_the_cut_is_the_last_character_boundary_at_most_the_limit():
    rng = random.Random(1)
    for _ in range(300):
        text = text_of(rng, rng.randint(0, 12))
        data = text.encode()
        starts = boundaries(text)
        for limit in range(len(data) + 2):
            cut = utf8_boundary(data, limit)
            assert cut == max(b for b in starts if b <= limit), (data, limit)
            data[:cut].decode("utf-8")  # never a piece of a character


def test_a_cut_works_on_a_bytearray_as_on_bytes():
    data = "x€".encode()
    assert utf8_boundary(bytearray(data), 3) == utf8_boundary(data, 3) == 1


def test_bytes_that_are_not_utf8_are_cut_at_the_limit():
    assert utf8_boundary(b"\xff" * 10, 4) == 4
    assert utf8_boundary(b"\x80" * 10, 4) == 4  # continuation bytes without a lead


# -- output_data and output_bytes ------------------------------------------------------


def test_valid_text_is_one_text_piece():
    assert output_data("température: 21 °C 🌡\n".encode()) == [{"text": "température: 21 °C 🌡\n"}]


def test_invalid_bytes_go_to_base64_between_text_pieces():
    pieces = output_data(b"ok \xff\xfe end")
    assert pieces[0] == {"text": "ok "}
    assert pieces[-1] == {"text": " end"}
    assert all(set(piece) == {"base64"} for piece in pieces[1:-1])
    assert joined(pieces[1:-1]) == b"\xff\xfe"


def test_a_character_cut_at_the_end_is_kept_in_base64():
    assert output_data(b"abc\xe2\x82") == [{"text": "abc"}, {"base64": "4oI="}]


def test_nothing_gives_no_piece():
    assert output_data(b"") == []


def test_any_bytes_come_back_exactly_and_the_pieces_are_json():
    rng = random.Random(2)
    samples = [rng.randbytes(rng.randint(0, 200)) for _ in range(300)]
    samples += [messy_bytes(rng, rng.randint(0, 300)) for _ in range(300)]
    for data in samples:
        pieces = output_data(data)
        assert joined(pieces) == data
        # Surrogates or stray bytes in text would break the journal's JSON.
        assert json.loads(json.dumps(pieces, ensure_ascii=False).encode("utf-8")) == pieces
        for piece in pieces:
            assert len(piece) == 1 and next(iter(piece)) in ("text", "base64")


# -- OutputRecorder --------------------------------------------------------------------


class CollectingSink:
    """Stands for an EventSink: keeps what was put."""

    def __init__(self):
        self.events = []

    def put_many(self, events):
        self.events.extend(events)

    def hold_back(self):
        """Never full: the recorder never waits."""


def record(pieces, interval: float) -> list:
    sink = CollectingSink()
    recorder = OutputRecorder(sink, EventWriter(), "trial-1", "stdout", interval=interval)
    for piece in pieces:
        recorder.add(piece)
    recorder.finish()
    assert recorder.total == sum(map(len, pieces))
    return sink.events


def random_pieces(rng: random.Random, data: bytes) -> list[bytes]:
    pieces, start = [], 0
    while start < len(data):
        size = rng.choice([1, 2, 3, rng.randint(1, 100), rng.randint(1, 3 * CHUNK)])
        pieces.append(data[start : start + size])
        start += size
    return pieces


def check_events(events, data: bytes) -> None:
    assert all(e.trial == "trial-1" and e.kind == "stdout" for e in events)
    assert [e.key for e in events] == sorted(e.key for e in events)  # the store's order
    assert len({e.key for e in events}) == len(events)
    assert all(len(output_bytes(e.data)) <= CHUNK for e in events)
    assert joined(e.data for e in events) == data


@pytest.mark.parametrize("interval", [0.0, 3600.0], ids=["every-add", "at-finish"])
def test_recorded_output_is_the_input_exactly_in_chunks_of_at_most_chunk_bytes(interval):
    rng = random.Random(3)
    for _ in range(20):
        data = messy_bytes(rng, rng.randint(0, 5 * CHUNK))
        check_events(record(random_pieces(rng, data), interval), data)


def test_arbitrary_bytes_in_random_pieces_are_recorded_exactly():
    rng = random.Random(4)
    data = rng.randbytes(4 * CHUNK + 123)
    check_events(record(random_pieces(rng, data), interval=0.0), data)


def test_characters_split_across_reads_are_journalled_as_text():
    text = "😀€é" * (CHUNK // 3)
    data = text.encode()
    rng = random.Random(5)
    for interval in (0.0, 3600.0):
        events = record(random_pieces(rng, data), interval)
        check_events(events, data)
        assert all(set(e.data) == {"text"} for e in events)
        assert "".join(e.data["text"] for e in events) == text


def test_one_byte_at_a_time_never_splits_a_character():
    data = "naïve café 😀 ok\n".encode() * 3
    events = record([data[i : i + 1] for i in range(len(data))], interval=0.0)
    check_events(events, data)
    assert all(set(e.data) == {"text"} for e in events)


def test_a_full_chunk_is_journalled_before_the_interval_and_the_rest_at_finish():
    sink = CollectingSink()
    recorder = OutputRecorder(sink, EventWriter(), "trial-1", "stdout", interval=3600.0)
    recorder.add(b"x" * (CHUNK + 10))
    assert [len(output_bytes(e.data)) for e in sink.events] == [CHUNK]
    recorder.add(b"y" * 5)
    assert len(sink.events) == 1  # a partial chunk waits for the interval
    recorder.finish()
    assert joined(e.data for e in sink.events) == b"x" * (CHUNK + 10) + b"y" * 5


def test_an_unfinished_character_at_the_end_is_kept_at_finish():
    data = b"done \xf0\x9f\x98"  # the script died in the middle of an emoji
    events = record([data], interval=0.0)
    check_events(events, data)
    assert events[0].data == {"text": "done "}
