"""Option dataclasses map one-to-one onto CLI flags.

Every option dataclass declares its fields with :func:`option`, whose ``help`` text is both the
field's documentation and the ``--flag``'s help. :func:`add_options` builds the flags and
:func:`options_from_args` builds the dataclass back from parsed arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
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


def options_from_args(cls: type[T], ns: argparse.Namespace) -> T:
    """Build the option dataclass ``cls`` from the flags :func:`add_options` added."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in vars(ns).items() if k in names})
