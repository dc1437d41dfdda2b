"""Kleio's own messages: on stderr, so the script's stdout stays pipeable."""

from __future__ import annotations

import sys


def notify(message: str, plain: bool = False) -> None:
    """``kleio: message`` on stderr; ``plain`` messages are printed as they are."""
    print(message if plain else f"kleio: {message}", file=sys.stderr, flush=True)
