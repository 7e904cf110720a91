"""What every command shares: the SPEC argument and its options, loading a spec, tables, status lines."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from inceptgen.cli.errors import render_diagnostic
from inceptgen.errors import InceptgenError
from inceptgen.targets import TARGET_NAMES, TARGETS

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from inceptgen.api import Spec


#: A framework inceptgen generates code for (from the registry, `inceptgen.targets`).
Target = StrEnum("Target", {name: name for name in TARGET_NAMES})


class Format(StrEnum):
    """Output format of `summary`."""

    table = "table"
    json = "json"


#: Which target `parity` builds from optimised source: those that have an `--optimize` build.
Optimize = StrEnum("Optimize", {**{t.name: t.name for t in TARGETS.values() if t.optimize}, "none": "none"})


# --------------------------------------------------------------------------- helpers

SpecArg = Annotated[
    str, typer.Argument(metavar="SPEC", help="A .incept file, or @name for a spec of the library (see `specs`).")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="NAME=VALUE", help="Override a model parameter, e.g. classes=10; repeatable."),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing output that inceptgen did not write.")]
VariantOpt = Annotated[
    str | None,
    typer.Option("--variant", metavar="NAME", help="One of the spec's variants (`inceptgen specs` lists them)."),
]


def parse_sets(pairs: Sequence[str]) -> dict[str, str]:
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


def load_spec(spec_arg: str, sets: Sequence[str] | None, variant: str | None = None) -> Spec:
    """Load SPEC (a path or `@name`) with `--set` overrides and `--variant`; print its warnings to stderr."""
    from inceptgen.api import load

    target: str | Path = spec_arg if spec_arg.startswith("@") else Path(spec_arg)
    spec = load(target, overrides=parse_sets(sets or ()), variant=variant)
    for message, span in spec.warnings:
        typer.echo(render_diagnostic("warning", message, span), err=True)
    return spec


def fmt_shape(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape)


def main_output(spec: Spec) -> Sequence[int]:
    outputs = spec.checked.outputs
    return outputs["main"] if "main" in outputs else next(iter(outputs.values()))


def make_console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def print_table(console: Console, table: Table) -> None:
    """Print `table`; when stdout is not a terminal, at its natural width instead of 80 columns."""
    if not console.is_terminal:
        from rich.measure import Measurement

        wide = console.options.update(max_width=10_000)
        console.width = max(console.width, Measurement.get(console, wide, table).maximum)
    console.print(table)


def status(message: str) -> None:
    typer.echo(message, err=True)
