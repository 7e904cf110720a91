"""The `inceptgen` command line (Typer for arguments, Rich for tables).

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

import contextlib
import importlib.util
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from inceptgen import __version__
from inceptgen.errors import InceptgenError, Span
from inceptgen.targets import TARGET_NAMES, TARGETS

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from inceptgen.api import Spec

__all__ = ["app", "build_app", "main", "render_error", "render_diagnostic"]

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


#: A framework inceptgen generates code for (from the registry, `inceptgen.targets`).
Target = StrEnum("Target", {name: name for name in TARGET_NAMES})


class Format(StrEnum):
    """Output format of `summary`."""

    table = "table"
    json = "json"


#: Which target `parity` builds from optimised source: those that have an `--optimize` build.
Optimize = StrEnum("Optimize", {**{t.name: t.name for t in TARGETS.values() if t.optimize}, "none": "none"})


class _State:
    debug = False


# --------------------------------------------------------------------------- errors


def _source_line(file: str, line: int) -> str | None:
    """Line `line` (1-based) of `file` as the parser counted it, or None when unreadable."""
    if file.startswith("<"):
        return None
    try:
        data = Path(file).read_bytes()
    except (OSError, ValueError):
        return None
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # as inceptgen.parse.decode counts
    if not 1 <= line <= len(lines):
        return None
    return lines[line - 1].replace("\0", "?")


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


def _exit(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _framework_hint(err: ModuleNotFoundError) -> str | None:
    root = (err.name or "").partition(".")[0]
    extra = _FRAMEWORKS.get(root)
    return None if extra is None else f"this command needs {root}: pip install 'inceptgen[{extra}]'"


@contextlib.contextmanager
def _guard() -> Iterator[None]:
    """Turn every exception into a message on stderr and an exit code (a traceback only with --debug)."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.BadParameter):
        raise
    except InceptgenError as err:
        _maybe_traceback()
        # Ctrl-C turned into a message by the runtime (training saves its last epoch first)
        interrupted = isinstance(err.__context__, KeyboardInterrupt)
        _exit(render_error(err), EXIT_INTERRUPTED if interrupted else EXIT_USAGE)
    except ModuleNotFoundError as err:
        _maybe_traceback()
        hint = _framework_hint(err)
        if hint is None:
            _bug(err)
        _exit(render_diagnostic("error", f"no module named {err.name!r}", hint=hint), EXIT_USAGE)
    except BrokenPipeError:  # `inceptgen summary ... | head`
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_FAILED) from None
    except OSError as err:
        _maybe_traceback()
        where = f"{err.filename}: " if err.filename else ""
        _exit(render_diagnostic("error", f"{where}{err.strerror or err}"), EXIT_USAGE)
    except KeyboardInterrupt:
        _exit("interrupted", EXIT_INTERRUPTED)
    except Exception as err:  # noqa: BLE001 - the one place that turns a bug into a message
        _maybe_traceback()
        _bug(err)


def _bug(err: BaseException) -> NoReturn:
    _exit(
        render_diagnostic(
            "error",
            f"internal error: {type(err).__name__}: {err}",
            hint="this is a bug in inceptgen; run again with --debug for the traceback and report it",
        ),
        EXIT_BUG,
    )


def _maybe_traceback() -> None:
    if _State.debug:
        traceback.print_exc(file=sys.stderr)


# --------------------------------------------------------------------------- helpers

SpecArg = Annotated[
    str, typer.Argument(metavar="SPEC", help="A .incept file, or @name for a spec of the library (see `specs`).")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="NAME=VALUE", help="Override a model parameter, e.g. classes=10; repeatable."),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing output that inceptgen did not write.")]


def _overrides(pairs: Sequence[str]) -> dict[str, str]:
    """Validate every `--set` pair; return name -> value text (load() evaluates it)."""
    from inceptgen.api import parse_overrides

    out: dict[str, str] = {}
    for pair in pairs:
        try:
            parse_overrides([pair])
        except InceptgenError as err:
            message = err.message if err.message.startswith("--set") else f"--set {pair!r}: {err.message}"
            raise InceptgenError(message, hint=err.hint) from None
        name, _, text = pair.partition("=")
        out[name.strip()] = text.strip()
    return out


def _load(spec_arg: str, sets: Sequence[str] | None) -> Spec:
    """Load SPEC (a path or `@name`) with `--set` overrides; print its warnings to stderr."""
    from inceptgen.api import load

    target: str | Path = spec_arg if spec_arg.startswith("@") else Path(spec_arg)
    spec = load(target, overrides=_overrides(sets or ()))
    for message, span in spec.warnings:
        typer.echo(render_diagnostic("warning", message, span), err=True)
    return spec


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape)


def _main_output(spec: Spec) -> Sequence[int]:
    outputs = spec.checked.outputs
    return outputs["main"] if "main" in outputs else next(iter(outputs.values()))


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def _print_table(console: Console, table: Table) -> None:
    """Print `table`; when stdout is not a terminal, at its natural width instead of 80 columns."""
    if not console.is_terminal:
        from rich.measure import Measurement

        wide = console.options.update(max_width=10_000)
        console.width = max(console.width, Measurement.get(console, wide, table).maximum)
    console.print(table)


def _status(message: str) -> None:
    typer.echo(message, err=True)


# --------------------------------------------------------------------------- commands


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"inceptgen {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", envvar="INCEPTGEN_DEBUG", help="Show Python tracebacks for errors.")
    ] = False,
) -> None:
    """Compile .incept CNN specs into PyTorch and Keras source.

    Example: [bold]inceptgen compile @inception_v3 --target torch -o inception_v3.py[/bold]
    """
    _State.debug = debug


def check_cmd(spec: SpecArg, set_: SetOpt = None) -> None:
    """Parse and shape-check SPEC; print a one-line verdict.

    Example: [bold]inceptgen check @inception_v3 --set classes=10[/bold]

    Warnings (such as a block defined and never used) go to stderr as
    file:line:col: warning: ...; any error exits with status 2.
    """
    with _guard():
        s = _load(spec, set_)
        c = s.checked
        typer.echo(f"ok: {spec}: {s.model.name} {c.total_params:,} parameters, output {_shape(_main_output(s))}")


def summary_cmd(
    spec: SpecArg,
    set_: SetOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="table (Rich) or json (to stdout).")] = Format.table,
) -> None:
    """Per-node output shape, parameters and MACs of SPEC, with totals.

    Example: [bold]inceptgen summary @inception_v3 --format json > v3.json[/bold]

    Parameters follow PyTorch (batch-norm running statistics are not parameters);
    the Keras count includes them, as count_params() does.
    """
    with _guard():
        summary = _load(spec, set_).summary()
        if fmt is Format.json:
            typer.echo(json.dumps(summary, indent=2))
            return
        console = _console()
        _print_table(console, _summary_table(summary))


def _summary_table(summary: Mapping[str, Any]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"{summary['model']}: input {_shape(summary['input_shape'])}", title_justify="left", show_edge=False
    )
    table.add_column("path", no_wrap=True)
    table.add_column("op")
    table.add_column("out shape", justify="right")
    table.add_column("params", justify="right")
    table.add_column("MACs", justify="right")
    nodes = summary["nodes"]
    for i, n in enumerate(nodes):
        container = i + 1 < len(nodes) and nodes[i + 1]["depth"] > n["depth"]
        blank = container and not n["params"] and not n["macs"]
        table.add_row(
            Text("  " * n["depth"] + n["path"], style="bold" if container else ""),
            Text(n["op"]),
            _shape(n["out_shape"]),
            "" if blank else f"{n['params']:,}",
            "" if blank else f"{n['macs']:,}",
        )
    table.add_section()
    table.add_row("total params", "", "", f"{summary['total_params']:,}", "", style="bold")
    table.add_row("trainable params", "", "", f"{summary['trainable_params']:,}", "")
    table.add_row("Keras count_params()", "", "", f"{summary['keras_params']:,}", "")
    table.add_row("MACs", "", "", "", f"{summary['macs']:,}", style="bold")
    return table


def compile_cmd(
    spec: SpecArg,
    target: Annotated[Target, typer.Option("--target", "-t", help="The framework to generate code for.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the module to FILE (atomically) instead of stdout."),
    ] = None,
    set_: SetOpt = None,
    force: ForceOpt = False,
    optimize: Annotated[
        bool, typer.Option("--optimize", help="Fuse operations where the target allows (same function, faster).")
    ] = False,
) -> None:
    """Generate a standalone PyTorch or Keras module from SPEC.

    Example: [bold]inceptgen compile @inception_v3 --target torch -o inception_v3.py[/bold]

    FILE is replaced atomically (an error leaves the old file intact); a file that
    inceptgen did not generate is only overwritten with --force.
    """
    with _guard():
        s = _load(spec, set_)
        text = s.source(target.value, optimize=optimize)
        if output is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        from inceptgen.output import write_generated

        write_generated(output, text, force=force)
        _status(f"wrote {output}: {target.value} module for model {s.model.name} ({len(text.splitlines())} lines)")


def specs_cmd() -> None:
    """List the specs of the standard library (use them as @name).

    Example: [bold]inceptgen specs[/bold], then [bold]inceptgen summary @inception_v3[/bold]
    """
    with _guard():
        from rich.table import Table
        from rich.text import Text

        from inceptgen.api import load
        from inceptgen.stdlib import list_specs, stdlib_path

        table = Table(show_edge=False)
        for name, justify in (("spec", "left"), ("model", "left"), ("parameters", "right"), ("description", "left")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        failed = []
        for name in list_specs():
            path = stdlib_path(name)
            try:
                s = load(path)
                model, params = s.model.name, f"{s.checked.total_params:,}"
            except InceptgenError as err:
                failed.append(render_error(err))
                model, params = "", Text("error", style="bold red")
            table.add_row(f"@{name}", model, params, Text(_description(path)))
        _print_table(_console(), table)
        if failed:
            _exit("\n".join(failed), EXIT_FAILED)


def _description(path: Path) -> str:
    """The first comment line of a spec file, without its `#`."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lstrip().startswith("#"):
                    return line.strip().lstrip("#").strip()
    except OSError:
        pass
    return ""


class DiagramFormat(StrEnum):
    """Output format of `diagram`."""

    svg = "svg"
    png = "png"
    dot = "dot"
    mermaid = "mermaid"


def diagram_cmd(
    spec: SpecArg,
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", metavar="FILE", help="FILE.svg, .png, .dot or .mmd (Mermaid); '-' writes text to stdout."
        ),
    ],
    set_: SetOpt = None,
    depth: Annotated[
        int | None,
        typer.Option(
            "--depth",
            min=0,
            metavar="N",
            help="Open N levels of stages, blocks and repeats; deeper ones are one node (default: every layer).",
        ),
    ] = None,
    params: Annotated[bool, typer.Option("--params", help="Show parameter counts.")] = False,
    fmt: Annotated[
        DiagramFormat | None, typer.Option("--format", help="Override the format FILE's suffix selects.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Draw SPEC's network: stages, blocks, branches, concats, residual sums, aux heads.

    Example: [bold]inceptgen diagram @googlenet -o googlenet.svg --depth 2[/bold]

    Every node shows its output shape. SVG and PNG need Graphviz's dot program
    (apt-get install graphviz); .dot and Mermaid .mmd text need nothing.
    """
    with _guard():
        s = _load(spec, set_)
        from inceptgen.diagram import write_diagram

        written = write_diagram(s, output, fmt.value if fmt else None, depth=depth, params=params, force=force)
        if output != "-":
            _status(f"wrote {output}: {written} diagram of model {s.model.name}")


# --------------------------------------------------------------------------- runtime commands
# Each imports its runtime module inside the function: torch and tensorflow load only here.


def parity_cmd(
    spec: SpecArg,
    set_: SetOpt = None,
    tol: Annotated[
        float,
        typer.Option(
            "--tol", min=0.0, help="Largest allowed relative difference: max |torch - keras| / max |torch output|."
        ),
    ] = 1e-4,
    batch: Annotated[
        int | None, typer.Option("--batch", min=1, metavar="N", help="Batch size (default: chosen by model size).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random weights and input batch.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    optimize: Annotated[
        Optimize, typer.Option("--optimize", help="Build this target from its --optimize source.")
    ] = Optimize.none,
) -> None:
    """Prove that the PyTorch and Keras builds of SPEC compute the same function.

    Example: [bold]inceptgen parity @inception_v3 --tol 1e-4 --batch 2[/bold]

    Copies random PyTorch weights into Keras by layer name, runs one batch through
    both and compares every output; exits 1 above the tolerance.
    """
    with _guard():
        s = _load(spec, set_)
        from inceptgen.runtime.parity import run_parity

        sizing = {} if batch is None else {"batch": batch}  # run_parity picks the batch by default
        report = run_parity(s, tol=tol, seed=seed, optimize=optimize.value, **sizing)
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=2))
        else:
            report.render(_console())
        if not report.ok:
            raise typer.Exit(EXIT_FAILED)


def convert_cmd(
    spec: SpecArg,
    checkpoint: Annotated[Path, typer.Argument(metavar="CHECKPOINT", help="The trained weights to read.")],
    out: Annotated[Path, typer.Argument(metavar="OUT", help="The converted weights to write.")],
    src: Annotated[Target, typer.Option("--from", help="Framework of CHECKPOINT (model.pt or .weights.h5).")],
    dst: Annotated[Target, typer.Option("--to", help="Framework to convert to.")],
    set_: SetOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists.")] = False,
) -> None:
    """Convert a trained checkpoint of SPEC between PyTorch and Keras.

    Example: [bold]inceptgen convert @cifar_mini --from torch --to keras run/model.pt model.weights.h5[/bold]
    """
    if src is dst:
        raise typer.BadParameter(f"--to must differ from --from (both {src.value})", param_hint="'--to'")
    with _guard():
        if not checkpoint.is_file():
            raise InceptgenError(f"no checkpoint file {str(checkpoint)!r}")
        if out.exists() and not force:
            raise InceptgenError(f"refusing to overwrite {str(out)!r}", hint="pass --force to replace it")
        s = _load(spec, set_)
        from inceptgen.runtime.convert import convert_checkpoint

        convert_checkpoint(s, src.value, dst.value, checkpoint=checkpoint, out=out, force=force)
        _status(f"wrote {out}: {dst.value} weights of model {s.model.name}")


class Optimizer(StrEnum):
    """The optimisers `train` offers (the same update rule in both frameworks)."""

    sgd = "sgd"
    adamw = "adamw"


class Precision(StrEnum):
    """Training and evaluation precision."""

    fp32 = "32"
    bf16 = "bf16"
    fp16 = "16"


DeviceOpt = Annotated[
    str | None,
    typer.Option("--device", metavar="DEVICE", help="auto (default: a GPU if there is one), cpu, cuda, cuda:N or mps."),
]
PrecisionOpt = Annotated[
    Precision | None,
    typer.Option("--precision", help="32 (default); bf16 or 16: autocast / Keras mixed precision (16 needs a GPU)."),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", min=0, metavar="N", help="Data-loading workers (default 0: in the training process)."),
]


def _given(**options: Any) -> dict[str, Any]:
    """The options the user set: the runtime holds the defaults (and run.json records them)."""
    return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in options.items() if v not in (None, False)}


def train_cmd(
    spec: SpecArg,
    target: Annotated[Target, typer.Option("--target", "-t", help="The framework to train in.")],
    data: Annotated[
        str,
        typer.Option(
            "--data", metavar="PATH", help="CIFAR-10/100 (folder or .tar.gz), an image folder, cifar10 or cifar100."
        ),
    ],
    set_: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="RUN_DIR", help="New folder for checkpoint, metrics and source (required unless --resume)."
        ),
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Passes over the training set.")] = 10,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Images per step: the global batch, over all processes.")
    ] = 128,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 0.1,
    limit_train: Annotated[
        int | None, typer.Option("--limit-train", min=1, metavar="N", help="Class-balanced training subset.")
    ] = None,
    limit_test: Annotated[
        int | None, typer.Option("--limit-test", min=1, metavar="N", help="Class-balanced test subset.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds weights, shuffling and augmentation.")] = 0,
    download: Annotated[bool, typer.Option("--download", help="Fetch CIFAR-10/100 when --data names it.")] = False,
    resume: Annotated[
        Path | None, typer.Option("--resume", metavar="RUN_DIR", help="Continue from this run's last finished epoch.")
    ] = None,
    label_smoothing: Annotated[
        float, typer.Option("--label-smoothing", min=0.0, max=1.0, help="Cross-entropy label smoothing, below 1.")
    ] = 0.0,
    optimizer: Annotated[
        Optimizer | None, typer.Option("--optimizer", help="sgd (default; Nesterov momentum) or adamw.")
    ] = None,
    momentum: Annotated[float | None, typer.Option("--momentum", min=0.0, help="SGD momentum (default 0.9).")] = None,
    weight_decay: Annotated[
        float | None, typer.Option("--weight-decay", min=0.0, help="Decoupled weight decay (default 5e-4).")
    ] = None,
    clip_grad_norm: Annotated[
        float | None, typer.Option("--clip-grad-norm", metavar="NORM", help="Clip the global gradient norm.")
    ] = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    workers: WorkersOpt = None,
    channels_last: Annotated[
        bool, typer.Option("--channels-last", help="PyTorch: NHWC memory format for model and inputs.")
    ] = False,
    compile_: Annotated[bool, typer.Option("--compile", help="PyTorch: torch.compile the model.")] = False,
    jit_compile: Annotated[bool, typer.Option("--jit-compile", help="Keras: XLA-compile the train step.")] = False,
    sync_bn: Annotated[bool, typer.Option("--sync-bn", help="PyTorch distributed: SyncBatchNorm.")] = False,
    replicas: Annotated[
        int | None,
        typer.Option("--replicas", min=1, metavar="N", help="Keras: MirroredStrategy over N GPUs (or logical CPUs)."),
    ] = None,
    tensorboard: Annotated[
        bool, typer.Option("--tensorboard", help="Also write TensorBoard event files to RUN_DIR/tensorboard.")
    ] = False,
    nproc_per_node: Annotated[
        int | None,
        typer.Option("--nproc-per-node", min=1, metavar="N", help="PyTorch: N processes on this machine (DDP)."),
    ] = None,
) -> None:
    """Train SPEC on CIFAR-10/100 or an image folder, and evaluate it after every epoch.

    Example: [bold]inceptgen train @cifar_mini --target torch --data cifar10-mini --epochs 5 --out runs/t[/bold]

    RUN_DIR receives run.json, metrics.jsonl, summary.json, the last and best checkpoints and the
    generated source. Several processes: [bold]torchrun --nproc-per-node 2 -m inceptgen train ...[/bold]
    """
    if out is None and resume is None:
        raise typer.BadParameter("give the run directory to create (or --resume RUN_DIR)", param_hint="'--out'")
    if lr <= 0:
        raise typer.BadParameter(f"must be positive, got {lr}", param_hint="'--lr'")
    if label_smoothing >= 1:
        raise typer.BadParameter(f"must be below 1, got {label_smoothing}", param_hint="'--label-smoothing'")
    if nproc_per_node is not None and nproc_per_node > 1:
        if target is not Target.torch:
            raise typer.BadParameter("is a PyTorch option; Keras uses --replicas", param_hint="'--nproc-per-node'")
        from inceptgen.runtime.training.launch import launch

        raise typer.Exit(launch(sys.argv[1:], nproc_per_node, resume or out))
    with _guard(), _quiet_on_other_ranks():
        s = _load(spec, set_)
        from inceptgen.runtime.train import train

        options = {
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "limit_train": limit_train,
            "limit_test": limit_test,
            "seed": seed,
            "download": download,
            "resume": resume,
            "label_smoothing": label_smoothing,
        }
        options |= _given(
            optimizer=optimizer,
            momentum=momentum,
            weight_decay=weight_decay,
            clip_grad_norm=clip_grad_norm,
            device=device,
            precision=precision,
            workers=workers,
            channels_last=channels_last,
            compile=compile_,
            jit_compile=jit_compile,
            sync_bn=sync_bn,
            replicas=replicas,
            tensorboard=tensorboard,
        )
        train(s, target.value, data=data, out=out, **options)  # reports progress and the final accuracy itself


@contextlib.contextmanager
def _quiet_on_other_ranks() -> Iterator[None]:
    """In a distributed run, an error every rank agreed on is printed by rank 0 alone.

    The other ranks wait for rank 0 to exit first (the launcher then stops them): were they
    to exit first, the launcher could stop rank 0 before it has printed the message.
    """
    try:
        yield
    except InceptgenError as err:
        if getattr(err, "all_ranks", False) and os.environ.get("RANK", "0") != "0":
            import time

            time.sleep(60)
            raise typer.Exit(EXIT_USAGE) from None
        raise


def evaluate_cmd(
    spec: SpecArg,
    target: Annotated[Target, typer.Option("--target", "-t", help="The framework of the checkpoint.")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", metavar="FILE", help="model.pt or model.weights.h5.")],
    data: Annotated[
        str, typer.Option("--data", metavar="PATH", help="CIFAR-10/100 (folder or .tar.gz) or image folder.")
    ],
    set_: SetOpt = None,
    limit_test: Annotated[
        int | None, typer.Option("--limit-test", min=1, metavar="N", help="Class-balanced test subset.")
    ] = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Score a saved checkpoint of SPEC on the test split (top-1, top-5, loss).

    Example: [bold]inceptgen evaluate @cifar_mini --target torch --checkpoint runs/t/model.pt --data cifar10-mini[/bold]

    Only the test split is read when run.json (the run's normalisation) lies beside the checkpoint.
    """
    with _guard():
        if not checkpoint.is_file():
            raise InceptgenError(f"no checkpoint file {str(checkpoint)!r}")
        s = _load(spec, set_)
        from inceptgen.runtime.train import evaluate

        options = _given(device=device, precision=precision, workers=workers)
        result = evaluate(s, target.value, checkpoint, data, limit_test, **options)
        extra = ", ".join(f"{k} {v}" for k, v in result.items() if k != "accuracy")
        typer.echo(f"accuracy {result['accuracy']:.4f}" + (f" ({extra})" if extra else ""))


class ExportFormat(StrEnum):
    """Output format of `export`."""

    onnx = "onnx"
    torch_export = "torch-export"
    keras = "keras"


def export_cmd(
    spec: SpecArg,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="onnx (.onnx), torch-export (.pt2) or keras (.keras).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="The file to write (default: MODEL.onnx, .pt2, .keras)."),
    ] = None,
    set_: SetOpt = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint", metavar="CKPT", help="Trained weights: model.pt or model.weights.h5 (either framework)."
        ),
    ] = None,
    opset: Annotated[
        int | None, typer.Option("--opset", metavar="N", help="ONNX opset (default: the exporter's).")
    ] = None,
    dynamic_batch: Annotated[
        bool, typer.Option("--dynamic-batch", help="A symbolic batch dimension (Keras models always have one).")
    ] = False,
    optimize: Annotated[
        bool, typer.Option("--optimize", help="Export the --optimize PyTorch build (batch-norm folded).")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
    tol: Annotated[
        float, typer.Option("--tol", min=0.0, help="Largest relative difference accepted when checking the file.")
    ] = 1e-5,
) -> None:
    """Export SPEC's model as ONNX, a torch.export program or a .keras file, checked.

    Example: [bold]inceptgen export @inception_v3 --format onnx --dynamic-batch -o v3.onnx[/bold]

    Before it replaces FILE, the file is run (onnxruntime, torch.export.load,
    Keras load_model in safe mode) against the build it came from; above --tol
    nothing is written and the exit status is 1.
    """
    with _guard():
        s = _load(spec, set_)
        from inceptgen.runtime.export import ExportMismatchError, export_model

        options = {"checkpoint": checkpoint, "opset": opset, "dynamic_batch": dynamic_batch, "optimize": optimize}
        try:
            report = export_model(s, fmt.value, output, force=force, tol=tol, **options)
        except ExportMismatchError as err:
            _exit(render_error(err), EXIT_FAILED)
        _status(report.line())


# --------------------------------------------------------------------------- the app

#: command name, function, runtime module it needs (None: always offered)
_COMMANDS: tuple[tuple[str, Callable[..., None], str | None], ...] = (
    ("check", check_cmd, None),
    ("summary", summary_cmd, None),
    ("compile", compile_cmd, None),
    ("specs", specs_cmd, None),
    ("diagram", diagram_cmd, None),
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


def build_app() -> typer.Typer:
    """The Typer application; runtime commands appear only where their module is installed."""
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
        if needs is None or _module_exists(needs):
            application.command(name)(function)
    return application


app = build_app()


def main() -> None:
    """Console entry point (`inceptgen`)."""
    app(prog_name="inceptgen")


if __name__ == "__main__":
    main()
