"""Images a script logs with ``kleio_logger.log_image``: checked at the call, stored as
PNG (or as the JPEG file they were given).

An image is a PIL image, a NumPy array (``HxW`` grey, ``HxWx3`` RGB or ``HxWx4`` RGBA;
``uint8``, ``bool``, or floats in [0, 1]), or the bytes or path of a PNG or JPEG file
(told by its first bytes, never by its name). Neither PIL nor NumPy is imported unless
the image is one of theirs: the type's module says which it is. Arrays are encoded here
(zlib and struct: no dependency), PIL images by PIL, files are stored as they are.

Everything wrong with an image is found at the call, before anything is encoded, and
raised there: ``TypeError`` for what is no image at all (a list, an ``int64`` array),
``ValueError`` for an image that cannot be one (a shape, NaN or a value outside [0, 1],
nothing in it, a file that is neither PNG nor JPEG, more than :data:`MAX_PIXELS`).

The artifact's metadata say what it is: ``kind: "image"`` (how ``kleio artifacts`` and
the dashboard tell images from other files), ``width``, ``height``, ``mode`` (``L``,
``RGB``, ``RGBA``...: PIL's names) and ``format`` (``png`` or ``jpeg``), beside the
script's own (``step``, ``epoch``...).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Any

#: The metadata value that marks an image.
KIND = "image"
#: Metadata the image's own description takes: the script cannot give these.
RESERVED = ("kind", "width", "height", "mode", "format")
#: Pixels an image may have at most: 50 megapixels (a 7071 x 7071 square) is 200 MB of
#: RGBA to encode; past it an image is a mistake (a batch taken for one image) or data
#: better stored with log_artifact.
MAX_PIXELS = 50_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
#: PNG's colour type of each number of channels (grey, grey and alpha, RGB, RGBA).
_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}
_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
#: PIL's modes a PNG holds as they are; others are converted (CMYK to RGB...).
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}
#: zlib's level for arrays: its default, 6. A 512x512 RGB gradient takes 254 KB in 14 ms
#: at 6, 322 KB in 12 ms at 1; random pixels do not compress at any level.
_LEVEL = 6
#: Rows compressed per call: large enough to cost nothing per row, small enough to
#: hold one copy of a few MB at a time, not of the whole image.
_ROWS_PER_CALL = 64


class Image:
    """An image checked at the call: its size and mode, and how to get its stored bytes
    (``encode()``, done only where the image is stored: outside Kleio nothing is)."""

    def __init__(self, width: int, height: int, mode: str, format: str, encode: Callable):
        self.width, self.height, self.mode, self.format = width, height, mode, format
        self.encode: Callable[[], bytes] = encode

    def attributes(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """The artifact's metadata: the script's, then the image's description."""
        taken = [key for key in RESERVED if key in metadata]
        if taken:
            raise TypeError(
                f"log_image records {', '.join(map(repr, taken))} itself: give your "
                "metadata another name"
            )
        return {
            **metadata,
            "kind": KIND,
            "width": self.width,
            "height": self.height,
            "mode": self.mode,
            "format": self.format,
        }


def prepare(image: Any, read_file: Callable[[Any], bytes]) -> Image:
    """``image`` checked (see the module documentation); ``read_file`` reads a path's
    bytes (the logger's, which refuses FIFOs and devices)."""
    import os

    if isinstance(image, (bytes, bytearray, memoryview)):
        return _from_file(bytes(image), "the bytes given")
    if isinstance(image, (str, os.PathLike)):
        return _from_file(read_file(image), os.fspath(image))
    module = (getattr(type(image), "__module__", "") or "").split(".")[0]
    if module == "numpy" and hasattr(image, "shape") and hasattr(image, "dtype"):
        return _from_array(image)
    if module == "PIL" and hasattr(image, "mode") and hasattr(image, "size"):
        return _from_pil(image)
    hint = (
        ": pass tensor.detach().cpu().numpy(), channels last (HxWxC)"
        if module in ("torch", "tensorflow", "jax", "jaxlib")
        else ""
    )
    raise TypeError(
        "log_image takes a PIL image, a NumPy array (HxW, HxWx3 or HxWx4) or the path or "
        f"bytes of a PNG or JPEG file, not {type(image).__name__}{hint}"
    )


def _check_size(width: int, height: int, what: str) -> None:
    if width <= 0 or height <= 0:
        raise ValueError(f"log_image: {what} is empty ({width}x{height} pixels)")
    if width * height > MAX_PIXELS:
        raise ValueError(
            f"log_image: {what} has {width}x{height} = {width * height:,} pixels, more than "
            f"the {MAX_PIXELS:,} an image may have; make it smaller, or store it with "
            "log_artifact"
        )


# -- NumPy arrays ----------------------------------------------------------------------
def _from_array(array: Any) -> Image:
    shape = "x".join(str(n) for n in array.shape) or "a 0-d array"
    if array.size == 0:
        raise ValueError(f"log_image: the array is empty (shape {shape})")
    if array.ndim == 3 and array.shape[2] == 1:  # channels last, one channel: grey
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        hint = (
            "; a CxHxW array needs .transpose(1, 2, 0)"
            if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] > 4
            else "; log a batch one image at a time"
            if array.ndim == 4
            else ""
        )
        raise ValueError(
            f"log_image takes an array of shape HxW (grey), HxWx3 (RGB) or HxWx4 (RGBA), "
            f"not {shape}{hint}"
        )
    height, width = array.shape[:2]
    _check_size(width, height, f"the array of shape {shape}")
    kind = array.dtype.kind
    if kind == "f":
        _check_unit_range(array)
    elif not (kind == "b" or array.dtype.name == "uint8"):
        raise TypeError(
            f"log_image takes arrays of uint8 (0 to 255), bool, or floats in [0, 1], not "
            f"{array.dtype.name}: convert it, e.g. array.astype(numpy.uint8)"
        )
    channels = 1 if array.ndim == 2 else array.shape[2]
    return Image(width, height, _MODES[channels], "png", lambda: _encode_array(array))


def _check_unit_range(array: Any) -> None:
    import numpy

    finite = numpy.isfinite(array)
    if not finite.all():
        bad = array[~finite]
        what = "NaN" if numpy.isnan(bad).any() else "infinite values"
        raise ValueError(f"log_image: the float array holds {what}; floats must be in [0, 1]")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 1:
        raise ValueError(
            f"log_image: a float array's values must be in [0, 1], these go from {low:g} to "
            f"{high:g}: divide by 255 if they are 0-255, or pass uint8"
        )


def _encode_array(array: Any) -> bytes:
    import numpy

    if array.dtype.kind == "f":
        array = numpy.rint(array * 255).astype(numpy.uint8)
    elif array.dtype.kind == "b":
        array = array.astype(numpy.uint8) * 255
    array = numpy.ascontiguousarray(array, dtype=numpy.uint8)
    height, width = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    return encode_png(memoryview(array).cast("B"), width, height, channels)


# -- PNG -------------------------------------------------------------------------------
def _chunk(tag: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(tag)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)


def encode_png(pixels: bytes | memoryview, width: int, height: int, channels: int) -> bytes:
    """A PNG of 8-bit pixels given row by row (``channels`` bytes each: 1 grey, 2 grey
    and alpha, 3 RGB, 4 RGBA), each row filtered with type 0 (none), as the
    specification's simplest encoder does; zlib at level :data:`_LEVEL`."""
    stride = width * channels
    if len(pixels) != stride * height or channels not in _COLOUR_TYPES:
        raise ValueError(f"{len(pixels)} bytes are no {width}x{height}x{channels} image")
    view = memoryview(pixels)
    compressor = zlib.compressobj(_LEVEL)
    parts = []
    for first in range(0, height, _ROWS_PER_CALL):
        rows = range(first, min(first + _ROWS_PER_CALL, height))
        block = b"".join(b"\x00" + view[row * stride : (row + 1) * stride] for row in rows)
        parts.append(compressor.compress(block))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    return b"".join(
        (
            PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", b"".join(parts)),
            _chunk(b"IEND", b""),
        )
    )


# -- PIL images ------------------------------------------------------------------------
def _from_pil(image: Any) -> Image:
    width, height = image.size
    _check_size(width, height, f"the {image.mode} image")
    mode = image.mode
    if mode not in _PNG_MODES:
        if mode in ("F", "I;16B", "I;16L", "I;16N"):
            raise ValueError(
                f"log_image: a PIL image of mode {mode} has no 8-bit form to show: convert "
                "it (image.convert('L')), or pass a float array in [0, 1]"
            )
        target = "RGBA" if "A" in mode or "a" in mode else "RGB"
        try:
            image = image.convert(target)
        except ValueError as error:
            raise ValueError(f"log_image: a PIL image of mode {mode}: {error}") from None
        mode = target

    def encode() -> bytes:
        import io

        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    return Image(width, height, mode, "png", encode)


# -- PNG and JPEG files ----------------------------------------------------------------
def _from_file(data: bytes, where: str) -> Image:
    if data.startswith(PNG_SIGNATURE):
        width, height, mode = _png_header(data, where)
        kind = "png"
    elif data.startswith(JPEG_SIGNATURE):
        width, height, mode = _jpeg_header(data, where)
        kind = "jpeg"
    else:
        raise ValueError(
            f"log_image: {where} is neither a PNG nor a JPEG file (it starts with "
            f"{bytes(data[:8])!r}); pass an array or a PIL image for other formats"
        )
    _check_size(width, height, where)
    return Image(width, height, mode, kind, lambda: data)


def _png_header(data: bytes, where: str) -> tuple[int, int, str]:
    """Width, height and mode from the IHDR chunk, which a PNG starts with."""
    if len(data) < 29 or data[12:16] != b"IHDR":
        raise ValueError(f"log_image: {where} is a damaged PNG file (no IHDR chunk first)")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    modes = {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}
    if colour not in modes:
        raise ValueError(f"log_image: {where} is a damaged PNG file (colour type {colour})")
    mode = modes[colour]
    if colour == 0 and depth == 1:
        mode = "1"
    elif colour == 0 and depth == 16:
        mode = "I;16"
    return width, height, mode


#: JPEG's start-of-frame markers (0xC0 to 0xCF but DHT, JPG and DAC), which hold the size.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_header(data: bytes, where: str) -> tuple[int, int, str]:
    """Width, height and mode from the first start-of-frame segment."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            break
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # no length
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # the end, or the scan, before any frame
            break
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _SOF:
            if at + 10 > len(data):
                break
            _, height, width, components = struct.unpack(">BHHB", data[at + 4 : at + 10])
            mode = {1: "L", 3: "RGB", 4: "CMYK"}.get(components, f"{components} components")
            return width, height, mode
        at += 2 + length
    raise ValueError(f"log_image: {where} is a damaged JPEG file (no frame header)")
