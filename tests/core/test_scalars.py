"""What the default patterns of ``kleio run --scalars`` read in a line, and what not."""

from __future__ import annotations

import pytest

from kleio.core.running.scalars import LineReader, compile_patterns


def _rows(*lines: str, patterns: tuple[str, ...] = ()) -> list[dict]:
    reader = LineReader(compile_patterns(patterns))
    return reader.feed("".join(line + "\n" for line in lines).encode())


@pytest.mark.parametrize(
    ("line", "row"),
    [
        ("loss: 0.31", {"loss": 0.31}),
        ("epoch 3 loss=0.31 acc=0.9", {"epoch": 3, "loss": 0.31, "acc": 0.9}),
        ("Epoch: 4, loss: 1e-3", {"epoch": 4, "loss": 0.001}),
        ("INFO:__main__:loss: 0.25 (best)", {"loss": 0.25}),
        ('{"train/loss": -0.5, "lr": .01}', {"train/loss": -0.5, "lr": 0.01}),
        ("step 7 loss: inf", {"step": 7, "loss": float("inf")}),
    ],
)
def test_what_the_default_patterns_read(line, row):
    assert _rows(line) == [row]


@pytest.mark.parametrize(
    "line",
    [
        "Epoch 0: 100%|██████████| 50/50 [00:01<00:00, 30.2it/s, v_num=0]",
        "TPU available: False, using: 0 TPU cores",
        "LOCAL_RANK: 0 - CUDA_VISIBLE_DEVICES: [0]",
        "Total params: 66",
        "Train loss: 0.3",
        "  Num examples = 1,000",
        "version: 3.5.1",
        "time: 0.3s",
        "acc: 93%",
        "http://localhost:8080",
        "eta: 0:00:01",
        "saved epoch=3-step=100.ckpt",
        "`Trainer.fit` stopped: `max_epochs=3` reached.",
        "_time: 3",
        "epoch   1  loss 3.51671  weight 0.211  bias -0.180",
    ],
)
def test_what_they_leave_alone(line):
    assert _rows(line) == []


def test_a_progress_bar_gives_its_last_state_and_a_bar_never_ended_stays_bounded():
    reader = LineReader(compile_patterns(()))
    assert reader.feed(b"loss: 0.9\rloss: 0.5\r") == []
    assert reader.feed(b"\n") == [{"loss": 0.5}]  # \r\n cut between two reads
    for _ in range(10_000):  # a bar rewritten for hours, never ended
        reader.feed(b"\r 50%|#####     | loss=0.25")
    assert len(reader._pending) < 100
    assert reader.end() == [{"loss": 0.25}]
