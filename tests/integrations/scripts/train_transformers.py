import os

os.environ["HF_HUB_OFFLINE"] = "1"

import torch
from common import FAIL_AT, keep
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from kleio.integrations.transformers import KleioCallback


class Twin(TrainerCallback):
    def on_log(self, args, state, control, logs=None, **kwargs):
        keep(state.global_step, logs)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == FAIL_AT:
            raise RuntimeError("diverged")


class Data(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        generator = torch.Generator().manual_seed(index)
        ids = torch.randint(0, 50, (8,), generator=generator)
        return {"input_ids": ids, "labels": torch.tensor(index % 2)}


torch.manual_seed(0)
config = BertConfig(
    vocab_size=50,
    hidden_size=8,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=16,
    max_position_embeddings=16,
    num_labels=2,
)
args = TrainingArguments(
    output_dir="out",
    max_steps=4,
    per_device_train_batch_size=2,
    logging_steps=1,
    eval_strategy="steps",
    eval_steps=2,
    save_steps=2,
    report_to=[],
    use_cpu=True,
    disable_tqdm=True,
)
trainer = Trainer(
    model=BertForSequenceClassification(config),
    args=args,
    train_dataset=Data(),
    eval_dataset=Data(),
    callbacks=[KleioCallback(artifacts=True, tags=["tiny"]), Twin()],
)
trainer.train()
