"""Option dataclasses map one-to-one onto CLI flags.

Every option dataclass declares its fields with :func:`option`, whose ``help`` text is both the
field's documentation and the ``--flag``'s help. :func:`add_options` builds the flags and
:func:`options_from_args` builds the dataclass back from parsed arguments. :func:`typed_values`
checks the same options given as JSON (the web API's ``options`` field).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def option(default: Any, help: str, *, choices: tuple[Any, ...] | None = None) -> Any:
    """A dataclass field with a default, a help text and optional choices."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_options(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """Add one ``--flag`` per field of the option dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(cls.__name__)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        kind = hints[f.name]
        helptext = f.metadata.get("help", "")
        choices = f.metadata.get("choices")
        default = f.default
        if kind is bool:
            group.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                               default=default, help=helptext)
            continue
        args = typing.get_args(kind)
        base = next((a for a in args if a is not type(None)), kind) if args else kind
        if base not in (int, float, str):
            base = str
        group.add_argument(_flag(f.name), dest=f.name, type=base, default=default, choices=choices,
                           help=f"{helptext} (default: {default})")


def check_numbers(obj: Any) -> None:
    """Raise UsageError unless every int or float field of the option dataclass ``obj`` holds a
    finite number of its type (an int field an int; a float field an int or float; never a bool,
    NaN or infinity). Ranges are the dataclass's own business."""
    from microlens.errors import UsageError

    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        kind, value = hints[f.name], getattr(obj, f.name)
        if kind not in (int, float):
            continue
        ok = isinstance(value, int if kind is int else (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(value):
            raise UsageError(f"option {f.name} ({_flag(f.name)}) must be a finite "
                             f"{'whole number' if kind is int else 'number'}, got {value!r}")


def options_from_args(cls: type[T], ns: argparse.Namespace) -> T:
    """Build the option dataclass ``cls`` from the flags :func:`add_options` added."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in vars(ns).items() if k in names})


def typed_values(classes: tuple[type, ...], values: Mapping[str, Any]) -> dict[str, Any]:
    """Check JSON-like ``values`` against the fields of the option dataclasses ``classes``: every
    key must name a field, every value must have the field's type (an integer is accepted for a
    float, a bool is not a number) and be one of its choices. Returns the values (integers given
    for floats made floats). Raises ValueError with a one-line reason. Ranges are checked by the
    dataclasses themselves when they are built."""
    fields = {f.name: (f, typing.get_type_hints(c)[f.name]) for c in classes for f in dataclasses.fields(c)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            raise ValueError(f"unknown option {str(key)[:40]!r}; known: {', '.join(sorted(fields))}")
        f, kind = fields[key]
        args = typing.get_args(kind)
        base = next((a for a in args if a is not type(None)), kind) if args else kind
        if value is None and type(None) in args:
            out[key] = None
            continue
        if base is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if base in (bool, int, float, str) and (type(value) is not base):
            raise ValueError(f"option {key!r} takes a {json_type(base)}, got {json_type(type(value))}")
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ValueError(f"option {key!r} must be one of {', '.join(map(str, choices))}")
        out[key] = value
    return out


# Python type -> its JSON name, for error messages
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object",
              type(None): "null"}


def json_type(kind: type) -> str:
    """The JSON name of the Python type ``kind``, for error messages."""
    return JSON_TYPES.get(kind, kind.__name__)
