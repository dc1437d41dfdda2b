"""Kleio seen from other frameworks: one module per framework, each importing its
framework only when it is itself imported (never on the start-up path of a run), and
speaking to Kleio through the client, the core and the store's contract.

May import ``kleio.client``, ``kleio.core`` and ``kleio.store``; only the command line
imports it.
"""

from __future__ import annotations

from kleio.core.model.errors import KleioError

#: What each framework's absence stops, in its one-line error.
OPTUNA = "adaptive studies need Optuna 4.0 or later"
LIGHTNING = "kleio.integrations.lightning needs PyTorch Lightning 2 or later"
TRANSFORMERS = "kleio.integrations.transformers needs Transformers 4.40 or later"
KERAS = "kleio.integrations.keras needs Keras 3 or later"


def missing(what: str, error: ImportError, extra: str) -> KleioError:
    """The one-line error of a framework not installed: ``what`` needs it, and
    ``pip install 'kleio[EXTRA]'`` installs it."""
    return KleioError(f"{what} ({error}): pip install 'kleio[{extra}]'")
