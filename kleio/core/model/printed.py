"""Output events: how bytes a script printed are journalled and read back.

Output is journalled as ``stdout``/``stderr`` events of at most :data:`CHUNK` bytes:
runs of valid UTF-8 as ``{"text": ...}``, other bytes as ``{"base64": ...}``, so nothing a
script prints can break the journal and valid text comes back byte for byte.
"""

from __future__ import annotations

from typing import Any

#: Bytes of output per journalled event at most.
CHUNK = 16 * 1024
#: Output events read per round trip: a page stays a few megabytes.
OUTPUT_PAGE = 256


def output_data(chunk: bytes) -> list[dict[str, str]]:
    """The event data of output bytes: runs of valid UTF-8 as ``{"text": ...}``, the
    bytes between them as ``{"base64": ...}``."""
    pieces = []
    while chunk:
        try:
            pieces.append({"text": chunk.decode("utf-8")})
            break
        except UnicodeDecodeError as error:
            if error.start:
                pieces.append({"text": chunk[: error.start].decode("utf-8")})
            import base64  # here: most output is text, and a run's start pays for imports

            pieces.append({"base64": base64.b64encode(chunk[error.start : error.end]).decode()})
            chunk = chunk[error.end :]
    return pieces


def output_bytes(data: dict[str, Any]) -> bytes:
    """The bytes an output event holds."""
    if "text" in data:
        return data["text"].encode("utf-8")
    import base64

    return base64.b64decode(data.get("base64", ""))
