"""TensorBoard event files as statistics: ``kleio import-tensorboard`` and ``kleio run
--tensorboard``, on files written by PyTorch's and tensorboardX's writers (installed by
.ci/run: without them these tests fail, they are never skipped) and on files made by
hand for the damaged cases."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import tensorboardX
from torch.utils.tensorboard import SummaryWriter

from kleio.core.capture.event_files import EventFile, masked_crc
from tests.helpers import one_line_error, text, trial_id_in

#: The wall time of the first scalar each writer writes: given, so it can be checked.
START = 1_700_000_000.25
LOSSES = [1.0, 0.5, 0.25, 0.1, 0.05]


def _write_pytorch(folder: Path) -> None:
    writer = SummaryWriter(str(folder))
    for step, loss in enumerate(LOSSES):
        writer.add_scalar("loss/train", loss, step * 10, walltime=START + step)
        # What TF 2 writes: a scalar as a float tensor of the `scalars` plugin.
        writer.add_scalar("acc", step / 10, step * 10, walltime=START + step + 0.5, new_style=True)
    writer.add_image("digits", np.zeros((3, 4, 4)), 0)
    writer.add_histogram("weights", np.arange(10), 0)
    writer.close()


def _write_tensorboardx(folder: Path) -> None:
    writer = tensorboardX.SummaryWriter(str(folder))
    for step in range(3):
        writer.add_scalar("lr", 0.1 * 2**-step, step, walltime=START + 100 + step)
    writer.close()


def _statistics(journal, trial_id: str) -> list[tuple[float, dict]]:
    return [(event.time, event.data) for event in journal.read_events(trial_id, ["statistic"])]


def _trials(journal) -> dict[tuple[str, ...], dict]:
    return {tuple(d["commandline"]): d for d in journal.find_trials()}


def test_each_run_folder_is_a_trial_whose_statistics_are_the_scalars(kleio, project, journal):
    _write_pytorch(project / "runs" / "a")
    _write_tensorboardx(project / "runs" / "b")
    result = kleio("import-tensorboard", "runs")
    assert result.returncode == 0, text(result.stderr)
    trials = _trials(journal)
    assert set(trials) == {("tensorboard", "runs/a"), ("tensorboard", "runs/b")}
    a, b = trials["tensorboard", "runs/a"], trials["tensorboard", "runs/b"]
    assert a["project"] == "mnist" and a["status"] == "completed" and "tensorboard" in a["tags"]
    expected = []
    for step, loss in enumerate(LOSSES):
        expected.append((START + step, {"loss/train": loss, "step": step * 10}))
        expected.append((START + step + 0.5, {"acc": step / 10, "step": step * 10}))
    assert _statistics(journal, a["_id"]) == expected
    assert _statistics(journal, b["_id"]) == [
        (START + 100 + step, {"lr": 0.1 * 2**-step, "step": step}) for step in range(3)
    ]
    errors = text(result.stderr)
    assert "skipped 1 histogram, 1 image" in errors, errors
    assert "10 statistics in 1 file, 10 new" in errors, errors
    # From inside the repository, the same runs are the same trials: nothing is added.
    again = kleio("import-tensorboard", ".", cwd=project / "runs")
    assert again.returncode == 0, text(again.stderr)
    assert set(_trials(journal)) == set(trials)
    assert len(_statistics(journal, a["_id"])) == 10
    assert "10 statistics in 1 file, 0 new" in text(again.stderr)
    stats = kleio("stats", a["_id"][:7], "--format", "csv")
    assert "loss/train" in text(stats.stdout) and "0.1" in text(stats.stdout)
    # A trial made from files has no environment: info says "-", never "None".
    info = text(kleio("info", a["_id"][:7]).stdout)
    assert "None" not in info and "system:" in info


def test_trial_option_imports_every_file_into_that_trial_once(kleio, project, journal):
    trial_id = trial_id_in(kleio("run", "python", "train.py").stderr)
    _write_pytorch(project / "logs" / "a")
    _write_tensorboardx(project / "logs" / "b")
    for _ in range(2):
        result = kleio("import-tensorboard", "logs", "--trial", trial_id[:7])
        assert result.returncode == 0, text(result.stderr)
    assert len(journal.find_trials()) == 1
    statistics = _statistics(journal, trial_id)
    assert len(statistics) == 13
    assert {"lr": 0.025, "step": 2} in [data for _, data in statistics]
    assert "13 statistics in 2 files, 0 new" in text(result.stderr)


def test_a_file_that_grew_adds_its_new_records_only(kleio, project, journal):
    folder = project / "runs" / "live"
    writer = SummaryWriter(str(folder))
    writer.add_scalar("loss", 1.0, 0, walltime=START)
    writer.flush()
    assert kleio("import-tensorboard", "runs").returncode == 0
    writer.add_scalar("loss", 0.5, 1, walltime=START + 1)
    writer.close()
    result = kleio("import-tensorboard", "runs")
    assert "2 statistics in 1 file, 1 new" in text(result.stderr), text(result.stderr)
    (trial,) = journal.find_trials()
    assert _statistics(journal, trial["_id"]) == [
        (START, {"loss": 1.0, "step": 0}),
        (START + 1, {"loss": 0.5, "step": 1}),
    ]


# -- damaged files, made by hand ------------------------------------------------------------
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, tag: str, value: float) -> bytes:
    summary_value = _field(1, tag.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", value)
    return (
        _varint(1 << 3 | 1)
        + struct.pack("<d", wall_time)
        + _varint(2 << 3)
        + _varint(step)
        + _field(5, _field(1, summary_value))
    )


def _record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (
        length + struct.pack("<I", masked_crc(length)) + data + struct.pack("<I", masked_crc(data))
    )


def _hand_made(folder: Path) -> tuple[Path, list[int]]:
    """An event file of a file_version record and 4 scalars; where each record starts."""
    folder.mkdir(parents=True)
    version = _varint(1 << 3 | 1) + struct.pack("<d", START) + _field(3, b"brain.Event:2")
    records = [_record(version)]
    records += [_record(_event(START + step, step, "loss", 1 / (step + 1))) for step in range(4)]
    path = folder / "events.out.tfevents.1700000000.host.1.0"
    path.write_bytes(b"".join(records))
    starts = [sum(map(len, records[:index])) for index in range(len(records))]
    return path, starts


def test_crc32c_is_castagnolis():
    """The check value of CRC-32C (RFC 3720): TFRecord's CRC, not zlib's."""
    from kleio.core.capture.event_files import crc32c

    assert crc32c(b"123456789") == 0xE3069283


@pytest.mark.parametrize(
    "damage, problem",
    [
        ("cut", "cut short inside a record of"),
        ("data crc", "the CRC of a record's data does not match"),
        ("length crc", "the CRC of a record's length does not match"),
        ("data byte", "the CRC of a record's data does not match"),
    ],
)
def test_a_damaged_file_keeps_what_came_before_in_one_line(
    kleio, project, journal, damage, problem
):
    path, starts = _hand_made(project / "runs" / "a")
    content = bytearray(path.read_bytes())
    third = starts[3]  # the third scalar: two come before it
    if damage == "cut":
        del content[third + 20 :]
    elif damage == "data crc":
        content[starts[4] - 1] ^= 0x01
    elif damage == "length crc":
        content[third + 9] ^= 0x01
    else:
        content[third + 14] ^= 0x40
    path.write_bytes(bytes(content))
    result = kleio("import-tensorboard", "runs")
    assert result.returncode == 1
    errors = text(result.stderr)
    assert "Traceback" not in errors
    warnings = [line for line in errors.splitlines() if "damaged" in line]
    assert len(warnings) == 1, errors
    assert warnings[0].startswith(f"kleio: warning: runs/a/{path.name} is damaged: {problem}")
    assert f"at byte {third} (record 4)" in warnings[0]
    assert "the 2 statistics before it were imported" in warnings[0]
    (trial,) = journal.find_trials()
    assert [data for _, data in _statistics(journal, trial["_id"])] == [
        {"loss": 1.0, "step": 0},
        {"loss": 0.5, "step": 1},
    ]


def test_a_whole_hand_made_file_reads_every_scalar(tmp_path):
    path, _ = _hand_made(tmp_path / "run")
    reading = EventFile(str(path))
    records = list(reading.records())
    assert [record.values for record in records] == [
        {"loss": 1.0},
        {"loss": 0.5},
        {"loss": 0.33333334},
        {"loss": 0.25},
    ]
    assert reading.damage is None and reading.records_read == 5


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("import-tensorboard", "nowhere"), "no folder or file nowhere"),
        (("import-tensorboard", "."), "no TensorBoard event files"),
        (("import-tensorboard", "train.py"), "train.py is no TensorBoard event file"),
        (("import-tensorboard", "runs", "--trial", "fffffff"), "fffffff"),
    ],
)
def test_bad_input_is_one_line(kleio, project, args, fragment):
    if "runs" in args:
        _hand_made(project / "runs" / "a")
    one_line_error(kleio(*args), fragment)


# -- kleio run --tensorboard ----------------------------------------------------------------
WRITER = """\
import sys
from torch.utils.tensorboard import SummaryWriter

for folder, tag in ((sys.argv[1], "loss"), ("runs/here", "acc")):
    writer = SummaryWriter(folder)
    for step in range(3):
        writer.add_scalar(tag, 1.0 / 2**step, step, walltime=1700000000.0 + step)
    writer.close()
"""


@pytest.mark.slow  # a script that imports torch: 2 seconds
def test_a_run_with_tensorboard_ends_with_the_scalars_it_wrote(kleio, project, journal):
    _write_tensorboardx(project / "runs" / "before")  # another run's, older: not read
    (project / "write.py").write_text(WRITER)
    result = kleio("run", "--tensorboard", "python", "write.py", "{trial.working_dir}/tb")
    assert result.returncode == 0, text(result.stderr)
    trial_id = trial_id_in(result.stderr)
    assert "6 TensorBoard scalars read from 2 event files" in text(result.stderr)
    data = [data for _, data in _statistics(journal, trial_id)]
    assert sorted(data, key=lambda d: (sorted(d), d["step"])) == [
        *({"acc": 1.0 / 2**step, "step": step} for step in range(3)),
        *({"loss": 1.0 / 2**step, "step": step} for step in range(3)),
    ]
    assert journal.get_trial(trial_id)["status"] == "completed"
    # Without the option, nothing is read.
    plain = kleio("run", "python", "write.py", "{trial.working_dir}/tb", "--again")
    assert not _statistics(journal, trial_id_in(plain.stderr))
