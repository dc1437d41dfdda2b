import os
import sys

import torch
from common import FAIL_AT, keep
from torch.utils.data import DataLoader, TensorDataset

if os.environ.get("FLAVOUR") == "pytorch_lightning":
    import pytorch_lightning as L
    from pytorch_lightning.loggers.logger import Logger
else:
    import lightning as L
    from lightning.pytorch.loggers.logger import Logger

from kleio.integrations.lightning import KleioLogger


class Model(L.LightningModule):
    def __init__(self, lr=0.1, hidden=4):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, hidden), torch.nn.Linear(hidden, 1))

    def training_step(self, batch, index):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        if FAIL_AT is not None and self.global_step == FAIL_AT:
            raise RuntimeError("diverged")
        return loss

    def validation_step(self, batch, index):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class Twin(Logger):
    name, version = "twin", "0"

    def log_hyperparams(self, params, *args, **kwargs):
        pass

    def log_metrics(self, metrics, step=None):
        keep(step, metrics)


torch.manual_seed(0)
data = TensorDataset(torch.randn(8, 3), torch.randn(8, 1))
logger = KleioLogger(log_model=True, tags=["tiny"])
trainer = L.Trainer(
    max_epochs=2,
    logger=[logger, Twin()],
    log_every_n_steps=1,
    accelerator="cpu",
    enable_progress_bar=False,
    enable_model_summary=False,
    default_root_dir=".",
)
training, validation = DataLoader(data, batch_size=2), DataLoader(data, batch_size=4)
trainer.fit(Model(lr=0.05, hidden=4), training, validation)
print("fit done", file=sys.stderr)
