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
from inceptgen.runtime.training.run_dir import verify_digest, write_digest
from inceptgen.targets import TARGETS

__all__ = ["torch_to_keras", "keras_to_torch", "convert_checkpoint", "ConversionError"]


class ConversionError(InceptgenError):
    """Weights do not fit the model they are loaded into."""


def _torch_arrays(module: Any) -> dict[str, np.ndarray]:
    return {
        k: v.detach().cpu().numpy() for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")
    }


def _conv_to_keras(layer: Any, t: dict[str, np.ndarray]) -> list[np.ndarray]:
    return _with_bias([t["weight"].transpose(2, 3, 1, 0)], t)  # OIHW -> HWIO


def _conv_to_torch(layer: Any, w: list[np.ndarray]) -> dict[str, np.ndarray]:
    return _bias_of({"weight": w[0].transpose(3, 2, 0, 1)}, w, 1)


def _depthwise_to_keras(layer: Any, t: dict[str, np.ndarray]) -> list[np.ndarray]:
    # PyTorch (C * m, 1, kh, kw), output channel c * m + j -> Keras (kh, kw, C, m).
    out, _, kh, kw = t["weight"].shape
    m = layer.depth_multiplier
    return _with_bias([t["weight"].reshape(out // m, m, kh, kw).transpose(2, 3, 0, 1)], t)


def _depthwise_to_torch(layer: Any, w: list[np.ndarray]) -> dict[str, np.ndarray]:
    kh, kw, c, m = w[0].shape
    return _bias_of({"weight": w[0].transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)}, w, 1)


def _separable_to_keras(layer: Any, t: dict[str, np.ndarray]) -> list[np.ndarray]:
    depthwise = _depthwise_to_keras(layer, {"weight": t["depthwise_weight"]})[0]
    pointwise = t["pointwise_weight"].transpose(2, 3, 1, 0)
    return [depthwise, pointwise, *([t["bias"]] if "bias" in t else [])]


def _separable_to_torch(layer: Any, w: list[np.ndarray]) -> dict[str, np.ndarray]:
    out = {
        "depthwise_weight": _depthwise_to_torch(layer, [w[0]])["weight"],
        "pointwise_weight": w[1].transpose(3, 2, 0, 1),
    }
    return _bias_of(out, w, 2)


def _dense_to_keras(layer: Any, t: dict[str, np.ndarray]) -> list[np.ndarray]:
    return _with_bias([t["weight"].T], t)


def _dense_to_torch(layer: Any, w: list[np.ndarray]) -> dict[str, np.ndarray]:
    return _bias_of({"weight": w[0].T}, w, 1)


def _bn_to_keras(layer: Any, t: dict[str, np.ndarray]) -> list[np.ndarray]:
    for keep, key, frozen in ((layer.scale, "weight", 1.0), (layer.center, "bias", 0.0)):
        if not keep and not np.allclose(t[key], frozen):
            raise ConversionError(
                f"{layer.name}: this batch-norm keeps {key} at {frozen:g}; the PyTorch weights differ"
            )
    kept = [t["weight"]] * bool(layer.scale) + [t["bias"]] * bool(layer.center)
    return [*kept, t["running_mean"], t["running_var"]]


def _bn_to_torch(layer: Any, w: list[np.ndarray]) -> dict[str, np.ndarray]:
    w = list(w)
    gamma = w.pop(0) if layer.scale else np.ones_like(w[-1])
    beta = w.pop(0) if layer.center else np.zeros_like(w[-1])
    return {"weight": gamma, "bias": beta, "running_mean": w[0], "running_var": w[1]}


def _layernorm_to_keras(layer: Any, t: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [t["weight"], t["bias"]]


def _layernorm_to_torch(layer: Any, w: list[np.ndarray]) -> dict[str, np.ndarray]:
    return {"weight": w[0], "bias": w[1]}


def _normalization_to_keras(layer: Any, t: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [t["mean"], t["variance"], t["count"]]


def _normalization_to_torch(layer: Any, w: list[np.ndarray]) -> dict[str, np.ndarray]:
    return {"mean": w[0], "variance": w[1], "count": np.asarray(w[2], dtype=np.int64)}


#: Keras layer class -> (its weights from the PyTorch module's tensors, the inverse).
_MAPPINGS = {
    "Conv2D": (_conv_to_keras, _conv_to_torch),
    "DepthwiseConv2D": (_depthwise_to_keras, _depthwise_to_torch),
    "SeparableConv2D": (_separable_to_keras, _separable_to_torch),
    "Dense": (_dense_to_keras, _dense_to_torch),
    "BatchNormalization": (_bn_to_keras, _bn_to_torch),
    "LayerNormalization": (_layernorm_to_keras, _layernorm_to_torch),
    "Normalization": (_normalization_to_keras, _normalization_to_torch),
    "LayerScale": (lambda layer, t: [t["gamma"]], lambda layer, w: {"gamma": w[0]}),
}


def _with_bias(weights: list[np.ndarray], t: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [*weights, t["bias"]] if "bias" in t else weights


def _bias_of(out: dict[str, np.ndarray], w: list[np.ndarray], index: int) -> dict[str, np.ndarray]:
    if len(w) > index:
        out["bias"] = w[index]
    return out


def _mapping(layer: Any) -> tuple[Any, Any]:
    kind = type(layer).__name__
    if kind not in _MAPPINGS:
        raise ConversionError(f"no weight mapping for Keras layer {layer.name} ({kind})")
    return _MAPPINGS[kind]


def _keras_from_torch(layer: Any, t: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The weights of Keras `layer` (in its own order) from the torch tensors of the same module."""
    try:
        return _mapping(layer)[0](layer, t)
    except KeyError as exc:
        raise ConversionError(f"{layer.name}: the PyTorch module has no tensor {exc}") from None


def _torch_from_keras(layer: Any, w: list[np.ndarray]) -> dict[str, np.ndarray]:
    return _mapping(layer)[1](layer, w)


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
    verify_digest(checkpoint)  # a training run's checkpoint carries one: a flipped bit is refused
    torch_model, keras_model = spec.to_torch(), spec.to_keras(aux_outputs=True)
    if src == "torch":
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is a user error
            raise InceptgenError(f"cannot read PyTorch checkpoint {str(checkpoint)!r}: {_first_line(exc)}") from None
        _load_torch_state(torch_model, state)
        torch_to_keras(torch_model, keras_model)
        with atomic_path(out, suffix=".weights.h5") as tmp:
            keras_model.save_weights(tmp)
    else:
        try:
            keras_model.load_weights(checkpoint)
        except Exception as exc:  # noqa: BLE001
            raise InceptgenError(f"cannot read Keras weights {str(checkpoint)!r}: {_first_line(exc)}") from None
        keras_to_torch(keras_model, torch_model)
        with atomic_path(out, suffix=".pt") as tmp:
            torch.save(torch_model.state_dict(), tmp)
    write_digest(out)


def _first_line(exc: BaseException) -> str:
    """The first line of a framework's message: PyTorch's weights_only error goes on to advise
    loading with weights_only=False, which would run whatever code the file holds."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _load_torch_state(model: Any, state: Any) -> None:
    if not isinstance(state, dict):
        raise InceptgenError("the PyTorch checkpoint is not a state dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ConversionError(f"the checkpoint does not fit this spec: {first}") from None
