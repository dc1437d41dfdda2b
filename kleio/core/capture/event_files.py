"""The scalars of a TensorBoard event file (``events.out.tfevents.*``), read without
TensorBoard, TensorFlow or protobuf.

An event file is a sequence of TFRecords, each::

    uint64 length | uint32 masked CRC-32C of length | data | uint32 masked CRC-32C of data

(little-endian), whose data is a serialised ``tensorflow.Event`` protobuf. Of it, Kleio
reads ``wall_time`` (1, double), ``step`` (2, int64) and ``summary`` (5): each of its
values (1) has a ``tag`` (1) and either a ``simple_value`` (2, float: what TF 1, PyTorch
and tensorboardX write) or a ``tensor`` (8) whose ``metadata`` (9) names the plugin
``scalars`` or the data class scalar (what TF 2 and ``add_scalar(new_style=True)``
write). Images, histograms, audio and other tensors are skipped, and counted.

Why a reader of our own: the ``tensorboard`` package weighs some 30 MB with protobuf,
grpcio and numpy, for a format of two layers that take 200 lines to read, and its
reader gives up on a damaged file without saying where. This one checks what it keeps:
the CRC of every length (a bad length would misread the rest of the file) and of the
data of every record whose scalars it keeps (8 MB/s in pure Python; records of images
are not checked: their bytes are not kept, and an image file of 500 MB takes a minute
to check). A file damaged or cut short stops at the damage: what came before is kept,
and :attr:`EventFile.damage` says where.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from typing import NamedTuple

#: The beginning of an event file's name, for every writer (TF, PyTorch, tensorboardX).
PREFIX = "events.out.tfevents."


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE: list[int] = []


def crc32c(data: bytes | memoryview) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TFRecord uses it."""
    if not _TABLE:
        _TABLE.extend(_crc_table())
    table, crc = _TABLE, 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes | memoryview) -> int:
    """The CRC TFRecord stores: rotated right by 15 bits, plus a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class Record(NamedTuple):
    """The scalars of one event: ``values`` by tag, at ``step`` and ``wall_time``;
    ``offset`` is where the record starts in its file (its identity there)."""

    offset: int
    wall_time: float
    step: int
    values: dict[str, float]


class _Malformed(Exception):
    """Data that is no protobuf message of the expected shape."""


# -- protobuf wire format -----------------------------------------------------------------
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def _varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise _Malformed("a varint runs past the end")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise _Malformed("a varint longer than 10 bytes")


def _fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """``(field number, wire type, value)`` of a message: an int for a varint, the bytes
    for the others."""
    at, end = 0, len(data)
    while at < end:
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, at = _varint(data, at)
            yield number, wire, value
            continue
        if wire == _BYTES:
            size, at = _varint(data, at)
        elif wire == _FIXED64:
            size = 8
        elif wire == _FIXED32:
            size = 4
        else:  # groups (3, 4) are long gone from TensorFlow's protos; 6 and 7 do not exist
            raise _Malformed(f"wire type {wire}")
        if at + size > end:
            raise _Malformed("a field runs past the end")
        yield number, wire, data[at : at + size]
        at += size


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _float32(raw: bytes | memoryview) -> float:
    """A float32 as the shortest decimal that reads back as it (0.1, not
    0.10000000149011612): what was written, as the writer's user wrote it."""
    (value,) = struct.unpack("<f", raw)
    if not math.isfinite(value):
        return value
    for digits in range(6, 10):
        text = float(f"{value:.{digits}g}")
        if struct.pack("<f", text) == bytes(raw):
            return text
    return value  # pragma: no cover - 9 digits always suffice


def _half(bits: int) -> float:
    return struct.unpack("<e", struct.pack("<H", bits & 0xFFFF))[0]


def _bfloat16(bits: int) -> float:
    return _float32(struct.pack("<I", (bits & 0xFFFF) << 16))


# TensorProto's dtypes (tensorflow/core/framework/types.proto) that hold a number, as
# (size in tensor_content, decoder of those bytes, field of the typed values, its kind).
_FLOAT, _DOUBLE, _INT32, _UINT8, _INT16, _INT8, _INT64, _BOOL = 1, 2, 3, 4, 5, 6, 9, 10
_BF16, _HALF, _UINT32, _UINT64 = 14, 19, 22, 23
_DTYPES = {
    _FLOAT: (4, _float32, 5, _FIXED32),
    _DOUBLE: (8, lambda raw: struct.unpack("<d", raw)[0], 6, _FIXED64),
    _HALF: (2, lambda raw: _half(int.from_bytes(raw, "little")), 13, _VARINT),
    _BF16: (2, lambda raw: _bfloat16(int.from_bytes(raw, "little")), 13, _VARINT),
    _INT32: (4, lambda raw: int.from_bytes(raw, "little", signed=True), 7, _VARINT),
    _INT16: (2, lambda raw: int.from_bytes(raw, "little", signed=True), 7, _VARINT),
    _INT8: (1, lambda raw: int.from_bytes(raw, "little", signed=True), 7, _VARINT),
    _UINT8: (1, lambda raw: int.from_bytes(raw, "little"), 7, _VARINT),
    _INT64: (8, lambda raw: int.from_bytes(raw, "little", signed=True), 10, _VARINT),
    _UINT32: (4, lambda raw: int.from_bytes(raw, "little"), 16, _VARINT),
    _UINT64: (8, lambda raw: int.from_bytes(raw, "little"), 17, _VARINT),
    _BOOL: (1, lambda raw: int.from_bytes(raw, "little"), 11, _VARINT),
}


def _typed(dtype: int, value: int | memoryview) -> float:
    """One value of a typed field (``float_val``, ``int_val``...) as a number."""
    if isinstance(value, memoryview):  # a float or a double
        return _float32(value) if dtype == _FLOAT else struct.unpack("<d", value)[0]
    if dtype == _HALF:
        return _half(value)
    if dtype == _BF16:
        return _bfloat16(value)
    if dtype in (_INT32, _INT16, _INT8, _INT64):
        return _signed(value)
    return value


def _tensor_scalar(data: memoryview) -> float | None:
    """The one number a TensorProto holds, or None (not a number, or not one)."""
    dtype, content, values = 0, None, []
    for number, wire, value in _fields(data):
        if number == 1 and wire == _VARINT:
            dtype = value
        elif number == 4 and wire == _BYTES:
            content = value
        elif number in (5, 6, 7, 10, 11, 13, 16, 17):
            values.append((number, wire, value))
    shape = _DTYPES.get(dtype)  # type: ignore[call-overload]
    if shape is None:
        return None
    size, decode, field, kind = shape
    if content is not None and len(content):  # type: ignore[arg-type]
        return decode(content) if len(content) == size else None  # type: ignore[arg-type]
    numbers: list[float] = []
    for number, wire, value in values:
        if number != field:
            continue
        if wire == kind:  # one value
            numbers.append(_typed(dtype, value))
        elif wire == _BYTES:  # packed
            numbers.extend(_packed(dtype, kind, value))  # type: ignore[arg-type]
    return numbers[0] if len(numbers) == 1 else None


def _packed(dtype: int, kind: int, data: memoryview) -> list[float]:
    if kind == _FIXED32:
        return [_typed(dtype, data[at : at + 4]) for at in range(0, len(data) - 3, 4)]
    if kind == _FIXED64:
        return [_typed(dtype, data[at : at + 8]) for at in range(0, len(data) - 7, 8)]
    numbers, at = [], 0
    while at < len(data):
        value, at = _varint(data, at)
        numbers.append(_typed(dtype, value))
    return numbers


#: Summary.Value's fields of the kinds that are no scalars, as a message names them.
_KINDS = {3: "histogram", 4: "image", 5: "histogram", 6: "audio"}
#: SummaryMetadata.DataClass of a scalar.
_DATA_CLASS_SCALAR = 1


def _plugin(metadata: memoryview) -> tuple[str, int]:
    """(plugin name, data class) of a SummaryMetadata."""
    name, data_class = "", 0
    for number, wire, value in _fields(metadata):
        if number == 1 and wire == _BYTES:  # plugin_data
            for inner, inner_wire, inner_value in _fields(value):  # type: ignore[arg-type]
                if inner == 1 and inner_wire == _BYTES:
                    name = bytes(inner_value).decode("utf-8", "replace")  # type: ignore[arg-type]
        elif number == 4 and wire == _VARINT:
            data_class = value  # type: ignore[assignment]
    return name, data_class


def _value(data: memoryview) -> tuple[str, float | None, str]:
    """(tag, scalar or None, what it is when it is no scalar) of a Summary.Value."""
    tag, simple, tensor, metadata, kind = "", None, None, None, "summary"
    for number, wire, value in _fields(data):
        if number == 1 and wire == _BYTES:
            tag = bytes(value).decode("utf-8", "replace")  # type: ignore[arg-type]
        elif number == 2 and wire == _FIXED32:
            simple = _float32(value)  # type: ignore[arg-type]
        elif number == 8 and wire == _BYTES:
            tensor = value
        elif number == 9 and wire == _BYTES:
            metadata = value
        elif number in _KINDS:
            kind = _KINDS[number]
    if simple is not None:
        return tag, simple, ""
    if tensor is not None:
        plugin, data_class = _plugin(metadata) if metadata is not None else ("", 0)  # type: ignore[arg-type]
        if plugin == "scalars" or data_class == _DATA_CLASS_SCALAR:
            number = _tensor_scalar(tensor)  # type: ignore[arg-type]
            if number is not None:
                return tag, number, ""
        kind = plugin.rstrip("s") if plugin else "tensor"
    return tag, None, kind


def _event(data: memoryview) -> tuple[float, int, dict[str, float], list[str]]:
    """(wall_time, step, scalars by tag, kinds of the values skipped) of an Event."""
    wall_time, step, values, skipped = 0.0, 0, {}, []
    for number, wire, value in _fields(data):
        if number == 1 and wire == _FIXED64:
            wall_time = struct.unpack("<d", value)[0]
        elif number == 2 and wire == _VARINT:
            step = _signed(value)  # type: ignore[arg-type]
        elif number == 5 and wire == _BYTES:
            for inner, inner_wire, inner_value in _fields(value):  # type: ignore[arg-type]
                if inner == 1 and inner_wire == _BYTES:
                    tag, scalar, kind = _value(inner_value)  # type: ignore[arg-type]
                    if scalar is None:
                        skipped.append(kind)
                    else:
                        values[tag] = scalar
    return wall_time, step, values, skipped


# -- the file -----------------------------------------------------------------------------
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


class EventFile:
    """The scalars of one event file, read once by :meth:`records`; after it,
    :attr:`skipped` counts the values that were no scalars by kind, :attr:`damage` says
    where and how the file is damaged or cut short (None: read whole) and
    :attr:`records_read` how many records came before."""

    def __init__(self, path: str):
        self.path = path
        self.skipped: dict[str, int] = {}
        self.damage: str | None = None
        self.records_read = 0
        #: The bytes of the first record (a writer's ``file_version``, timed to the
        #: microsecond): with the file's name, what tells this file from any other
        #: wherever it is moved, and never changes as the file grows.
        self.first_record = b""

    def records(self) -> Iterator[Record]:
        """The events that hold scalars, in the file's order; reading stops at the first
        damage (see :attr:`damage`)."""
        with open(self.path, "rb") as stream:
            size = _size(stream)
            offset = 0
            while True:
                header = stream.read(_HEADER.size)
                if not header:
                    return
                if len(header) < _HEADER.size:
                    self._damaged(offset, "cut short inside a record's header")
                    return
                length, length_crc = _HEADER.unpack(header)
                if masked_crc(header[:8]) != length_crc:
                    self._damaged(offset, "the CRC of a record's length does not match")
                    return
                if offset + _HEADER.size + length + _FOOTER.size > size:
                    self._damaged(offset, f"cut short inside a record of {length} bytes")
                    return
                data = memoryview(stream.read(length))
                footer = stream.read(_FOOTER.size)
                if len(data) < length or len(footer) < _FOOTER.size:  # shrank meanwhile
                    self._damaged(offset, f"cut short inside a record of {length} bytes")
                    return
                (data_crc,) = _FOOTER.unpack(footer)
                try:
                    wall_time, step, values, skipped = _event(data)
                except _Malformed as error:
                    problem = f"a record is no TensorBoard event ({error})"
                    if masked_crc(data) != data_crc:
                        problem = "the CRC of a record's data does not match"
                    self._damaged(offset, problem)
                    return
                if values and masked_crc(data) != data_crc:
                    self._damaged(offset, "the CRC of a record's data does not match")
                    return
                if not offset:
                    self.first_record = header + bytes(data) + footer
                for kind in skipped:
                    self.skipped[kind] = self.skipped.get(kind, 0) + 1
                if values:
                    yield Record(offset, wall_time, step, values)
                self.records_read += 1
                offset += _HEADER.size + length + _FOOTER.size

    def _damaged(self, offset: int, problem: str) -> None:
        self.damage = f"{problem} at byte {offset} (record {self.records_read + 1})"


def _size(stream) -> int:
    import os

    return os.fstat(stream.fileno()).st_size
