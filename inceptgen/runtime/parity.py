"""`inceptgen parity`: prove the PyTorch and Keras programs of a spec compute one function.

Random PyTorch weights and batch-norm statistics are copied into Keras by layer
name; both run the same random batch in inference mode; outputs are compared.
On failure the first node (in execution order) whose outputs diverge is named.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from inceptgen.runtime.convert import torch_to_keras

__all__ = [
    "OutputDiff",
    "ParityReport",
    "SharedWeightBuilds",
    "build_with_shared_weights",
    "run_parity",
    "compare",
    "randomize_batchnorm",
    "keras_layer_for",
]


@dataclass(frozen=True)
class OutputDiff:
    """How far apart one output of the two programs is.

    `max_rel` is the largest absolute difference divided by the largest absolute
    reference value: the tolerance applies to it. Deep networks with random weights
    shrink or grow their signal by orders of magnitude, so an absolute threshold
    would pass anything on a tiny output and fail float32 rounding on a large one.
    `scale` (the largest absolute reference value) is reported alongside.
    """

    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    scale: float


@dataclass
class ParityReport:
    spec: str
    input_shape: tuple[int, ...]
    tol: float
    outputs: list[OutputDiff]
    optimized: str = "none"
    first_divergence: tuple[str, float] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.max_rel <= self.tol for o in self.outputs)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def render(self, console: Any) -> None:
        from rich.table import Table

        table = Table(title=f"parity {self.spec}: input {'x'.join(map(str, self.input_shape))}, tol {self.tol:g}")
        for column in ("output", "shape", "max |output|", "max abs diff", "max rel diff", "verdict"):
            table.add_column(column)
        for o in self.outputs:
            verdict = "[green]ok[/]" if o.max_rel <= self.tol else "[red]FAIL[/]"
            shape = "x".join(map(str, o.shape))
            table.add_row(o.name, shape, f"{o.scale:.3g}", f"{o.max_abs:.3g}", f"{o.max_rel:.3g}", verdict)
        console.print(table)
        if self.first_divergence:
            path, diff = self.first_divergence
            console.print(f"first divergent node: [bold]{path}[/] (max abs diff {diff:.3g})")


def compare(name: str, reference: np.ndarray, other: np.ndarray) -> OutputDiff:
    """Difference of two arrays of the same shape (reference from PyTorch, NHWC already undone)."""
    if reference.shape != other.shape:
        return OutputDiff(name, tuple(reference.shape), float("inf"), float("inf"), 0.0)
    diff = float(np.max(np.abs(reference - other))) if reference.size else 0.0
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    # An all-zero reference (every unit dead) can only be matched exactly.
    return OutputDiff(name, tuple(reference.shape), diff, diff / scale if scale > 0 else diff * 1e30, scale)


def randomize_batchnorm(model: Any, generator: Any) -> None:
    """Give every batch-norm non-trivial statistics, so that parity tests exercise them."""
    import torch

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                if module.bias.requires_grad:  # a frozen beta (Keras' center=False) stays 0
                    module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
                if module.weight.requires_grad:
                    module.weight.copy_(torch.rand(n, generator=generator) + 0.5)


def _numpy(tensor: Any) -> np.ndarray:
    """A Keras output as numpy, whatever the backend (the torch backend's tensors carry grad)."""
    import keras

    return np.asarray(keras.ops.convert_to_numpy(keras.ops.stop_gradient(tensor)))


def _nchw(array: np.ndarray) -> np.ndarray:
    return array.transpose(0, 3, 1, 2) if array.ndim == 4 else array


def _torch_outputs(torch_model: Any, x: Any, aux_after: dict[str, str], paths: set[str]) -> tuple[dict, dict]:
    """Main and aux outputs in inference mode, plus the outputs of modules named in `paths`."""
    import torch

    captured: dict[str, np.ndarray] = {}
    modules = dict(torch_model.named_modules())
    hooks = [
        modules[p].register_forward_hook(lambda _m, _i, out, p=p: captured.__setitem__(p, out))
        for p in paths | set(aux_after.values())
        if p in modules
    ]
    try:
        with torch.no_grad():
            outputs = {"main": torch_model(x)}
            for aux, after in aux_after.items():
                outputs[aux] = modules[aux](captured[after])
    finally:
        for hook in hooks:
            hook.remove()
    as_numpy = {k: v.numpy() for k, v in outputs.items()}
    return as_numpy, {k: v.numpy() for k, v in captured.items() if k in paths}


def keras_layer_for(keras_model: Any, path: str) -> Any | None:
    """The Keras layer whose output is node `path`'s output: the node's own, or its scope's last."""
    from inceptgen.targets import TARGETS

    name = TARGETS["keras"].layer_name(path)
    last = None
    for layer in keras_model.layers:
        if layer.name == name:
            return layer
        if layer.name.startswith(name + TARGETS["keras"].separator):
            last = layer
    return last


def _first_divergence(checked, torch_model, keras_model, x, x_nhwc, tol: float) -> tuple[str, float] | None:
    import keras

    paths = [n.path for n in checked.nodes]
    probes = {p: keras_layer_for(keras_model, p) for p in paths}
    probes = {p: layer for p, layer in probes.items() if layer is not None}
    _, torch_inner = _torch_outputs(torch_model, x, {}, set(probes))
    common = [p for p in paths if p in torch_inner and p in probes]
    probe = keras.Model(keras_model.inputs, [probes[p].output for p in common])
    keras_inner = dict(zip(common, (_numpy(t) for t in probe(x_nhwc, training=False)), strict=True))
    # A node's verdict counts once all its descendants ran: pick the divergent node that finishes first.
    order = {p: i for i, p in enumerate(paths)}
    finish = {p: max(order[q] for q in paths if q == p or q.startswith(p + ".")) for p in common}
    divergent = [p for p in common if compare(p, torch_inner[p], _nchw(keras_inner[p])).max_rel > tol]
    if not divergent:
        return None
    first = min(divergent, key=lambda p: (finish[p], -order[p]))
    return first, compare(first, torch_inner[first], _nchw(keras_inner[first])).max_abs


@contextlib.contextmanager
def _initial_values_in_numpy() -> Iterator[None]:
    """Keras variables start from numpy: zeros for random initialisers, as the weights are about to be overwritten.

    On the JAX backend every initialiser is an XLA program compiled per weight shape: drawing the
    random ones took about half of a parity run (inception_v3 at 75 x 75: 30 s, 16 s with zeros),
    and filling the constant ones a fifth of what was left. So under this patch zeros, ones and
    constants (a layer scale's value) are made by numpy, with the values they would have had, and
    random ones are numpy zeros. Other initialisers (seed states, identities) run as usual. Keras
    has no public hook for this, so the patch is skipped where its internals differ (test_backends
    checks it holds). The patch is process-wide while it lasts: a model another thread builds
    meanwhile starts at zeros too (the command line builds nothing else during parity).
    """
    try:
        from keras.initializers import Constant, Ones, Zeros
        from keras.src.backend.common.variables import Variable
        from keras.src.initializers.random_initializers import RandomInitializer
    except ImportError:  # another Keras layout: draw them
        yield
        return
    original = Variable._initialize_with_initializer

    def fill(value: Any) -> Any:
        return lambda shape, dtype=None: np.full(shape, value, dtype=dtype)

    def numpy_initializer(initializer: Any) -> Any:
        if isinstance(initializer, RandomInitializer | Zeros):
            return fill(0)
        if isinstance(initializer, Ones):
            return fill(1)
        if isinstance(initializer, Constant) and np.ndim(initializer.value) == 0:
            return fill(float(initializer.value))
        return initializer

    def initialise(variable: Any, initializer: Any) -> None:
        return original(variable, numpy_initializer(initializer))

    Variable._initialize_with_initializer = initialise
    try:
        yield
    finally:
        Variable._initialize_with_initializer = original


def _keras_forward(keras_model: Any, x_nhwc: np.ndarray) -> list[Any]:
    """The Keras model's outputs in inference mode, as the backend runs it fastest for one batch.

    Eager JAX compiles each op per shape (densenet121 at 64 x 64: 17 s); one jitted program for
    the whole model compiles in 3 s. TensorFlow's and PyTorch's eager calls cost no compilation.
    """
    import keras

    if keras.backend.backend() == "jax":
        out = keras_model.predict_on_batch(x_nhwc)
    else:
        out = keras_model(x_nhwc, training=False)
    return list(out) if isinstance(out, list | tuple) else [out]


@dataclass(frozen=True)
class SharedWeightBuilds:
    """Both programs of a spec, Keras holding PyTorch's random weights: what parity compares.

    `generator` has drawn the weights; the input batch comes next from it.
    """

    torch_model: Any
    keras_model: Any
    generator: Any


def build_with_shared_weights(spec: Any, seed: int = 0) -> SharedWeightBuilds:
    """Build `spec` in both frameworks with seeded PyTorch weights and batch-norm statistics, copied into Keras."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    reference = spec.to_torch()
    randomize_batchnorm(reference, generator)
    reference.eval()
    with _initial_values_in_numpy():  # every weight is overwritten with PyTorch's
        keras_model = spec.to_keras(aux_outputs=True)
        torch_to_keras(reference, keras_model)
    return SharedWeightBuilds(reference, keras_model, generator)


def run_parity(
    spec: Any,
    tol: float = 1e-4,
    batch: int = 2,
    seed: int = 0,
    optimize: str = "none",
    builds: SharedWeightBuilds | None = None,
) -> ParityReport:
    """Build both programs of `spec` with shared weights and compare their outputs.

    Args:
        spec: an `inceptgen.Spec`.
        tol: largest accepted relative difference (see `OutputDiff`).
        batch: batch size of the random input.
        seed: seeds the weights and the input.
        optimize: "torch" or "keras" compiles that side with `--optimize`; "none" neither.
        builds: `build_with_shared_weights(spec, seed)`, when the caller has them already (tests
            reuse one build); its generator is copied, so the same builds give the same input.
    """
    import torch

    builds = builds or build_with_shared_weights(spec, seed)
    reference, keras_model = builds.torch_model, builds.keras_model
    generator = torch.Generator()
    generator.set_state(builds.generator.get_state())
    if optimize == "keras":
        with _initial_values_in_numpy():
            keras_model = spec.to_keras(optimize=True, aux_outputs=True, reference=keras_model)
    torch_model = reference
    if optimize == "torch":
        torch_model = spec.to_torch(optimize=True)
        torch_model.load_reference(reference)
        torch_model.eval()
    x = torch.randn(batch, *spec.checked.input_shape, generator=generator)
    x_nhwc = x.numpy().transpose(0, 2, 3, 1)
    aux_after = {a.name: a.after for a in spec.model.auxes}
    ours, _ = _torch_outputs(torch_model, x, aux_after, set())
    theirs = _keras_forward(keras_model, x_nhwc)
    names = ["main", *aux_after]
    outputs = [compare(n, ours[n], _nchw(_numpy(t))) for n, t in zip(names, theirs, strict=True)]
    report = ParityReport(spec.model.name, (batch, *spec.checked.input_shape), tol, outputs, optimize)
    if not report.ok:
        # The optimised Keras graph has fewer layers (batch-norms folded, fused convs): the probes
        # still find each conv's output, which is its activation's there.
        report.first_divergence = _first_divergence(spec.checked, reference, keras_model, x, x_nhwc, tol)
    return report
