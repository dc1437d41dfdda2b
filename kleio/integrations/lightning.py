"""PyTorch Lightning's logger for Kleio (``pip install 'kleio[lightning]'``).

.. code:: python

    from kleio.integrations.lightning import KleioLogger

    trainer = lightning.Trainer(logger=KleioLogger(), max_epochs=10)
    trainer.fit(model, data)

- Hyperparameters (``save_hyperparameters()``, a data module's too) are the configuration
  of the trial the logger opens, or the artifact ``configuration.json`` of a trial open
  already (:mod:`kleio.integrations.trials`).
- Metrics are statistics with their ``step`` (the trainer's global step): what
  ``self.log`` gives, ``epoch`` included.
- With ``log_model=True``, each checkpoint a ``ModelCheckpoint`` saves is an artifact,
  named as its file, with ``step`` and ``epoch``.
- A trial the logger opened ends with the fit: completed, broken when it raised,
  interrupted on Ctrl-C. A trial open already (``kleio python train.py``) is left to
  whoever opened it.

Works with ``lightning`` and with ``pytorch_lightning``: the logger derives from the
``Logger`` of whichever is installed (``lightning`` first); each trainer takes the
other's loggers too. Only the process of global rank 0 writes.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from kleio.integrations import LIGHTNING, missing
from kleio.integrations.trials import FrameworkTrial, plain_mapping

try:
    from lightning.pytorch.loggers.logger import Logger
    from lightning.pytorch.utilities import rank_zero_only
except ImportError as error:
    try:
        from pytorch_lightning.loggers.logger import Logger
        from pytorch_lightning.utilities import rank_zero_only
    except ImportError:
        raise missing(LIGHTNING, error, "lightning") from None

__all__ = ["KleioLogger"]


class KleioLogger(Logger):
    """Lightning's ``logger=``: the trainer's hyperparameters, metrics and checkpoints
    in a Kleio trial (see the module).

    ``config``, ``project``, ``tags``, ``name`` and ``resume`` are ``kleio.start``'s, for
    a trial the logger opens; ``config`` is merged under the hyperparameters.
    ``save_dir``: where ``ModelCheckpoint`` saves by default (the trainer's
    ``default_root_dir`` when None), under ``kleio-logs/TRIAL_ID/checkpoints``.
    """

    def __init__(
        self,
        *,
        log_model: bool = False,
        save_dir: str | os.PathLike | None = None,
        config: dict[str, Any] | None = None,
        project: str | None = None,
        tags: Any = (),
        name: str | None = None,
        resume: bool = True,
    ) -> None:
        super().__init__()
        self._trial = FrameworkTrial(
            "lightning", config=config, project=project, tags=tags, name=name, resume=resume
        )
        self._log_model = log_model
        self._save_dir = None if save_dir is None else os.fspath(save_dir)

    @property
    def name(self) -> str:
        return "kleio-logs"  # not "kleio": a folder a script could import as kleio

    @property
    def version(self) -> str:
        """The trial's id once known ("" before: nothing is opened to answer)."""
        return self._trial.id or ""

    @property
    def save_dir(self) -> str | None:
        return self._save_dir

    @property
    def trial(self) -> FrameworkTrial:
        """The trial this logger writes into."""
        return self._trial

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        if not isinstance(params, dict):  # an argparse.Namespace
            params = vars(params)
        self._trial.begin(plain_mapping(params))

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        values = dict(metrics)
        if step is not None:
            values["step"] = step
        self._trial.statistic(values)

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        if not self._log_model:
            return
        path = getattr(checkpoint_callback, "_last_checkpoint_saved", "") or (
            checkpoint_callback.last_model_path or checkpoint_callback.best_model_path
        )
        if not path or not os.path.isfile(path):
            return
        state = _saved_state(path)
        step = getattr(checkpoint_callback, "_last_global_step_saved", None)
        if isinstance(step, int):
            state["step"] = step
        self._trial.artifact(os.path.basename(path), path, **state)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """``success``: the trial this logger opened is completed; ``failed``: broken,
        by the exception being handled (Lightning calls this in its ``except``), or
        interrupted when it is Ctrl-C."""
        if status == "success":
            self._trial.end()
        else:
            self._trial.end(error=sys.exc_info()[1] or RuntimeError(f"the fit {status}"))


def _saved_state(path: str) -> dict[str, Any]:
    """The ``step`` and ``epoch`` of the checkpoint file at ``path``, by its name
    (Lightning's default ``epoch=E-step=S.ckpt``); nothing when the name says nothing."""
    import re

    found = re.findall(r"(epoch|step)=(\d+)", os.path.basename(path))
    return {key: int(value) for key, value in found}
