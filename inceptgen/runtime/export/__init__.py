"""`inceptgen export`: a spec's model as ONNX, a `torch.export` program (`.pt2`) or a `.keras` file.

Every file is checked before it replaces the output: ONNX by `onnx.checker` and a run
in onnxruntime, `.pt2` by `torch.export.load` and a run, `.keras` by
`keras.models.load_model(..., safe_mode=True)` and a run; each run is compared with
the PyTorch build of the spec (the Keras build for `.keras`) on the same random batch.
A difference above the tolerance writes nothing and raises `ExportMismatchError`.

Trained weights come from either framework's checkpoint (`model.pt`, a PyTorch state
dict, or `model.weights.h5`); the other framework's are converted by layer name with
`inceptgen.runtime.convert`.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from inceptgen.runtime.export.formats import random_inputs, write_keras, write_torch
from inceptgen.runtime.export.report import FORMATS, ExportError, ExportMismatchError, ExportReport
from inceptgen.runtime.export.weights import checkpoint_framework
from inceptgen.targets import target

__all__ = ["FORMATS", "ExportError", "ExportMismatchError", "ExportReport", "export_model", "checkpoint_framework"]

#: the extra that installs the ONNX tool chain, and the modules it provides
_ONNX_MODULES = ("onnx", "onnxruntime", "onnxscript")


def _output(spec: Any, fmt: str, output: Path | None, force: bool) -> Path:
    suffix = FORMATS[fmt][0]
    out = Path(f"{spec.model.name}{suffix}") if output is None else Path(output)
    if fmt == "keras" and out.suffix != ".keras":
        raise ExportError(f"a Keras model file must end in .keras, got {str(out)!r}")
    if out.exists() and not force:
        raise ExportError(f"refusing to overwrite {str(out)!r}: pass --force to replace it")
    return out


def _validate(fmt: str, opset: int | None, optimize: bool) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: one of {', '.join(FORMATS)}")
    if opset is not None and fmt != "onnx":
        raise ExportError(f"--opset applies to --format onnx only, not {fmt}")
    framework = FORMATS[fmt][1]
    if optimize and not target(framework).optimize:
        raise ExportError(f"--optimize: the {target(framework).framework} build has no optimised variant")


def _require(modules: tuple[str, ...], extra: str, fmt: str) -> None:
    """Import `modules` or say in one line which extra installs them."""
    if "keras" in modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:  # onnxscript fails to import without onnx: both are named then
        which = "which is" if len(missing) == 1 else "which are"
        raise ExportError(
            f"--format {fmt} needs {', '.join(missing)}, {which} not installed: pip install 'inceptgen[{extra}]'"
        )


def _max_rel(reference: np.ndarray, other: np.ndarray) -> float:
    from inceptgen.runtime.parity import compare

    return compare("main", reference, other).max_rel


def export_model(
    spec: Any,
    fmt: str,
    output: Path | None = None,
    *,
    checkpoint: Path | None = None,
    opset: int | None = None,
    dynamic_batch: bool = False,
    optimize: bool = False,
    force: bool = False,
    tol: float = 1e-5,
    seed: int = 0,
) -> ExportReport:
    """Export `spec`'s model to `output` (default `MODEL.onnx`, `.pt2` or `.keras` here), checked and atomically.

    Args:
        spec: an `inceptgen.Spec`.
        fmt: `onnx`, `torch-export` or `keras`.
        output: the file to write; an existing one only with `force`.
        checkpoint: trained weights, a PyTorch state dict (`*.pt`) or Keras weights (`*.weights.h5`).
        opset: the ONNX opset (default: the exporter's).
        dynamic_batch: a symbolic batch dimension (Keras models always have one).
        optimize: export the `--optimize` build (for inference: batch-norms folded, sibling 1x1 convs fused).
        force: replace an existing output.
        tol: largest accepted relative output difference of the written file.
        seed: seeds the check's random input.

    Raises:
        ExportError: bad arguments, a missing extra, a checkpoint of another model, an
            opset the exporter or onnxruntime refuses, an output that exists.
        ExportMismatchError: the written file computes something else (nothing is written).
    """
    from inceptgen.output import atomic_path

    _validate(fmt, opset, optimize)
    out = _output(spec, fmt, output, force)
    framework = FORMATS[fmt][1]
    _require_frameworks(fmt, framework, checkpoint)
    batches = (1, 3) if dynamic_batch or fmt == "keras" else (1,)
    inputs = random_inputs(spec, batches, seed)
    with atomic_path(out) as tmp:
        if framework == "keras":
            written = write_keras(spec, tmp, checkpoint, inputs, optimize)
        else:
            written = write_torch(spec, fmt, tmp, checkpoint, inputs, opset, dynamic_batch, optimize, seed)
        worst = max(_max_rel(e, g) for e, g in zip(written.expected, written.got, strict=True))
        if not worst <= tol:
            raise ExportMismatchError(
                f"{written.checker} gives outputs {worst:.2e} away from the {framework} build (tolerance {tol:g}); "
                f"{str(out)!r} not written"
            )
        size = tmp.stat().st_size
    return ExportReport(
        path=out,
        format=fmt,
        opset=written.opset,
        dynamic_batch=dynamic_batch or fmt == "keras",
        optimized=optimize,
        weights="random" if checkpoint is None else str(checkpoint),
        checked_with=written.checker,
        batches=batches,
        max_rel=worst,
        size=size,
        seconds=written.seconds,
        custom_layers=written.custom_layers,
    )


def _require_frameworks(fmt: str, framework: str, checkpoint: Path | None) -> None:
    """Import what the export needs (the build's, the ONNX tools, a checkpoint's framework) or name the extra."""
    other = None if checkpoint is None else checkpoint_framework(checkpoint)  # a bad checkpoint is said first
    _require((framework,), target(framework).extra, fmt)
    if fmt == "onnx":
        _require(_ONNX_MODULES, "export", fmt)
    if other is not None and other != framework:
        _require((other,), target(other).extra, fmt)
