"""The `inceptgen` command line (Typer for arguments, Rich for tables): the app and its commands.

Exit codes: 0 success; 1 a check that ran and failed (parity above tolerance, a stdlib
spec that no longer checks); 2 a user error (a bad spec, bad arguments, a missing file,
an output it will not overwrite); 3 a bug in inceptgen; 130 interrupted. Errors go to
stderr as `file:line:col: error: message`, the source line with a caret, and a hint;
a Python traceback only with `--debug`.

`check`, `summary`, `compile` and `specs` never import torch, tensorflow or keras; the
commands that run models (`parity`, `convert`, `train`, `evaluate`) import their
`inceptgen.runtime` module inside the command, and are only offered when it exists.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence

import typer

from inceptgen.cli.errors import EXIT_BUG, EXIT_FAILED, EXIT_USAGE, render_diagnostic, render_error
from inceptgen.cli.model_commands import convert_cmd, export_cmd, parity_cmd
from inceptgen.cli.spec_commands import _root, check_cmd, compile_cmd, diagram_cmd, specs_cmd, summary_cmd
from inceptgen.cli.tool_commands import fmt_cmd, lsp_cmd
from inceptgen.cli.train_commands import evaluate_cmd, train_cmd

__all__ = ["app", "build_app", "main", "render_error", "render_diagnostic", "EXIT_BUG", "EXIT_FAILED", "EXIT_USAGE"]

# --------------------------------------------------------------------------- the app

#: command name, function, runtime module it needs (None: always offered)
_COMMANDS: tuple[tuple[str, Callable[..., None], str | None], ...] = (
    ("check", check_cmd, None),
    ("summary", summary_cmd, None),
    ("compile", compile_cmd, None),
    ("specs", specs_cmd, None),
    ("diagram", diagram_cmd, None),
    ("fmt", fmt_cmd, None),
    ("lsp", lsp_cmd, None),
    ("parity", parity_cmd, "inceptgen.runtime.parity"),
    ("convert", convert_cmd, "inceptgen.runtime.convert"),
    ("train", train_cmd, "inceptgen.runtime.train"),
    ("evaluate", evaluate_cmd, "inceptgen.runtime.train"),
    ("export", export_cmd, "inceptgen.runtime.export"),
)


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def build_app(only: str | None = None) -> typer.Typer:
    """The Typer application; runtime commands appear only where their module is installed.

    With `only`, the application holds that one command: Typer turns every command it holds
    into a Click command on each run (13-23 ms for all twelve here), and a run needs one.
    """
    application = typer.Typer(
        name="inceptgen",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    application.callback()(_root)
    for name, function, needs in _COMMANDS:
        if (only is None or name == only) and (needs is None or _module_exists(needs)):
            application.command(name)(function)
    return application


#: Root options that may come before the command: `inceptgen --debug check ...`.
_ROOT_FLAGS = frozenset({"--debug"})
_COMMAND_NAMES = frozenset(name for name, _, _ in _COMMANDS)


def named_command(argv: Sequence[str]) -> str | None:
    """The command `argv` runs; None when it runs none (`--help`, `--version`) or names none (a typo)."""
    for arg in argv:
        if arg not in _ROOT_FLAGS:
            return arg if arg in _COMMAND_NAMES else None
    return None


app = build_app()


def main() -> None:
    """Console entry point (`inceptgen`): an application of the one command the arguments name."""
    command = named_command(sys.argv[1:])
    (app if command is None else build_app(only=command))(prog_name="inceptgen")


if __name__ == "__main__":
    main()
