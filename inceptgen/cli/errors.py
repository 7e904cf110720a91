"""How the command line reports: exit codes, `file:line:col: error:` diagnostics, the one guard.

Exit codes: 0 success; 1 a check that ran and failed; 2 a user error; 3 a bug in inceptgen;
130 interrupted. A Python traceback only with `--debug`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import typer

from inceptgen.errors import InceptgenError, Span

__all__ = [
    "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_BUG", "EXIT_INTERRUPTED", "State",
    "render_diagnostic", "render_error", "guard", "exit_with", "bug",
]  # fmt: skip

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130

_FRAMEWORKS = {
    "torch": "torch",
    "tensorflow": "keras",
    "keras": "keras",
    "numpy": "torch",
    "h5py": "keras",
    "PIL": "all",
}
_MAX_SHOWN_LINE = 160


class State:
    debug = False


# --------------------------------------------------------------------------- errors


def _source_line(file: str, line: int) -> str | None:
    """Line `line` (1-based) of `file` as the parser counted it, or None when unreadable."""
    lines = _lines(file)
    if lines is None or not 1 <= line <= len(lines):
        return None
    return lines[line - 1].replace("\0", "?")


@functools.lru_cache(maxsize=8)
def _lines(file: str) -> list[str] | None:
    """A spec file's lines, read once however many diagnostics quote it (0.1 re-read it for each)."""
    if file.startswith("<"):
        return None
    try:
        data = Path(file).read_bytes()
    except (OSError, ValueError):
        return None
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # as inceptgen.loader.decode counts


def _caret(text: str, span: Span) -> tuple[str, str]:
    """The shown source text and the marker line under it (`^~~~` over the span)."""
    col = max(span.column, 1) - 1
    width = 1
    if span.end_line == span.line and span.end_column is not None and span.end_column > span.column:
        width = span.end_column - span.column
    if len(text) > _MAX_SHOWN_LINE:  # a hostile one-line spec: show a window around the column
        start = max(0, min(col - _MAX_SHOWN_LINE // 3, len(text) - _MAX_SHOWN_LINE))
        head = "..." if start else ""
        tail = "..." if start + _MAX_SHOWN_LINE < len(text) else ""
        text = head + text[start : start + _MAX_SHOWN_LINE] + tail
        col = col - start + len(head)
    col = min(col, len(text))
    width = max(1, min(width, len(text) - col))
    pad = "".join("\t" if ch == "\t" else " " for ch in text[:col])
    return text, pad + "^" + "~" * (width - 1)


def render_diagnostic(severity: str, message: str, span: Span | None = None, hint: str | None = None) -> str:
    """`file:line:col: SEVERITY: message`, then the source line and a caret, then `  hint: ...`.

    The source line is read from `span.file`; a file that cannot be read (or a span of
    text given in memory, `<spec>`) just leaves the line out.
    """
    out = [f"{span}: {severity}: {message}" if span is not None else f"{severity}: {message}"]
    line = _source_line(span.file, span.line) if span is not None else None
    if span is not None and line is not None:
        shown, marker = _caret(line, span)
        out += [f"  {shown}", f"  {marker}"]
    if hint:
        out.append(f"  hint: {hint}")
    return "\n".join(out)


def render_error(err: InceptgenError) -> str:
    """An `InceptgenError` as the CLI prints it.

    Example:
        >>> print(render_error(InceptgenError("unknown layer 'cnov'", Span("a.incept", 3, 5))))  # doctest: +SKIP
        a.incept:3:5: error: unknown layer 'cnov'
          stage s { cnov 3x3 -> 32 }
                    ^
          hint: did you mean 'conv'?
    """
    return render_diagnostic("error", err.message, err.span, err.hint)


def exit_with(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def framework_hint(err: ModuleNotFoundError) -> str | None:
    root = (err.name or "").partition(".")[0]
    extra = _FRAMEWORKS.get(root)
    return None if extra is None else f"this command needs {root}: pip install 'inceptgen[{extra}]'"


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Turn every exception into a message on stderr and an exit code (a traceback only with --debug)."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.BadParameter):
        raise
    except InceptgenError as err:
        maybe_traceback()
        # Ctrl-C turned into a message by the runtime (training saves its last epoch first)
        interrupted = isinstance(err.__context__, KeyboardInterrupt)
        exit_with(render_error(err), EXIT_INTERRUPTED if interrupted else EXIT_USAGE)
    except ModuleNotFoundError as err:
        maybe_traceback()
        hint = framework_hint(err)
        if hint is None:
            bug(err)
        exit_with(render_diagnostic("error", f"no module named {err.name!r}", hint=hint), EXIT_USAGE)
    except BrokenPipeError:  # `inceptgen summary ... | head`
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_FAILED) from None
    except OSError as err:
        maybe_traceback()
        where = f"{err.filename}: " if err.filename else ""
        exit_with(render_diagnostic("error", f"{where}{err.strerror or err}"), EXIT_USAGE)
    except KeyboardInterrupt:
        exit_with("interrupted", EXIT_INTERRUPTED)
    except Exception as err:  # noqa: BLE001 - the one place that turns a bug into a message
        maybe_traceback()
        if out_of_memory(err):
            message = "out of memory: the model does not fit at this input size and batch"
            exit_with(render_diagnostic("error", message, hint="try a smaller --set input=... or --batch"), EXIT_USAGE)
        bug(err)


#: What the frameworks' allocators say when memory runs out (PyTorch's CPU allocator raises a
#: plain RuntimeError; TensorFlow a ResourceExhaustedError).
_OUT_OF_MEMORY_TYPES = ("MemoryError", "OutOfMemoryError", "ResourceExhaustedError")
_OUT_OF_MEMORY_WORDS = ("DefaultCPUAllocator", "not enough memory", "can't allocate memory", "out of memory")


def out_of_memory(err: BaseException) -> bool:
    """Whether an exception says the machine ran out of memory (a limit of the machine, not a bug)."""
    if any(cls.__name__ in _OUT_OF_MEMORY_TYPES for cls in type(err).__mro__):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and any(word in text for word in _OUT_OF_MEMORY_WORDS)


def bug(err: BaseException) -> NoReturn:
    exit_with(
        render_diagnostic(
            "error",
            f"internal error: {type(err).__name__}: {err}",
            hint="this is a bug in inceptgen; run again with --debug for the traceback and report it",
        ),
        EXIT_BUG,
    )


def maybe_traceback() -> None:
    if State.debug:
        traceback.print_exc(file=sys.stderr)
