"""Keras 3's callback for Kleio (``pip install 'kleio[keras]'``), on any backend.

.. code:: python

    from kleio.integrations.keras import KleioCallback

    model.fit(x, y, epochs=10, callbacks=[KleioCallback()])

- The configuration: ``{"fit": {"epochs", "steps", "verbose"}, "optimizer": its
  get_config()}`` (what is not JSON left out), the configuration of the trial the
  callback opens, or the artifact ``configuration.json`` of a trial open already
  (:mod:`kleio.integrations.trials`).
- At the end of each epoch, its metrics (``loss``, ``val_loss``...) as a statistic with
  ``epoch`` (Keras' count, from 0) and ``step`` (batches trained since the fit began).
- After each batch, unless ``batches=False``, the running metrics Keras reports, named
  ``batch_loss``..., with ``epoch`` and the same ``step``: batch and epoch statistics
  never share a key (``kleio plot loss`` plots the epochs).
- A trial the callback opened ends with the fit: completed at its end, broken by an
  exception nobody caught, interrupted on Ctrl-C. A trial open already (``kleio python
  train.py``) is left to whoever opened it.
"""

from __future__ import annotations

from typing import Any

from kleio.integrations import KERAS, missing
from kleio.integrations.trials import FrameworkTrial, plain_mapping

try:
    from keras.callbacks import Callback
except ImportError as error:
    raise missing(KERAS, error, "keras") from None

__all__ = ["KleioCallback"]


class KleioCallback(Callback):
    """``model.fit(..., callbacks=[KleioCallback()])`` (see the module).

    ``batches``: record each batch's metrics too. ``config``, ``project``, ``tags``,
    ``name`` and ``resume`` are ``kleio.start``'s, for a trial the callback opens;
    ``config`` is merged under the fit's configuration.
    """

    def __init__(
        self,
        *,
        batches: bool = True,
        config: dict[str, Any] | None = None,
        project: str | None = None,
        tags: Any = (),
        name: str | None = None,
        resume: bool = True,
    ) -> None:
        super().__init__()
        self.trial = FrameworkTrial(
            "keras", config=config, project=project, tags=tags, name=name, resume=resume
        )
        self._batches = batches
        self._step = 0
        self._epoch = 0

    def on_train_begin(self, logs: Any = None) -> None:
        self._step = 0
        configuration: dict[str, Any] = {"fit": plain_mapping(self.params or {})}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "get_config"):
            configuration["optimizer"] = plain_mapping(optimizer.get_config())
        self.trial.begin(configuration)

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self._step += 1
        if self._batches and logs:
            values = {f"batch_{key}": value for key, value in logs.items()}
            self.trial.statistic({**values, "epoch": self._epoch, "step": self._step})

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.trial.statistic({**(logs or {}), "epoch": epoch, "step": self._step})

    def on_train_end(self, logs: Any = None) -> None:
        self.trial.end()
