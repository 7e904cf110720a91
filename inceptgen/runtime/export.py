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

import contextlib
import importlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inceptgen.errors import InceptgenError
from inceptgen.targets import target

__all__ = ["FORMATS", "ExportError", "ExportMismatchError", "ExportReport", "export_model", "checkpoint_framework"]

#: format -> (file suffix, framework it is built from)
FORMATS: dict[str, tuple[str, str]] = {
    "onnx": (".onnx", "torch"),
    "torch-export": (".pt2", "torch"),
    "keras": (".keras", "keras"),
}

#: the extra that installs the ONNX tool chain, and the modules it provides
_ONNX_MODULES = ("onnx", "onnxruntime", "onnxscript")


class ExportError(InceptgenError):
    """The export cannot be done as asked (bad arguments, a checkpoint that does not fit, a missing extra)."""


class ExportMismatchError(InceptgenError):
    """The exported file ran, but its outputs differ from the build it came from by more than the tolerance."""


@dataclass(frozen=True)
class ExportReport:
    """What `export_model` wrote and how it was checked.

    Attributes:
        path: the file written.
        format: `onnx`, `torch-export` or `keras`.
        opset: the ONNX opset of the file (None for other formats).
        dynamic_batch: whether the batch dimension is symbolic.
        optimized: built from the `--optimize` source.
        weights: `random` or the checkpoint read.
        checked_with: what ran the file (`onnxruntime 1.20.0`, `torch.export.load`, ...).
        batches: the batch sizes it was run with.
        max_rel: largest absolute output difference over the largest absolute reference output.
        size: bytes written.
        seconds: wall time of the export itself (without the check).
        custom_layers: inceptgen's own Keras layer classes the `.keras` file uses; loading
            it needs them registered, by importing the generated Keras module first.
    """

    path: Path
    format: str
    opset: int | None
    dynamic_batch: bool
    optimized: bool
    weights: str
    checked_with: str
    batches: tuple[int, ...]
    max_rel: float
    size: int
    seconds: float
    custom_layers: tuple[str, ...] = ()

    def line(self) -> str:
        """One line for the terminal."""
        kind = {"onnx": f"ONNX opset {self.opset}", "torch-export": "torch.export program", "keras": "Keras model"}
        batch = "dynamic batch" if self.dynamic_batch else f"batch {self.batches[0]}"
        built = ", optimized" if self.optimized else ""
        needs = ""
        if self.custom_layers:
            needs = (
                f"; it uses inceptgen's {', '.join(self.custom_layers)}: import the module of "
                "`inceptgen compile SPEC --target keras` before loading it"
            )
        return (
            f"wrote {self.path}: {kind[self.format]} ({batch}{built}, weights {self.weights}, "
            f"{self.size / 1e6:.1f} MB, {self.seconds:.1f} s); {self.checked_with} matches the "
            f"{FORMATS[self.format][1]} build to {self.max_rel:.1e} (max relative difference, "
            f"batch {', '.join(map(str, self.batches))}){needs}"
        )


# --------------------------------------------------------------------------- arguments


def checkpoint_framework(path: Path) -> str:
    """`torch` for a PyTorch state dict (`.pt`, `.pth`), `keras` for Keras weights (`.weights.h5`).

    Raises:
        ExportError: the file is missing or its name says neither.
    """
    if not path.is_file():
        raise ExportError(f"no checkpoint file {str(path)!r}")
    name = path.name.lower()
    if name.endswith(".h5"):
        return "keras"
    if name.endswith((".pt", ".pth")):
        return "torch"
    raise ExportError(
        f"cannot tell the framework of checkpoint {str(path)!r}: expected a PyTorch state dict (*.pt, *.pth) "
        "or Keras weights (*.weights.h5)"
    )


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
    if missing:
        raise ExportError(
            f"--format {fmt} needs {', '.join(missing)}, which is not installed: pip install 'inceptgen[{extra}]'"
        )


# --------------------------------------------------------------------------- weights


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _load_torch_checkpoint(model: Any, path: Path) -> None:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
        raise ExportError(f"cannot read PyTorch checkpoint {str(path)!r}: {_first_line(exc)}") from None
    if not isinstance(state, dict):
        raise ExportError(f"{str(path)!r} is not a PyTorch state dict")
    problem = _state_mismatch(model.state_dict(), state)
    if problem:
        raise ExportError(f"checkpoint {str(path)!r} does not fit this spec: {problem}")
    model.load_state_dict(state)


def _state_mismatch(expected: dict[str, Any], state: dict[str, Any]) -> str | None:
    """What keeps `state` from loading into a model with `expected` (None: it fits)."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = [f"{len(missing)} tensors missing"] + ([f"e.g. {missing[0]!r}"] if missing else [])
        parts += [f"{len(unexpected)} unexpected"] + ([f"e.g. {unexpected[0]!r}"] if unexpected else [])
        return ", ".join(parts)
    for key, tensor in expected.items():
        if tuple(getattr(state[key], "shape", ())) != tuple(tensor.shape):
            return f"{key!r} is {tuple(state[key].shape)} there and {tuple(tensor.shape)} here"
    return None


def _load_keras_checkpoint(model: Any, path: Path) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # Keras only warns about a file of another model
            model.load_weights(path)
    except Exception as exc:  # noqa: BLE001
        first = _first_line(exc).partition(". ")[0]
        raise ExportError(f"checkpoint {str(path)!r} does not fit this spec (Keras: {first})") from None


def _convert(convert: Callable[[Any, Any], None], src: Any, dst: Any, path: Path) -> None:
    try:
        convert(src, dst)
    except InceptgenError as exc:
        raise ExportError(f"checkpoint {str(path)!r} does not fit this spec: {exc.message}") from None


def _torch_model(spec: Any, checkpoint: Path | None, optimize: bool) -> tuple[Any, Any]:
    """The PyTorch reference build (trained weights if given) and the model to export."""
    reference = spec.to_torch().eval()
    if checkpoint is not None and checkpoint_framework(checkpoint) == "torch":
        _load_torch_checkpoint(reference, checkpoint)
    elif checkpoint is not None:
        from inceptgen.runtime.convert import keras_to_torch

        keras_model = spec.to_keras(aux_outputs=True)  # a trained checkpoint holds the aux heads too
        _load_keras_checkpoint(keras_model, checkpoint)
        _convert(keras_to_torch, keras_model, reference, checkpoint)
    if not optimize:
        return reference, reference
    model = spec.to_torch(optimize=True)
    model.load_reference(reference)
    return reference, model.eval()


def _keras_model(spec: Any, checkpoint: Path | None, optimize: bool) -> tuple[Any, Any]:
    """The Keras reference build (trained weights if given) and the model to export."""
    reference = _keras_reference(spec, checkpoint)
    if not optimize:
        return reference, reference
    return reference, spec.to_keras(optimize=True, reference=reference)


def _keras_reference(spec: Any, checkpoint: Path | None) -> Any:
    import keras

    model = spec.to_keras(aux_outputs=True)  # weights are loaded with the aux heads, as training saved them
    if checkpoint is not None and checkpoint_framework(checkpoint) == "keras":
        _load_keras_checkpoint(model, checkpoint)
    elif checkpoint is not None:
        from inceptgen.runtime.convert import torch_to_keras

        torch_model = spec.to_torch().eval()
        _load_torch_checkpoint(torch_model, checkpoint)
        _convert(torch_to_keras, torch_model, model, checkpoint)
    if len(model.outputs) > 1:  # the exported model infers: its main output only
        model = keras.Model(model.inputs, model.outputs[0], name=model.name)
    return model


# --------------------------------------------------------------------------- exporters


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' progress logs and warnings (they print tracebacks they recover from)."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript", "torch._dynamo")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.CRITICAL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _inputs(spec: Any, batches: tuple[int, ...], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((b, *spec.checked.input_shape), dtype=np.float32) for b in batches]


def _max_rel(reference: np.ndarray, other: np.ndarray) -> float:
    from inceptgen.runtime.parity import compare

    return compare("main", reference, other).max_rel


def _torch_reference(model: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _dynamic_shapes(dynamic_batch: bool) -> Any:
    import torch

    return ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None


def _onnx(model: Any, example: Any, tmp: Path, opset: int | None, dynamic_batch: bool) -> int:
    """Export to `tmp`, check it with onnx.checker; return the file's opset."""
    import onnx
    import torch

    newest = onnx.defs.onnx_opset_version()
    if opset is not None and not 1 <= opset <= newest:
        raise ExportError(f"--opset {opset}: onnx {onnx.__version__} knows opsets 1 to {newest}")
    with _quiet():
        program = torch.onnx.export(
            model,
            (example,),
            None,
            dynamo=True,
            opset_version=opset,
            dynamic_shapes=_dynamic_shapes(dynamic_batch),
            input_names=["input"],
            output_names=["main"],
            external_data=False,
            verbose=False,
        )
    proto = program.model_proto
    actual = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    if opset is not None and actual != opset:
        # the exporter falls back to its own opset when it cannot convert the graph
        raise ExportError(
            f"--opset {opset}: torch.onnx cannot express this model in opset {opset} (it produced {actual}); "
            f"choose {actual} or later"
        )
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejects the exported model: {_first_line(exc)}") from None
    program.save(tmp, external_data=False)
    return actual


def _run_onnx(path: Path, inputs: list[np.ndarray], opset: int) -> tuple[list[np.ndarray], str]:
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime refusing the file is the answer
        raise ExportError(f"onnxruntime {ort.__version__} cannot load opset {opset}: {_first_line(exc)}") from None
    return [session.run(None, {"input": x})[0] for x in inputs], f"onnxruntime {ort.__version__}"


def _torch_export(model: Any, example: Any, tmp: Path, dynamic_batch: bool) -> None:
    import torch

    with _quiet():
        program = torch.export.export(model, (example,), dynamic_shapes=_dynamic_shapes(dynamic_batch))
    torch.export.save(program, tmp)


def _run_pt2(path: Path, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], str]:
    import torch

    module = torch.export.load(path).module()
    with torch.no_grad():
        return [module(torch.from_numpy(x)).numpy() for x in inputs], "torch.export.load"


@dataclass(frozen=True)
class _Written:
    """One exported file's check: every output of the build and of the file, per input batch."""

    expected: list[np.ndarray]
    got: list[np.ndarray]
    checker: str
    seconds: float
    opset: int | None = None
    custom_layers: tuple[str, ...] = ()


def _write_torch(
    spec: Any,
    fmt: str,
    tmp: Path,
    checkpoint: Path | None,
    inputs: list[np.ndarray],
    opset: int | None,
    dynamic_batch: bool,
    optimize: bool,
    seed: int,
) -> _Written:
    import torch

    reference, model = _torch_model(spec, checkpoint, optimize)
    # torch.export treats a size-1 dimension as fixed: a dynamic batch needs a larger example
    example = torch.from_numpy(_inputs(spec, (2 if dynamic_batch else 1,), seed + 1)[0])
    start = time.perf_counter()
    written_opset = None
    if fmt == "onnx":
        written_opset = _onnx(model, example, tmp, opset, dynamic_batch)
    else:
        _torch_export(model, example, tmp, dynamic_batch)
    seconds = time.perf_counter() - start
    expected = [_torch_reference(reference, x) for x in inputs]
    got, checker = _run_onnx(tmp, inputs, written_opset or 0) if fmt == "onnx" else _run_pt2(tmp, inputs)
    return _Written(expected, got, checker, seconds, written_opset)


def _keras_outputs(model: Any, x: np.ndarray) -> np.ndarray:
    """All outputs of a Keras model (aux heads too) on an NCHW batch, flattened into one array."""
    out = model(x.transpose(0, 2, 3, 1), training=False)
    outs = out if isinstance(out, list | tuple) else [out]
    return np.concatenate([np.asarray(o).reshape(len(x), -1) for o in outs], axis=1)


def _write_keras(spec: Any, tmp: Path, checkpoint: Path | None, inputs: list[np.ndarray], optimize: bool) -> _Written:
    import keras

    reference, model = _keras_model(spec, checkpoint, optimize)
    start = time.perf_counter()
    model.save(tmp)
    seconds = time.perf_counter() - start
    loaded = keras.models.load_model(tmp, safe_mode=True)
    expected = [_keras_outputs(reference, x) for x in inputs]
    got = [_keras_outputs(loaded, x) for x in inputs]
    return _Written(expected, got, "keras.models.load_model", seconds, custom_layers=_custom_layers(model))


def _custom_layers(model: Any) -> tuple[str, ...]:
    """The classes of `model` registered by the generated module (`inceptgen>Pad2D`, ...)."""
    import keras

    names = {keras.saving.get_registered_name(type(layer)) for layer in model.layers}
    return tuple(sorted(n.partition(">")[2] for n in names if n.startswith("inceptgen>")))


# --------------------------------------------------------------------------- the command


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
    if checkpoint is not None:
        checkpoint_framework(checkpoint)
    framework = FORMATS[fmt][1]
    _require((framework,), target(framework).extra, fmt)
    if fmt == "onnx":
        _require(_ONNX_MODULES, "export", fmt)
    if checkpoint is not None and checkpoint_framework(checkpoint) != framework:
        other = checkpoint_framework(checkpoint)
        _require((other,), target(other).extra, fmt)
    batches = (1, 3) if dynamic_batch or fmt == "keras" else (1,)
    inputs = _inputs(spec, batches, seed)
    with atomic_path(out) as tmp:
        if framework == "keras":
            written = _write_keras(spec, tmp, checkpoint, inputs, optimize)
        else:
            written = _write_torch(spec, fmt, tmp, checkpoint, inputs, opset, dynamic_batch, optimize, seed)
        worst = max(_max_rel(e, g) for e, g in zip(written.expected, written.got, strict=True))
        if not worst <= tol:
            raise ExportMismatchError(
                f"{written.checker} gives outputs {worst:.2e} away from the {framework} build (tolerance {tol:g}); "
                f"{str(out)!r} not written"
            )
        size = tmp.stat().st_size
    return ExportReport(
        out,
        fmt,
        written.opset,
        dynamic_batch or fmt == "keras",
        optimize,
        "random" if checkpoint is None else str(checkpoint),
        written.checker,
        batches,
        worst,
        size,
        written.seconds,
        written.custom_layers,
    )
