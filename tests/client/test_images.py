"""``kleio_logger.log_image``: arrays, PIL images and PNG or JPEG files stored as image
artifacts, every bad image refused at the call, and the PNG encoder read back."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage

from kleio.client.images import MAX_PIXELS, encode_png
from kleio.client.logger import kleio_logger
from tests.conftest import write_script
from tests.helpers import text, trial_id_in


def read_png(data: bytes) -> tuple[int, int, int, bytes]:
    """Width, height, PNG colour type and pixels of an 8-bit PNG whose rows all use
    filter type 0, every chunk's CRC checked: the least reader that checks the encoder
    without trusting another encoder's reader."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, []
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        tag, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF, tag
        chunks.append((tag, body))
        at += 12 + length
    assert [tag for tag, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, *rest = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and rest == [0, 0, 0]
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[colour]
    raw = zlib.decompress(chunks[1][1])
    stride = width * channels + 1
    assert len(raw) == stride * height
    rows = [raw[row * stride : (row + 1) * stride] for row in range(height)]
    assert all(row[0] == 0 for row in rows)  # filter type 0
    return width, height, colour, b"".join(row[1:] for row in rows)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_the_encoder_writes_the_pixels_it_is_given(channels):
    width, height = 37, 150  # more rows than one compression call takes
    pixels = np.random.default_rng(channels).integers(0, 256, width * height * channels, np.uint8)
    png = encode_png(pixels.tobytes(), width, height, channels)
    assert read_png(png) == (width, height, {1: 0, 2: 4, 3: 2, 4: 6}[channels], pixels.tobytes())
    decoded = np.asarray(PILImage.open(io.BytesIO(png)))
    assert decoded.reshape(-1).tobytes() == pixels.tobytes()  # and PIL reads it the same


def _stored(image, **metadata):
    from kleio.client.images import prepare
    from kleio.client.logger import _bytes_of

    prepared = prepare(image, _bytes_of)
    return prepared, prepared.attributes(metadata), prepared.encode()


@pytest.mark.parametrize(
    ("array", "mode", "expected"),
    [
        (np.arange(35, dtype=np.uint8).reshape(5, 7), "L", None),
        (np.arange(105, dtype=np.uint8).reshape(5, 7, 3), "RGB", None),
        (np.arange(140, dtype=np.uint8).reshape(5, 7, 4), "RGBA", None),
        (np.arange(35, dtype=np.uint8).reshape(5, 7, 1), "L", lambda a: a[:, :, 0]),
        (np.eye(5, 7, dtype=bool), "L", lambda a: a.astype(np.uint8) * 255),
        (np.linspace(0, 1, 105).reshape(5, 7, 3), "RGB", lambda a: np.rint(a * 255)),
        (np.linspace(0, 1, 35, dtype=np.float32).reshape(5, 7), "L", lambda a: np.rint(a * 255)),
        # Fortran order, and a view with strides: as its values read, not as its memory.
        (np.asfortranarray(np.arange(105, dtype=np.uint8).reshape(5, 7, 3)), "RGB", None),
        (np.arange(420, dtype=np.uint8).reshape(10, 14, 3)[::2, ::2], "RGB", None),
    ],
)
def test_an_array_is_stored_as_a_png_of_its_pixels(array, mode, expected):
    prepared, attributes, png = _stored(array, step=3)
    assert attributes == {
        "step": 3,
        "kind": "image",
        "width": 7,
        "height": 5,
        "mode": mode,
        "format": "png",
    }
    width, height, _, pixels = read_png(png)
    want = (expected(array) if expected else array).astype(np.uint8)
    assert (width, height) == (7, 5)
    assert pixels == np.ascontiguousarray(want).tobytes()


def test_a_pil_image_is_stored_by_pil_and_a_mode_png_lacks_is_converted():
    picture = PILImage.new("RGB", (9, 4), (10, 20, 30))
    _, attributes, png = _stored(picture)
    assert (attributes["width"], attributes["height"], attributes["mode"]) == (9, 4, "RGB")
    assert PILImage.open(io.BytesIO(png)).getpixel((8, 3)) == (10, 20, 30)
    _, attributes, png = _stored(PILImage.new("CMYK", (3, 2)))
    assert attributes["mode"] == "RGB" and PILImage.open(io.BytesIO(png)).mode == "RGB"


def test_png_and_jpeg_files_are_stored_as_they_are(tmp_path):
    for kind, mode in (("PNG", "P"), ("JPEG", "RGB"), ("JPEG", "L")):
        path = tmp_path / f"picture.{kind.lower()}"
        PILImage.new(mode, (33, 21)).save(path, format=kind, progressive=kind == "JPEG")
        prepared, attributes, stored = _stored(path)
        assert stored == path.read_bytes()
        assert attributes == {
            "kind": "image",
            "width": 33,
            "height": 21,
            "mode": mode,
            "format": kind.lower(),
        }
        assert _stored(str(path))[2] == stored == _stored(path.read_bytes())[2]


#: The start of a PNG of 100,000 x 100,000 pixels: refused from its header.
HUGE_PNG_HEADER = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 10**5, 10**5) + b"\x08\x02\0\0\0"
)
#: Bad images and the start of what log_image says of each, at the call.
BAD = [
    (lambda p: np.zeros((4, 4, 2), np.uint8), ValueError, "log_image takes an array of shape"),
    (lambda p: np.zeros((2, 4, 4, 3), np.uint8), ValueError, "log_image takes an array of shape"),
    (lambda p: np.zeros((3, 32, 32)), ValueError, "log_image takes an array of shape HxW"),
    (lambda p: np.zeros(5, np.uint8), ValueError, "log_image takes an array of shape"),
    (lambda p: np.zeros((0, 5), np.uint8), ValueError, "log_image: the array is empty"),
    (lambda p: np.array([[0.5, np.nan]]), ValueError, "log_image: the float array holds NaN"),
    (lambda p: np.array([[0.5, np.inf]]), ValueError, "log_image: the float array holds inf"),
    (lambda p: np.array([[0.5, 255.0]]), ValueError, "log_image: a float array's values must"),
    (lambda p: np.array([[-0.1, 0.5]]), ValueError, "log_image: a float array's values must"),
    (lambda p: np.zeros((3, 3), np.int64), TypeError, "log_image takes arrays of uint8"),
    (lambda p: np.zeros((3, 3), np.complex64), TypeError, "log_image takes arrays of uint8"),
    (lambda p: [[0, 1], [1, 0]], TypeError, "log_image takes a PIL image, a NumPy array"),
    (lambda p: 3, TypeError, "log_image takes a PIL image, a NumPy array"),
    (
        lambda p: np.broadcast_to(np.uint8(0), (8000, 8000)),
        ValueError,
        f"log_image: the array of shape 8000x8000 has 8000x8000 = 64,000,000 pixels, more "
        f"than the {MAX_PIXELS:,}",
    ),
    (lambda p: PILImage.new("L", (0, 5)), ValueError, "log_image: the L image is empty"),
    (lambda p: PILImage.new("F", (2, 2)), ValueError, "log_image: a PIL image of mode F"),
    (lambda p: b"GIF89a\x01\x00\x01\x00", ValueError, "log_image: the bytes given is neither"),
    (lambda p: p("notes.png", b"just text"), ValueError, "log_image: "),
    (lambda p: p("cut.png", b"\x89PNG\r\n\x1a\n\x00"), ValueError, "log_image: "),
    (lambda p: p("cut.jpg", b"\xff\xd8\xff\xe0\x00"), ValueError, "log_image: "),
    (lambda p: p("huge.png", HUGE_PNG_HEADER), ValueError, "log_image: "),
]  # fmt: skip


@pytest.mark.parametrize(("make", "error", "message"), BAD)
def test_a_bad_image_is_refused_at_the_call_naming_the_problem(
    make, error, message, tmp_path, monkeypatch
):
    monkeypatch.delenv("KLEIO_TRIAL_ID", raising=False)

    def path(name: str, data: bytes) -> str:
        (tmp_path / name).write_bytes(data)
        return str(tmp_path / name)

    with pytest.raises(error) as raised:
        kleio_logger.log_image("picture", make(path), step=1)
    said = str(raised.value)
    assert said.startswith(message) and "\n" not in said, said
    assert kleio_logger._state is None  # refused before the logger even started


def test_metadata_the_image_records_itself_and_a_nameless_image_are_refused(monkeypatch):
    monkeypatch.delenv("KLEIO_TRIAL_ID", raising=False)
    image = np.zeros((2, 2), np.uint8)
    with pytest.raises(TypeError, match="log_image records 'width' itself"):
        kleio_logger.log_image("picture", image, width=3)
    with pytest.raises(TypeError, match="log_image needs a name"):
        kleio_logger.log_image("", image)
    with pytest.raises(TypeError, match="statistic 'when'"):
        kleio_logger.log_image("picture", image, when=object())


def test_a_file_that_is_not_a_regular_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("KLEIO_TRIAL_ID", raising=False)
    with pytest.raises(ValueError, match="is a folder"):
        kleio_logger.log_image("picture", tmp_path)


IMAGES = """\
import sys
import numpy as np
from kleio.client.logger import kleio_logger as log

for step in range(3):
    log.log_image("samples", np.full((4, 10 + step, 3), 40 * step, np.uint8), step=step)
log.log_image("mask", np.eye(3, 5, dtype=bool), epoch=1)
log.log_artifact("weights", b"not an image", epoch=1)
try:
    log.log_image("broken", np.full((2, 2), np.nan))
except ValueError as error:
    print("refused:", error)
"""


def test_logged_images_are_listed_by_kleio_artifacts_with_kind_image(kleio, project, journal):
    write_script(project, "draw.py", IMAGES)
    result = kleio("python", "draw.py")
    assert result.returncode == 0, text(result.stderr)
    assert (
        text(result.stdout)
        == "refused: log_image: the float array holds NaN; floats must be in [0, 1]\n"
    )
    trial = trial_id_in(result.stderr)
    listed = kleio("artifacts", trial[:7], "--format", "json")
    assert listed.returncode == 0, text(listed.stderr)
    rows = {
        (row["filename"], row["attributes"].get("step")): row for row in json.loads(listed.stdout)
    }
    assert set(rows) == {
        ("samples", 0),
        ("samples", 1),
        ("samples", 2),
        ("mask", None),
        ("weights", None),
    }
    assert rows["samples", 2]["attributes"] == {
        "step": 2,
        "kind": "image",
        "width": 12,
        "height": 4,
        "mode": "RGB",
        "format": "png",
    }
    assert rows["mask", None]["attributes"]["mode"] == "L"
    # Images are told apart by their metadata: kind=image.
    images = kleio("artifacts", trial[:7], "--where", "kind=image", "--format", "json")
    assert sorted(row["filename"] for row in json.loads(images.stdout)) == [
        "mask",
        "samples",
        "samples",
        "samples",
    ]
    table = text(kleio("artifacts", trial[:7]).stdout)
    assert 'step=2 kind="image" width=12 height=4 mode="RGB" format="png"' in table, table
    written = kleio("artifacts", "get", trial[:7], "samples", "--where", "step=1", "-o", "out")
    assert written.returncode == 0, text(written.stderr)
    width, height, _, pixels = read_png((project / "out" / "samples").read_bytes())
    assert (width, height) == (11, 4) and set(pixels) == {40}
    mask = read_png(next(a for a in _artifacts(journal, trial) if a[0] == "mask")[1])
    assert mask[3] == np.eye(3, 5, dtype=np.uint8).tobytes().replace(b"\x01", b"\xff")


def _artifacts(store, trial: str) -> list[tuple[str, bytes]]:
    return [
        (event.data["filename"], b"".join(store.read_blob(event.data["blob"])))
        for event in store.read_events(trial, ["artifact"])
    ]


def test_outside_kleio_an_image_is_checked_and_nothing_is_imported_or_kept(project, env, home):
    """Neither numpy nor PIL is imported for a file; nothing is written; the bad image
    is refused all the same."""
    (project / "picture.png").write_bytes(encode_png(b"\x00" * 12, 2, 2, 3))
    write_script(
        project,
        "outside.py",
        """\
        import sys
        import kleio
        from kleio.client.logger import kleio_logger as log
        kleio.log_image("picture", "picture.png", step=0)
        print(sorted({"numpy", "PIL"} & set(sys.modules)))
        try:
            log.log_image("text", b"plain text")
        except ValueError as error:
            print(error)
        """,
    )
    result = subprocess.run(
        [sys.executable, "outside.py"], cwd=project, env=env, capture_output=True, timeout=120
    )
    assert result.returncode == 0, text(result.stderr)
    assert text(result.stdout).splitlines() == [
        "[]",
        "log_image: the bytes given is neither a PNG nor a JPEG file (it starts with "
        "b'plain te'); pass an array or a PIL image for other formats",
    ]
    assert "images are not saved" in text(result.stderr)
    assert not home.exists()
