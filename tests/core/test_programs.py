"""Finding a program on the PATH as ``shutil.which`` does, without importing shutil."""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from kleio.core.capture.programs import which


def _program(path, runnable: bool = True):
    path.write_text("#!/bin/sh\n")
    path.chmod(stat.S_IRWXU if runnable else stat.S_IRUSR | stat.S_IWUSR)
    return path


@pytest.fixture
def folders(tmp_path):
    """Three PATH folders: ``first`` holds a file that cannot run and a folder named
    like the program, ``second`` the program, ``third`` another copy of it."""
    first, second, third = (tmp_path / name for name in ("first", "second", "third"))
    for folder in (first, second, third):
        folder.mkdir()
    _program(first / "train", runnable=False)
    (first / "tool").mkdir()
    _program(second / "train")
    _program(second / "tool")
    _program(third / "train")
    return first, second, third


def test_the_first_runnable_file_on_the_path_is_found(folders):
    path = os.pathsep.join(map(str, folders))
    for name in ("train", "tool", "missing"):
        assert which(name, path) == shutil.which(name, path=path)
    assert which("train", path) == str(folders[1] / "train")
    assert which("missing", path) is None


def test_a_name_with_a_folder_is_taken_as_it_is(folders, monkeypatch):
    monkeypatch.chdir(folders[1])
    assert which("./train") == shutil.which("./train") == "./train"
    assert which(str(folders[0] / "train")) is None  # not runnable
    assert which(str(folders[0] / "tool")) is None  # a folder


def test_the_path_variable_is_the_default_and_an_empty_path_finds_nothing(folders, monkeypatch):
    monkeypatch.setenv("PATH", str(folders[2]))
    assert which("train") == shutil.which("train") == str(folders[2] / "train")
    assert which("train", "") is None
