"""The configuration a process gives ``kleio.start(config=...)``, made plain.

A trial's configuration is part of its identity, so it must be plain JSON values that
mean the same in every run. Accepted at the top: a mapping, an ``argparse.Namespace``,
a dataclass instance, an OmegaConf/Hydra ``DictConfig`` (resolved; omegaconf is only
imported when the value is one), or None (no configuration given). Within it:

- ``str``, ``bool``, ``int``, ``float`` and None as they are;
- mappings become dicts; their keys must be ``str``, ``int``, ``float`` or ``bool`` and
  become text (``{1: "a"}`` is ``{"1": "a"}``, as in JSON);
- lists and tuples become lists; sets and frozensets become sorted lists;
- namespaces, dataclass instances and ``DictConfig``/``ListConfig`` become dicts and
  lists as above;
- paths (``os.PathLike``) become their text; an ``Enum`` member becomes its value made
  plain; numpy scalars and arrays become numbers and lists (``.tolist()``).

Anything else (a function, a model, a tensor...) raises a one-line ``TypeError`` naming
its key (``model.layers[2]``): record a plain description of it instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def plain_configuration(config: Any) -> dict[str, Any] | None:
    """``config`` as plain JSON values (see the module documentation); None for None."""
    if config is None:
        return None
    top = _container(config)
    if not isinstance(top, Mapping):
        raise TypeError(
            "config must be a mapping, an argparse.Namespace, a dataclass instance or an "
            f"OmegaConf DictConfig, not {type(config).__name__}"
        )
    return _plain(top, "")


def _container(value: Any) -> Any:
    """A namespace, dataclass or OmegaConf value as a mapping or list; else ``value``."""
    module = type(value).__module__ or ""
    if module.split(".")[0] == "omegaconf":
        from omegaconf import OmegaConf  # only when given one of its values

        return OmegaConf.to_container(value, resolve=True)
    if type(value).__name__ == "Namespace" and hasattr(value, "__dict__"):
        return vars(value)
    fields = getattr(type(value), "__dataclass_fields__", None)
    if fields is not None and not isinstance(value, type):
        return {name: getattr(value, name) for name in fields}
    return value


def _plain(value: Any, key: str) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    value = _container(value)
    if isinstance(value, Mapping):
        plain = {}
        for name, item in value.items():
            if not isinstance(name, (str, int, float, bool)):
                raise TypeError(
                    f"configuration key {name!r} in {key or 'the configuration'} is a "
                    f"{type(name).__name__}: keys must be text or numbers"
                )
            plain[str(name)] = _plain(item, f"{key}.{name}" if key else str(name))
        return plain
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{key}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        items = [_plain(item, f"{key}[]") for item in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    import enum

    if isinstance(value, enum.Enum):
        return _plain(value.value, key)
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return _plain(value.tolist(), key)
    raise TypeError(
        f"configuration value {key} is a {type(value).__name__}, which Kleio cannot record "
        "as plain JSON: give text, numbers, booleans, None, or lists and dicts of these"
    )
