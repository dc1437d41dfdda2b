"""Which named files an execution wrote, and which files hold a trial's own outputs."""

from __future__ import annotations

import os

from kleio.core.capture.code import sha256_file
from kleio.core.capture.written import WatchedFiles, own_outputs
from kleio.core.model.commandline import configuration_of, split_command


def document(tmp_path, *words: str, outputs=None) -> dict:
    return {
        "commandline": ["python", "job.py", *words],
        "cwd": str(tmp_path),
        "outputs": outputs or [],
    }


def test_written_are_the_named_files_an_execution_created_or_changed(tmp_path):
    (tmp_path / "config.yaml").write_text("lr: 0.1\n")
    (tmp_path / "log.json").write_text("{}")
    trial = document(
        tmp_path, "--config", "config.yaml", "--out=metrics.json", "model.pt", "--log", "log.json"
    )
    watched = WatchedFiles(trial)
    (tmp_path / "metrics.json").write_text('{"acc": 1}')  # created
    (tmp_path / "model.pt").write_bytes(b"\0" * 10)  # created, not a configuration file
    stat = os.stat(tmp_path / "log.json")
    (tmp_path / "log.json").write_text('{"step": 1}')  # changed
    os.utime(tmp_path / "log.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    written = {entry["path"]: entry for entry in watched.written(execution=3)}
    assert set(written) == {"metrics.json", "model.pt", "log.json"}  # not config.yaml
    assert written["metrics.json"]["sha256"] == sha256_file(str(tmp_path / "metrics.json"))
    assert written["metrics.json"]["size"] == 10 and written["metrics.json"]["execution"] == 3
    assert written["model.pt"]["sha256"] is None  # recorded, not read


def test_an_execution_keeps_the_outputs_of_earlier_ones(tmp_path):
    earlier = [{"path": "a.json", "size": 2, "sha256": "x", "execution": 1, "time": 1.0}]
    watched = WatchedFiles(document(tmp_path, "--a", "a.json", "--b", "b.json", outputs=earlier))
    (tmp_path / "b.json").write_text("{}")
    assert [entry["path"] for entry in watched.written(execution=2)] == ["a.json", "b.json"]


def test_own_outputs_are_the_files_holding_exactly_what_the_trial_last_wrote(tmp_path):
    (tmp_path / "metrics.json").write_text('{"acc": 1}')
    (tmp_path / "other.json").write_text('{"acc": 2}')
    recorded = [
        {"path": "metrics.json", "sha256": sha256_file(str(tmp_path / "metrics.json"))},
        {"path": "other.json", "sha256": "0" * 64},
        {"path": "model.pt", "sha256": None},
    ]
    trial = document(tmp_path, outputs=recorded)
    texts = ["metrics.json", "other.json", "model.pt", "missing.json"]
    assert own_outputs(trial, texts, str(tmp_path)) == {"metrics.json"}
    (tmp_path / "metrics.json").write_text('{"acc": 3}')
    assert own_outputs(trial, texts, str(tmp_path)) == set()


def test_an_unread_file_is_configuration_by_its_name(tmp_path):
    (tmp_path / "in.yaml").write_text("lr: 0.1\n")
    (tmp_path / "out.json").write_text('{"acc": 1}')
    command = split_command(["python", "job.py", "in.yaml", "--out", "out.json"])
    assert configuration_of(command, str(tmp_path)) == {"_pos_0": {"lr": 0.1}, "out": {"acc": 1}}
    assert configuration_of(command, str(tmp_path), unread={"out.json"}) == {
        "_pos_0": {"lr": 0.1},
        "out": "out.json",
    }
