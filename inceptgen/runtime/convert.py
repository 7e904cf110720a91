"""Weights between the two generated programs, by layer name.

A PyTorch module path equals the Keras layer name of the same node, so mapping is
one-to-one: conv kernels OIHW <-> HWIO, dense weights transposed, batch-norm
gamma, beta and running statistics copied. Every tensor must be consumed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from inceptgen.errors import InceptgenError
from inceptgen.targets import TARGETS

__all__ = ["torch_to_keras", "keras_to_torch", "convert_checkpoint", "ConversionError"]


class ConversionError(InceptgenError):
    """Weights do not fit the model they are loaded into."""


def _torch_arrays(module: Any) -> dict[str, np.ndarray]:
    return {
        k: v.detach().cpu().numpy() for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")
    }


def _keras_from_torch(layer: Any, t: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The weights of Keras `layer` (in its own order) from the torch tensors of the same module."""
    kind = type(layer).__name__
    if kind == "Conv2D":
        weights = [t["weight"].transpose(2, 3, 1, 0)]
    elif kind == "Dense":
        weights = [t["weight"].T]
    elif kind == "BatchNormalization":
        if not layer.scale and not np.allclose(t["weight"], 1.0):
            raise ConversionError(f"{layer.name}: batch-norm without scale needs gamma == 1 in the PyTorch weights")
        gamma = [t["weight"]] if layer.scale else []
        return [*gamma, t["bias"], t["running_mean"], t["running_var"]]
    else:
        raise ConversionError(f"no weight mapping for Keras layer {layer.name} ({kind})")
    return [*weights, t["bias"]] if "bias" in t else weights


def _torch_from_keras(layer: Any, w: list[np.ndarray]) -> dict[str, np.ndarray]:
    kind = type(layer).__name__
    if kind == "Conv2D":
        out = {"weight": w[0].transpose(3, 2, 0, 1)}
    elif kind == "Dense":
        out = {"weight": w[0].T}
    elif kind == "BatchNormalization":
        if not layer.scale:
            w = [np.ones_like(w[0]), *w]
        return dict(zip(("weight", "bias", "running_mean", "running_var"), w, strict=True))
    else:
        raise ConversionError(f"no weight mapping for Keras layer {layer.name} ({kind})")
    if len(w) > 1:
        out["bias"] = w[1]
    return out


def _by_module(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    grouped: dict[str, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        module, _, leaf = key.rpartition(".")
        grouped.setdefault(module, {})[leaf] = value
    return grouped


def _weighted_layers(keras_model: Any) -> list[Any]:
    return [layer for layer in keras_model.layers if layer.weights]


def _path(layer: Any) -> str:
    """The PyTorch module path of a Keras layer (see `Target.separator`)."""
    return TARGETS["keras"].node_path(layer.name)


def torch_to_keras(torch_model: Any, keras_model: Any) -> None:
    """Copy every PyTorch parameter and batch-norm statistic into the Keras model."""
    modules = _by_module(_torch_arrays(torch_model))
    for layer in _weighted_layers(keras_model):
        if _path(layer) not in modules:
            raise ConversionError(f"Keras layer {layer.name!r} has no PyTorch counterpart")
        layer.set_weights(_keras_from_torch(layer, modules.pop(_path(layer))))
    if modules:
        raise ConversionError(f"PyTorch tensors left without a Keras layer: {', '.join(sorted(modules))}")


def keras_to_torch(keras_model: Any, torch_model: Any) -> None:
    """Copy every Keras weight into the PyTorch model (strictly: all keys must match)."""
    import torch

    state: dict[str, Any] = {}
    for layer in _weighted_layers(keras_model):
        for leaf, value in _torch_from_keras(layer, layer.get_weights()).items():
            state[f"{_path(layer)}.{leaf}"] = torch.from_numpy(np.ascontiguousarray(value))
    current = torch_model.state_dict()
    for key, value in current.items():
        if key.endswith("num_batches_tracked"):
            state[key] = value
    missing = set(current) - set(state)
    extra = set(state) - set(current)
    if missing or extra:
        raise ConversionError(f"weights do not match: missing {sorted(missing)[:5]}, unexpected {sorted(extra)[:5]}")
    torch_model.load_state_dict({k: v.to(current[k].dtype) for k, v in state.items()})


def convert_checkpoint(spec: Any, src: str, dst: str, checkpoint: Path, out: Path, force: bool = False) -> None:
    """`inceptgen convert`: a PyTorch state dict <-> a Keras `.weights.h5` for the same spec."""
    import torch

    from inceptgen.output import atomic_path

    if src == dst or src not in TARGETS or dst not in TARGETS:
        raise InceptgenError(f"convert goes between two of {', '.join(TARGETS)}, not {src} -> {dst}")
    if not checkpoint.is_file():
        raise InceptgenError(f"checkpoint {str(checkpoint)!r} does not exist")
    if out.exists() and not force:
        raise InceptgenError(f"{str(out)!r} exists; pass --force to replace it")
    torch_model, keras_model = spec.to_torch(), spec.to_keras(aux_outputs=True)
    if src == "torch":
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is a user error
            raise InceptgenError(f"cannot read PyTorch checkpoint {str(checkpoint)!r}: {exc}") from None
        _load_torch_state(torch_model, state)
        torch_to_keras(torch_model, keras_model)
        with atomic_path(out, suffix=".weights.h5") as tmp:
            keras_model.save_weights(tmp)
    else:
        try:
            keras_model.load_weights(checkpoint)
        except Exception as exc:  # noqa: BLE001
            raise InceptgenError(f"cannot read Keras weights {str(checkpoint)!r}: {exc}") from None
        keras_to_torch(keras_model, torch_model)
        with atomic_path(out, suffix=".pt") as tmp:
            torch.save(torch_model.state_dict(), tmp)


def _load_torch_state(model: Any, state: Any) -> None:
    if not isinstance(state, dict):
        raise InceptgenError("the PyTorch checkpoint is not a state dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ConversionError(f"the checkpoint does not fit this spec: {first}") from None
