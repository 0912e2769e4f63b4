"""Typed configs: plain dataclasses built from a dict or DictConfig, failing early with the key's name.

Every option lives once, as a dataclass field with a comment. ``from_mapping`` rejects unknown keys,
checks each value against its field's type (``Literal`` choices included) and runs the dataclass's own
``__post_init__`` checks, re-raising any problem as a :class:`ConfigError` that names the full key
(``model.solver.tol``), so a bad value fails before any training starts.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")


class ConfigError(ValueError):
    """A bad config value; ``key`` is the dotted path of the offending field."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}")


def capped(default: int, cap: str) -> Any:
    """A count field that ``debug=tiny`` lowers to at most its ``cap`` field (``layers``, ``cycles``,
    ``solver_iters``): how the debug config finds every block count and iteration budget by name."""
    return dataclasses.field(default=default, metadata={"debug_cap": cap})


def require(condition: bool, key: str, message: str) -> None:
    """Raise ConfigError(key, message) unless condition holds; used by ``__post_init__`` checks."""
    if not condition:
        raise ConfigError(key, message)


def to_plain(cfg: Any) -> Any:
    """A DictConfig (or anything mapping-like) as plain Python containers; plain values pass through."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(cfg, (DictConfig, ListConfig)):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # omegaconf is optional for plain-dict users
        pass
    if isinstance(cfg, Mapping):
        return {k: to_plain(v) for k, v in cfg.items()}
    return cfg


def _check_value(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        require(value in choices, key, f"{value!r} is not one of {list(choices)}")
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None:
            require(type(None) in args, key, "may not be null")
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _check_value(value, inner, key)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        require(isinstance(value, Mapping), key, f"expected a mapping of {hint.__name__} fields, got {value!r}")
        return from_mapping(hint, value, key)
    if hint is bool:
        require(isinstance(value, bool), key, f"expected true or false, got {value!r}")
    elif hint is int:
        require(isinstance(value, int) and not isinstance(value, bool), key, f"expected an integer, got {value!r}")
    elif hint is float:
        require(isinstance(value, (int, float)) and not isinstance(value, bool), key, f"expected a number, got {value!r}")
        return float(value)
    elif hint is str:
        require(isinstance(value, str), key, f"expected a string, got {value!r}")
    return value


def from_mapping(cls: type[T], mapping: Any, where: str) -> T:
    """Build dataclass ``cls`` from ``mapping`` (dict or DictConfig); errors name ``where.<field>``."""
    data = to_plain(mapping)
    if not isinstance(data, Mapping):
        raise ConfigError(where, f"expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}", f"unknown key; valid keys are {sorted(fields)}")
    values = {k: _check_value(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**values)
    except ConfigError as err:
        raise ConfigError(f"{where}.{err.key}", err.message) from None
    except TypeError as err:  # a missing required field
        raise ConfigError(where, str(err)) from None
