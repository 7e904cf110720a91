"""Each format's writer: export the build, read the file back, run both on the same batches."""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inceptgen.runtime.export.report import ExportError
from inceptgen.runtime.export.weights import first_line, keras_model, torch_model

__all__ = ["Written", "random_inputs", "write_keras", "write_torch"]


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


def random_inputs(spec: Any, batches: tuple[int, ...], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((b, *spec.checked.input_shape), dtype=np.float32) for b in batches]


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
        raise ExportError(f"onnx.checker rejects the exported model: {first_line(exc)}") from None
    program.save(tmp, external_data=False)
    return actual


def _run_onnx(path: Path, inputs: list[np.ndarray], opset: int) -> tuple[list[np.ndarray], str]:
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime refusing the file is the answer
        raise ExportError(f"onnxruntime {ort.__version__} cannot load opset {opset}: {first_line(exc)}") from None
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
class Written:
    """One exported file's check: every output of the build and of the file, per input batch."""

    expected: list[np.ndarray]
    got: list[np.ndarray]
    checker: str
    seconds: float
    opset: int | None = None
    custom_layers: tuple[str, ...] = ()


def write_torch(
    spec: Any,
    fmt: str,
    tmp: Path,
    checkpoint: Path | None,
    inputs: list[np.ndarray],
    opset: int | None,
    dynamic_batch: bool,
    optimize: bool,
    seed: int,
) -> Written:
    import torch

    reference, model = torch_model(spec, checkpoint, optimize)
    # torch.export treats a size-1 dimension as fixed: a dynamic batch needs a larger example
    example = torch.from_numpy(random_inputs(spec, (2 if dynamic_batch else 1,), seed + 1)[0])
    start = time.perf_counter()
    written_opset = None
    if fmt == "onnx":
        written_opset = _onnx(model, example, tmp, opset, dynamic_batch)
    else:
        _torch_export(model, example, tmp, dynamic_batch)
    seconds = time.perf_counter() - start
    expected = [_torch_reference(reference, x) for x in inputs]
    got, checker = _run_onnx(tmp, inputs, written_opset or 0) if fmt == "onnx" else _run_pt2(tmp, inputs)
    return Written(expected, got, checker, seconds, written_opset)


def _keras_outputs(model: Any, x: np.ndarray) -> np.ndarray:
    """All outputs of a Keras model (aux heads too) on an NCHW batch, flattened into one array."""
    out = model(x.transpose(0, 2, 3, 1), training=False)
    outs = out if isinstance(out, list | tuple) else [out]
    return np.concatenate([np.asarray(o).reshape(len(x), -1) for o in outs], axis=1)


def write_keras(spec: Any, tmp: Path, checkpoint: Path | None, inputs: list[np.ndarray], optimize: bool) -> Written:
    import keras

    reference, model = keras_model(spec, checkpoint, optimize)
    start = time.perf_counter()
    model.save(tmp)
    seconds = time.perf_counter() - start
    loaded = keras.models.load_model(tmp, safe_mode=True)
    expected = [_keras_outputs(reference, x) for x in inputs]
    got = [_keras_outputs(loaded, x) for x in inputs]
    return Written(expected, got, "keras.models.load_model", seconds, custom_layers=_custom_layers(model))


def _custom_layers(model: Any) -> tuple[str, ...]:
    """The classes of `model` registered by the generated module (`inceptgen>Pad2D`, ...)."""
    import keras

    names = {keras.saving.get_registered_name(type(layer)) for layer in model.layers}
    return tuple(sorted(n.partition(">")[2] for n in names if n.startswith("inceptgen>")))
