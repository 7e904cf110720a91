"""The weights an export starts from: random, or a checkpoint of either framework, converted by layer name."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inceptgen.errors import InceptgenError
from inceptgen.runtime.export.report import ExportError

__all__ = ["checkpoint_framework", "first_line", "keras_model", "torch_model"]


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


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _load_torch_checkpoint(model: Any, path: Path) -> None:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
        raise ExportError(f"cannot read PyTorch checkpoint {str(path)!r}: {first_line(exc)}") from None
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
        first = first_line(exc).partition(". ")[0]
        raise ExportError(f"checkpoint {str(path)!r} does not fit this spec (Keras: {first})") from None


def _convert(convert: Callable[[Any, Any], None], src: Any, dst: Any, path: Path) -> None:
    try:
        convert(src, dst)
    except InceptgenError as exc:
        raise ExportError(f"checkpoint {str(path)!r} does not fit this spec: {exc.message}") from None


def torch_model(spec: Any, checkpoint: Path | None, optimize: bool) -> tuple[Any, Any]:
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


def keras_model(spec: Any, checkpoint: Path | None, optimize: bool) -> tuple[Any, Any]:
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
