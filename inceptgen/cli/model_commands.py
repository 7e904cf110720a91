"""The commands that build models: parity, convert, export.

Each imports its `inceptgen.runtime` module inside the command: torch and keras load only here.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from inceptgen.cli.common import Optimize, SetOpt, SpecArg, Target, VariantOpt, load_spec, make_console, status
from inceptgen.cli.errors import EXIT_FAILED, exit_with, guard, render_error
from inceptgen.errors import InceptgenError


def parity_cmd(
    spec: SpecArg,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    tol: Annotated[
        float,
        typer.Option(
            "--tol", min=0.0, help="Largest allowed relative difference: max |torch - keras| / max |torch output|."
        ),
    ] = 1e-4,
    batch: Annotated[
        int | None, typer.Option("--batch", min=1, metavar="N", help="Batch size of the random input (default: 2).")
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
    with guard():
        s = load_spec(spec, set_, variant)
        from inceptgen.runtime.parity import run_parity

        sizing = {} if batch is None else {"batch": batch}  # run_parity's own default (2) otherwise
        report = run_parity(s, tol=tol, seed=seed, optimize=optimize.value, **sizing)
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=2))
        else:
            report.render(make_console())
        if not report.ok:
            raise typer.Exit(EXIT_FAILED)


def convert_cmd(
    spec: SpecArg,
    checkpoint: Annotated[Path, typer.Argument(metavar="CHECKPOINT", help="The trained weights to read.")],
    out: Annotated[Path, typer.Argument(metavar="OUT", help="The converted weights to write.")],
    src: Annotated[Target, typer.Option("--from", help="Framework of CHECKPOINT (model.pt or .weights.h5).")],
    dst: Annotated[Target, typer.Option("--to", help="Framework to convert to.")],
    set_: SetOpt = None,
    variant: VariantOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists.")] = False,
) -> None:
    """Convert a trained checkpoint of SPEC between PyTorch and Keras.

    Example: [bold]inceptgen convert @cifar_mini --from torch --to keras run/model.pt model.weights.h5[/bold]
    """
    if src is dst:
        raise typer.BadParameter(f"--to must differ from --from (both {src.value})", param_hint="'--to'")
    with guard():
        if not checkpoint.is_file():
            raise InceptgenError(f"no checkpoint file {str(checkpoint)!r}")
        if out.exists() and not force:
            raise InceptgenError(f"refusing to overwrite {str(out)!r}", hint="pass --force to replace it")
        s = load_spec(spec, set_, variant)
        from inceptgen.runtime.convert import convert_checkpoint

        convert_checkpoint(s, src.value, dst.value, checkpoint=checkpoint, out=out, force=force)
        status(f"wrote {out}: {dst.value} weights of model {s.model.name}")


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
    variant: VariantOpt = None,
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
        bool, typer.Option("--optimize", help="Export the --optimize build (for inference: batch-norm folded).")
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
    with guard():
        s = load_spec(spec, set_, variant)
        from inceptgen.runtime.export import ExportMismatchError, export_model

        options = {"checkpoint": checkpoint, "opset": opset, "dynamic_batch": dynamic_batch, "optimize": optimize}
        try:
            report = export_model(s, fmt.value, output, force=force, tol=tol, **options)
        except ExportMismatchError as err:
            exit_with(render_error(err), EXIT_FAILED)
        status(report.line())
