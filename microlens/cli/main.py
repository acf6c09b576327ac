"""The ``microlens`` command: one subcommand per stage module, errors as one line and an exit code.

Each module named in COMMANDS defines ``register(subparsers)``, which adds its parser and sets
``func`` to a function ``(argparse.Namespace) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from microlens.errors import MicrolensError

COMMANDS = {
    "prepare": "microlens.science.prepare",  # raw CASME II / SAMM -> prepared dataset
    "train": "microlens.science.train.run",  # LOSO / holdout / random training of both streams
    "evaluate": "microlens.science.evaluate",  # a model on a prepared dataset -> metrics JSON
    "models": "microlens.recognize.recognizer",  # list shipped models
    "analyze": "microlens.cli.analyze",  # video(s) -> report(s)
    "serve": "microlens.web.serve",  # web app + embedded queue worker
}

class _PlainHelp(argparse.HelpFormatter):
    """Help text without the docstrings' reStructuredText literal marks (``name`` -> name)."""

    def _format_text(self, text: str) -> str:
        return super()._format_text(text.replace("``", ""))

    def _expand_help(self, action: argparse.Action) -> str:
        return super()._expand_help(action).replace("``", "")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help reads as plain text (every subcommand's too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _PlainHelp)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    from microlens.version import __version__

    parser = _Parser(prog="microlens", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"microlens {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS.values():
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 internal, 2 usage, 3 bad video, 4 no face, 5 an
    output could not be written)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except MicrolensError as e:
        print(f"microlens: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("microlens: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout closed it (`microlens models | head`): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's final flush stays quiet
        return 0
    except Exception as e:  # noqa: BLE001 - the user gets one line; MICROLENS_DEBUG=1 shows the traceback
        if os.environ.get("MICROLENS_DEBUG") == "1":
            raise
        print(f"microlens: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
