"""Configuration files are read within caps: an alias bomb or a file nested 100,000 deep
is refused at once, with one line naming it, instead of eating the memory or the stack."""

from __future__ import annotations

import json
import time

import pytest

from kleio.core.model.commandline import (
    MAX_CONFIG_DEPTH,
    MAX_CONFIG_VALUES,
    ConfigFileError,
    configuration_of,
    split_command,
)
from kleio.core.model.settings import SettingsError, read_config_file


def laughs(levels: int) -> str:
    """YAML of a few hundred bytes whose aliases expand to 9 ** levels values."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        item = f"*l{level - 1}"
        lines.append(f"l{level}: &l{level} [{','.join([item] * 9)}]")
    return "\n".join(lines) + "\n"


def read(tmp_path, name: str, content: str):
    (tmp_path / name).write_text(content)
    return configuration_of(split_command(["prog", "--config", name]), cwd=str(tmp_path))


def refusal(tmp_path, name: str, content: str) -> str:
    started = time.monotonic()
    with pytest.raises(ConfigFileError) as raised:
        read(tmp_path, name, content)
    assert time.monotonic() - started < 2  # refused before expanding anything
    message = str(raised.value)
    assert "\n" not in message and str(tmp_path / name) in message
    return message


def test_a_billion_laughs_is_refused_at_once(tmp_path):
    bomb = laughs(9)
    assert len(bomb) < 500
    assert "values once its aliases are expanded" in refusal(tmp_path, "bomb.yaml", bomb)


def test_aliases_expanding_past_the_cap_are_refused(tmp_path):
    assert MAX_CONFIG_VALUES < 9**6
    assert f"more than {MAX_CONFIG_VALUES:,} values" in refusal(tmp_path, "b.yml", laughs(6))


def test_aliases_within_the_cap_are_expanded(tmp_path):
    content = (
        "base: &base {lr: 0.1, layers: [64, 64]}\nfirst: *base\nsecond:\n  <<: *base\n  lr: 1\n"
    )
    assert read(tmp_path, "c.yaml", content)["config"] == {
        "base": {"lr": 0.1, "layers": [64, 64]},
        "first": {"lr": 0.1, "layers": [64, 64]},
        "second": {"lr": 1, "layers": [64, 64]},
    }


def test_a_structure_that_contains_itself_is_refused(tmp_path):
    assert "contains itself" in refusal(tmp_path, "loop.yaml", "a: &a [1, *a]\n")


@pytest.mark.parametrize(
    "name, content",
    [
        ("deep.json", "[" * 100_000 + "]" * 100_000),
        ("deep.yaml", "[" * 100_000 + "]" * 100_000),
        ("deep2.json", "[" * (MAX_CONFIG_DEPTH + 1) + "]" * (MAX_CONFIG_DEPTH + 1)),
        ("deep3.yaml", "".join(f"{'  ' * level}a:\n" for level in range(80)) + "  " * 80 + "1\n"),
    ],
)
def test_a_file_nested_too_deep_is_refused(tmp_path, name, content):
    assert f"nested deeper than {MAX_CONFIG_DEPTH} levels" in refusal(tmp_path, name, content)


def test_a_file_within_the_caps_is_read_whole(tmp_path):
    nested = json.loads("[" * MAX_CONFIG_DEPTH + "]" * MAX_CONFIG_DEPTH)
    wide = list(range(MAX_CONFIG_VALUES - 1))
    assert read(tmp_path, "n.json", json.dumps(nested))["config"] == nested
    assert read(tmp_path, "w.json", json.dumps(wide))["config"] == wide


def test_settings_files_have_the_same_caps(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text(laughs(9))
    with pytest.raises(SettingsError, match="values once its aliases are expanded"):
        read_config_file(path)
