"""The commands for editing specs: `fmt` (the formatter) and `lsp` (the language server).

Neither imports torch, tensorflow or keras; `lsp` needs the `editor` extra (pygls).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from inceptgen.cli.errors import EXIT_FAILED, EXIT_USAGE, bug, exit_with, guard, maybe_traceback, render_error
from inceptgen.errors import InceptgenError
from inceptgen.limits import Limits

__all__ = ["fmt_cmd", "lsp_cmd"]

STDIN = "-"


def fmt_cmd(
    files: Annotated[
        list[str],
        typer.Argument(metavar="FILE...", help="Spec files, or directories to format every *.incept file under."),
    ],
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 when a file is not formatted.")] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Write nothing; print the changes as a unified diff (exit 1 when any).")
    ] = False,
) -> None:
    """Rewrite spec files in the canonical layout, comments kept (docs/formatting.md).

    Example: [bold]inceptgen fmt --check specs/[/bold]

    Only blanks, line breaks and ';' change: the spec means the same before and after.
    A file that does not parse is reported as `check` reports it (exit 2) and left as it
    was; files are replaced atomically. FILE - reads standard input and writes the result
    to standard output.
    """
    with guard():
        if files == [STDIN]:
            _format_stdin(check or diff)
            return
        changed, errors, total = _format_files(files, write=not (check or diff), show_diff=diff)
        _report(changed, total - errors, written=not (check or diff))
        if errors:
            raise typer.Exit(EXIT_USAGE)
        if changed and (check or diff):
            raise typer.Exit(EXIT_FAILED)


def _format_files(arguments: list[str], write: bool, show_diff: bool) -> tuple[int, int, int]:
    """Format every file; (files changed or to change, files refused, files seen)."""
    from inceptgen.fmt import FormatterError
    from inceptgen.fmt.files import format_file, spec_files, unified_diff

    changed = errors = total = 0
    for path in spec_files(arguments):
        total += 1
        try:
            outcome = format_file(path, write=write)
        except InceptgenError as err:
            maybe_traceback()
            typer.echo(render_error(err), err=True)
            errors += 1
            continue
        except FormatterError as err:  # never written: report it as the bug it is
            bug(err)
        if outcome.changed:
            changed += 1
            if show_diff:
                typer.echo(unified_diff(outcome), nl=False)
            elif not write:
                typer.echo(f"would reformat {path}")
    return changed, errors, total


def _report(changed: int, formatted: int, written: bool) -> None:
    def files(n: int) -> str:
        return f"{n} file{'' if n == 1 else 's'}"

    unchanged = formatted - changed
    if written:
        typer.echo(f"{files(changed)} reformatted, {files(unchanged)} left unchanged", err=True)
    else:
        typer.echo(f"{files(changed)} would be reformatted, {files(unchanged)} already formatted", err=True)


def _format_stdin(check: bool) -> None:
    """`inceptgen fmt -`: standard input to standard output (for editors); with --check only the verdict."""
    from inceptgen.fmt import format_text
    from inceptgen.loader import decode

    limits = Limits()
    text = decode(sys.stdin.buffer.read(limits.max_file_bytes + 1), "<stdin>", limits)
    result = format_text(text, "<stdin>", limits)
    if check:
        if result != text:
            exit_with("would reformat <stdin>", EXIT_FAILED)
        return
    sys.stdout.write(result)


def lsp_cmd(
    stdio: Annotated[
        bool, typer.Option("--stdio", help="Talk over standard input and output (the default and only transport).")
    ] = True,
) -> None:
    """Run the language server for .incept files over standard input and output.

    Example: [bold]inceptgen lsp[/bold] (started by an editor: see editors/vscode/README.md)

    Diagnostics as you type, hover with each layer's output shape, parameters and MACs,
    go to a block's definition (across imports), completion and document symbols.
    Needs the editor extra: pip install 'inceptgen[editor]'.
    """
    del stdio  # accepted because clients pass it (vscode-languageclient's stdio transport does)
    with guard():
        try:
            from inceptgen.lsp.server import serve
        except ModuleNotFoundError as err:
            if (err.name or "").partition(".")[0] not in ("pygls", "lsprotocol"):
                raise
            raise InceptgenError(
                f"the language server needs {err.name}", hint="pip install 'inceptgen[editor]'"
            ) from None
        serve()
