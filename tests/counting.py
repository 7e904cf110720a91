"""Parameter counts and weight shapes of builds and of the checker, compared by the spec tests."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import inceptgen
from inceptgen.targets import TARGETS


@dataclass(frozen=True)
class Counts:
    """Parameter counts: PyTorch total, trainable (both frameworks), Keras count_params()."""

    total: int
    trainable: int
    keras: int


def aux_prefixes(spec: inceptgen.Spec) -> tuple[str, ...]:
    return tuple(f"{aux.name}." for aux in spec.model.auxes)


def checker_counts(spec: inceptgen.Spec, main_only: bool = False) -> Counts:
    nodes = spec.checked.nodes
    if main_only:
        names = {aux.name for aux in spec.model.auxes}
        nodes = tuple(n for n in nodes if n.path.split(".")[0] not in names)
    return Counts(sum(n.params for n in nodes), sum(n.trainable for n in nodes), sum(n.keras_params for n in nodes))


def torch_counts(model, skip: tuple[str, ...] = ()) -> tuple[int, int]:
    from torch.nn.parameter import UninitializedParameter

    params = [(name, p) for name, p in model.named_parameters() if not name.startswith(skip)]
    lazy = [name for name, p in params if isinstance(p, UninitializedParameter)]
    assert not lazy, f"parameters still uninitialised after build_model(): {lazy}"
    return sum(p.numel() for _, p in params), sum(p.numel() for _, p in params if p.requires_grad)


def torch_shapes(model, skip: tuple[str, ...] = ()) -> Counter:
    return Counter(tuple(p.shape) for name, p in model.named_parameters() if not name.startswith(skip))


def keras_layers(model, skip: tuple[str, ...] = ()) -> list:
    names = tuple(TARGETS["keras"].layer_name(prefix) for prefix in skip)  # Keras joins paths with "-"
    return [layer for layer in model.layers if not layer.name.startswith(names)]


def keras_counts(model, skip: tuple[str, ...] = ()) -> tuple[int, int]:
    layers = keras_layers(model, skip)
    total = sum(layer.count_params() for layer in layers)
    trainable = sum(math.prod(w.shape) for layer in layers for w in layer.trainable_weights)
    return total, trainable


def keras_shapes(model, skip: tuple[str, ...] = ()) -> Counter:
    """Weight shapes, singleton axes dropped: a 1x1 Conv2D kernel (1, 1, C, D) is a Dense's (C, D)."""
    return Counter(tuple(d for d in w.shape if d != 1) for layer in keras_layers(model, skip) for w in layer.weights)
