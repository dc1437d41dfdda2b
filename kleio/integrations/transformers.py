"""Hugging Face Transformers' callback for Kleio (``pip install 'kleio[transformers]'``).

.. code:: python

    from kleio.integrations.transformers import KleioCallback

    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[KleioCallback()])
    trainer.train()

- The configuration: ``{"args": TrainingArguments.to_dict(), "model": model.config.to_dict()}``
  (what is not JSON left out), the configuration of the trial the callback opens, or the
  artifact ``configuration.json`` of a trial open already
  (:mod:`kleio.integrations.trials`).
- What the trainer logs (``loss``, ``learning_rate``, ``grad_norm``, the evaluation's
  ``eval_*``, the final ``train_*``) are statistics with ``step`` (the global step) and
  ``epoch`` (fractional, as the trainer counts it); an evaluation the trainer did not log
  is recorded when it ends.
- With ``artifacts=True``, each checkpoint the trainer saves is artifacts, one per file
  of its folder, named ``checkpoint-STEP/FILE``, with ``step`` and ``epoch``.
- A trial the callback opened ends with the training: completed at its end, broken by
  an exception nobody caught, interrupted on Ctrl-C. A trial open already (``kleio
  python train.py``) is left to whoever opened it.

Under distributed training only the main process (``state.is_world_process_zero``)
writes.
"""

from __future__ import annotations

import os
from typing import Any

from kleio.integrations import TRANSFORMERS, missing
from kleio.integrations.trials import FrameworkTrial, plain_mapping

try:
    from transformers import TrainerCallback
except ImportError as error:
    raise missing(TRANSFORMERS, error, "transformers") from None

__all__ = ["KleioCallback"]


class KleioCallback(TrainerCallback):
    """The trainer's ``callbacks=[KleioCallback()]`` (see the module).

    ``config``, ``project``, ``tags``, ``name`` and ``resume`` are ``kleio.start``'s, for
    a trial the callback opens; ``config`` is merged under the trainer's configuration.
    """

    def __init__(
        self,
        *,
        artifacts: bool = False,
        config: dict[str, Any] | None = None,
        project: str | None = None,
        tags: Any = (),
        name: str | None = None,
        resume: bool = True,
    ) -> None:
        self.trial = FrameworkTrial(
            "transformers", config=config, project=project, tags=tags, name=name, resume=resume
        )
        self._artifacts = artifacts
        self._logged: dict[str, Any] | None = None  # what on_log recorded last

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any):
        if not state.is_world_process_zero:
            return
        configuration = {"args": plain_mapping(args.to_dict())}
        model_config = getattr(model, "config", None)
        if model_config is not None and hasattr(model_config, "to_dict"):
            configuration["model"] = plain_mapping(model_config.to_dict())
        self.trial.begin(configuration)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any):
        if not state.is_world_process_zero or not logs:
            return
        self._logged = dict(logs)
        self.trial.statistic(_at(state, logs))

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any):
        # Trainer.evaluate logs its metrics (on_log) before it calls this: once is enough.
        if not state.is_world_process_zero or not metrics or metrics == self._logged:
            return
        self.trial.statistic(_at(state, metrics))

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any):
        if not self._artifacts or not state.is_world_process_zero:
            return
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if not os.path.isdir(folder):
            return
        for root, _, files in os.walk(folder):
            for file in sorted(files):
                path = os.path.join(root, file)
                name = os.path.relpath(path, args.output_dir).replace(os.sep, "/")
                self.trial.artifact(name, path, step=state.global_step, epoch=state.epoch)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any):
        if state.is_world_process_zero:
            self.trial.end()


def _at(state: Any, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the trainer's global ``step`` and ``epoch``."""
    epoch = values.get("epoch", state.epoch)
    return {**values, "step": state.global_step, "epoch": epoch}
