"""The differential check of a checked spec against both frameworks (tests/test_fuzz.py runs it on generated specs).

`check` predicts, for every node, its output shape and its parameters in PyTorch's and Keras'
conventions. `differences(spec)` builds both programs once and compares what they hold and
compute with those predictions:

- every PyTorch module that is a node of the spec, and every Keras layer that ends one
  (`keras_layer_for`), has the predicted output shape (PyTorch in training mode, so the
  auxiliary heads run too; the model's outputs are the main and auxiliary outputs, in order);
- PyTorch's `sum(p.numel())` and its trainable part, and Keras' `count_params()` and its
  trainable weights, equal the predicted totals, and each layer's own parameters equal its
  node's;
- `run_parity` on the same two models passes at `tol`.

It returns a list of differences, empty when all agree, so that a failure names every one.
"""

from __future__ import annotations

import math
from typing import Any

from inceptgen.ops import OPS
from inceptgen.runtime.parity import keras_layer_for, run_parity
from inceptgen.targets import TARGETS

__all__ = ["differences"]


class _Built:
    """A spec whose two programs are already built: `run_parity` compares these, not new ones."""

    def __init__(self, spec: Any, torch_model: Any, keras_model: Any) -> None:
        self.checked, self.model = spec.checked, spec.model
        self._torch, self._keras = torch_model, keras_model

    def to_torch(self, optimize: bool = False) -> Any:
        assert not optimize
        return self._torch

    def to_keras(self, optimize: bool = False, aux_outputs: bool = False, **_: Any) -> Any:
        assert not optimize and aux_outputs
        return self._keras


def _nchw(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[-1], *shape[:-1]) if len(shape) == 3 else shape


def differences(spec: Any, tol: float = 1e-4, batch: int = 2, seed: int = 0) -> list[str]:
    """Where `check`'s shapes and counts differ from both frameworks', and whether parity fails.

    An exception while building or running a program is a difference too ("torch: TypeError: ...").
    """
    found: list[str] = []
    torch_model = keras_model = None
    for what, phase in (("torch", _torch), ("keras", _keras)):
        try:
            built = phase(spec, found, batch, seed)
        except Exception as exc:  # noqa: BLE001 - the failure is the finding
            found.append(f"{what}: {type(exc).__name__}: {exc}")
            return found
        torch_model, keras_model = (built, keras_model) if what == "torch" else (torch_model, built)
    try:
        report = run_parity(_Built(spec, torch_model, keras_model), tol=tol, batch=batch, seed=seed)
    except Exception as exc:  # noqa: BLE001
        found.append(f"parity: {type(exc).__name__}: {exc}")
        return found
    if not report.ok:
        worst = max(report.outputs, key=lambda o: o.max_rel)
        found.append(f"parity fails: {worst.name} max rel diff {worst.max_rel:.3g} (first divergent node "
                     f"{report.first_divergence})")  # fmt: skip
    return found


def _torch(spec: Any, found: list[str], batch: int, seed: int) -> Any:
    """Build the PyTorch model, run it in training mode; compare shapes and counts."""
    import torch

    checked = spec.checked
    predicted = {n.path: n.out_shape for n in checked.nodes}
    names = ["main", *(a.name for a in spec.model.auxes)]
    torch.manual_seed(seed)
    torch_model = spec.to_torch()
    modules = dict(torch_model.named_modules())
    shapes: dict[str, tuple[int, ...]] = {}

    def hook(path: str):
        def record(_module, _inputs, output):
            if isinstance(output, torch.Tensor):
                shapes[path] = tuple(output.shape[1:])

        return record

    hooks = [modules[n.path].register_forward_hook(hook(n.path)) for n in checked.nodes if n.path in modules]
    torch_model.train()  # the auxiliary heads run in training mode only
    try:
        with torch.no_grad():
            result = torch_model(
                torch.randn(batch, *checked.input_shape, generator=torch.Generator().manual_seed(seed))
            )
    finally:
        for handle in hooks:
            handle.remove()
    outputs = result if isinstance(result, tuple | list) else (result,)
    got = [tuple(o.shape[1:]) for o in outputs]
    want = [tuple(checked.outputs[n]) for n in names]
    if got != want:
        found.append(f"torch outputs {got}, check {want}")
    found += [f"torch {p}: {s}, check {predicted[p]}" for p, s in shapes.items() if s != predicted[p]]
    params = list(torch_model.parameters())
    total, trainable = sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)
    if (total, trainable) != (checked.total_params, checked.trainable_params):
        found.append(f"torch params {total:,} ({trainable:,} trainable), "
                     f"check {checked.total_params:,} ({checked.trainable_params:,})")  # fmt: skip
    for node in checked.nodes:
        if node.op in OPS and node.path in modules:
            own = sum(p.numel() for p in modules[node.path].parameters())
            if own != node.params:
                found.append(f"torch {node.path} ({node.op}): {own:,} params, check {node.params:,}")
    return torch_model


def _keras(spec: Any, found: list[str], batch: int, seed: int) -> Any:
    """Build the Keras model (auxiliary outputs included); compare shapes and counts."""
    checked = spec.checked
    layers = [n for n in checked.nodes if n.op in OPS]
    want = [tuple(checked.outputs[n]) for n in ["main", *(a.name for a in spec.model.auxes)]]
    keras_model = spec.to_keras(aux_outputs=True)
    got = [_nchw(tuple(o.shape[1:])) for o in keras_model.outputs]
    if got != want:
        found.append(f"keras outputs {got}, check {want}")
    for node in checked.nodes:
        layer = keras_layer_for(keras_model, node.path)
        if layer is not None:
            shape = _nchw(tuple(layer.output.shape[1:]))
            if shape != node.out_shape:
                found.append(f"keras {node.path}: {shape}, check {node.out_shape}")
    total = keras_model.count_params()
    trainable = sum(math.prod(w.shape) for w in keras_model.trainable_weights)
    if (total, trainable) != (checked.keras_params, checked.trainable_params):
        found.append(f"keras params {total:,} ({trainable:,} trainable), "
                     f"check {checked.keras_params:,} ({checked.trainable_params:,})")  # fmt: skip
    keras = TARGETS["keras"]
    by_node: dict[str, int] = {}
    for layer in keras_model.layers:
        path = keras.node_path(layer.name)
        owner = next((n.path for n in layers if path == n.path or path.startswith(n.path + ".")), None)
        if owner is not None:
            by_node[owner] = by_node.get(owner, 0) + layer.count_params()
    for node in layers:
        if by_node.get(node.path, 0) != node.keras_params:
            found.append(
                f"keras {node.path} ({node.op}): {by_node.get(node.path, 0):,} params, check {node.keras_params:,}"
            )
    return keras_model
