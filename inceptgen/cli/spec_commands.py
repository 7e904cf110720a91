"""The commands that read a spec without running it: check, summary, compile, specs, diagram.

None of them imports torch, tensorflow or keras.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from inceptgen import __version__
from inceptgen.cli.common import (
    ForceOpt,
    Format,
    SetOpt,
    SpecArg,
    Target,
    VariantOpt,
    fmt_shape,
    load_spec,
    main_output,
    make_console,
    print_table,
    status,
)  # fmt: skip
from inceptgen.cli.errors import EXIT_FAILED, State, exit_with, guard, render_error
from inceptgen.errors import InceptgenError

if TYPE_CHECKING:
    from rich.table import Table

    from inceptgen.api import Spec


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
    State.debug = debug


def check_cmd(spec: SpecArg, set_: SetOpt = None, variant: VariantOpt = None) -> None:
    """Parse and shape-check SPEC; print a one-line verdict.

    Example: [bold]inceptgen check @inception_v3 --set classes=10[/bold]

    Without --variant, every variant of the spec is checked too, one line each.
    Warnings (such as a block defined and never used) go to stderr as
    file:line:col: warning: ...; any error exits with status 2.
    """
    with guard():
        s = load_spec(spec, set_, variant)
        typer.echo(f"ok: {spec}: {_verdict(s)}")
        for other in s.model.variants if variant is None else ():
            typer.echo(f"ok: {spec} --variant {other.name}: {_verdict(s.with_variant(other.name))}")


def _verdict(s: Spec) -> str:
    return f"{s.model.name} {s.checked.total_params:,} parameters, output {fmt_shape(main_output(s))}"


def summary_cmd(
    spec: SpecArg,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="table (Rich) or json (to stdout).")] = Format.table,
) -> None:
    """Per-node output shape, parameters and MACs of SPEC, with totals.

    Example: [bold]inceptgen summary @inception_v3 --format json > v3.json[/bold]

    Parameters follow PyTorch (batch-norm running statistics are not parameters);
    the Keras count includes them, as count_params() does.
    """
    with guard():
        summary = load_spec(spec, set_, variant).summary()
        if fmt is Format.json:
            typer.echo(json.dumps(summary, indent=2))
            return
        console = make_console()
        print_table(console, _summary_table(summary))


def _summary_table(summary: Mapping[str, Any]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"{summary['model']}: input {fmt_shape(summary['input_shape'])}", title_justify="left", show_edge=False
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
            fmt_shape(n["out_shape"]),
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
    variant: VariantOpt = None,
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
    with guard():
        s = load_spec(spec, set_, variant)
        text = s.source(target.value, optimize=optimize)
        if output is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        from inceptgen.output import write_generated

        write_generated(output, text, force=force)
        status(f"wrote {output}: {target.value} module for model {s.model.name} ({len(text.splitlines())} lines)")


def specs_cmd() -> None:
    """List the specs of the standard library (use them as @name), with their variants.

    Example: [bold]inceptgen specs[/bold], then [bold]inceptgen summary @efficientnet_b0 --variant b1[/bold]
    """
    with guard():
        from rich.table import Table
        from rich.text import Text

        from inceptgen.api import load
        from inceptgen.stdlib import list_libraries, list_specs, stdlib_path

        table = Table(show_edge=False)
        columns = (("spec", "left"), ("model", "left"), ("parameters", "right"), ("variants", "left"))
        for name, justify in (*columns, ("description", "left")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        failed = []
        for name in list_specs():
            path = stdlib_path(name)
            try:
                s = load(path)
                model, params = s.model.name, f"{s.checked.total_params:,}"
                variants = ", ".join(v.name for v in s.model.variants)
            except InceptgenError as err:
                failed.append(render_error(err))
                model, params, variants = "", Text("error", style="bold red"), ""
            table.add_row(f"@{name}", model, params, variants, Text(_description(path)))
        console = make_console()
        print_table(console, table)
        libraries = Table(show_edge=False)
        for column in ("block library (import it)", "description"):
            libraries.add_column(column)
        for name in list_libraries():
            libraries.add_row(f'import "@{name}"', Text(_description(stdlib_path(name))))
        console.print()
        print_table(console, libraries)
        if failed:
            exit_with("\n".join(failed), EXIT_FAILED)


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
    variant: VariantOpt = None,
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
    with guard():
        s = load_spec(spec, set_, variant)
        from inceptgen.diagram import write_diagram

        written = write_diagram(s, output, fmt.value if fmt else None, depth=depth, params=params, force=force)
        if output != "-":
            status(f"wrote {output}: {written} diagram of model {s.model.name}")
