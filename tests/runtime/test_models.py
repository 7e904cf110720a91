"""Every stdlib spec, built in both frameworks: runtime shapes equal the checker's, and parity holds."""

from __future__ import annotations

import numpy as np
import pytest

import inceptgen
from inceptgen.runtime.parity import keras_layer_for, run_parity
from inceptgen.stdlib import list_specs

# inception_v3 runs at its full 299x299 input; the largest specs use batch 1 to keep CI short.
BATCH = {"inception_resnet_v2": 1, "inception_v4": 1, "inception_resnet_v1": 1, "inception_v3_aux": 1}

#: The classic zoo at a smaller input (every layer still runs; the head adapts by global pooling,
#: VGG's flatten to its smaller map): full-size builds of all of them would double CI's time.
SMALL = "3x64x64"
INPUTS = {
    **dict.fromkeys(
        "resnet18 resnet50 resnext50_32x4d resnet50_keras resnet50_v2 densenet121 mobilenet_v2 mobilenet_v3_large "
        "mobilenet_v3_large_keras efficientnet_b0 efficientnet_b0_keras squeezenet1_1 convnext_tiny "
        "convnext_tiny_keras shufflenet_v2_x1_0".split(),
        SMALL,
    ),
    "xception": "3x71x71",  # the smallest its valid entry convs and four halvings allow
    "vgg16": "3x32x32",
}


def _load(name: str) -> inceptgen.Spec:
    return inceptgen.load(f"@{name}", **({"input": INPUTS[name]} if name in INPUTS else {}))


def _torch_shapes(spec: inceptgen.Spec, batch: int) -> dict[str, tuple[int, ...]]:
    import torch

    model = spec.to_torch().eval()
    modules = dict(model.named_modules())
    shapes: dict[str, tuple[int, ...]] = {}
    for node in spec.checked.nodes:
        if node.path in modules:
            modules[node.path].register_forward_hook(
                lambda _m, _i, out, path=node.path: shapes.__setitem__(path, tuple(out.shape[1:]))
            )
    with torch.no_grad():
        out = model(torch.zeros(batch, *spec.checked.input_shape))
    assert tuple(out.shape) == (batch, *spec.checked.outputs["main"])
    return shapes


def _keras_shapes(spec: inceptgen.Spec) -> dict[str, tuple[int, ...]]:
    model = spec.to_keras()
    shapes = {}
    for node in spec.checked.nodes:
        layer = keras_layer_for(model, node.path)
        if layer is not None:
            shape = tuple(layer.output.shape[1:])
            shapes[node.path] = (shape[-1], *shape[:-1]) if len(shape) == 3 else shape
    outputs = model.outputs
    assert tuple(outputs[0].shape[1:]) == spec.checked.outputs["main"]
    return shapes


@pytest.mark.parametrize("name", list_specs())
def test_runtime_shapes_match_the_checker(name: str) -> None:
    spec = _load(name)
    predicted = {n.path: n.out_shape for n in spec.checked.nodes}
    for framework, shapes in (("torch", _torch_shapes(spec, 2)), ("keras", _keras_shapes(spec))):
        # every layer with weights, every block instance and stage is observed
        assert len(shapes) >= sum(1 for n in spec.checked.nodes if n.params or n.op.startswith(("block:", "stage")))
        wrong = {p: (s, predicted[p]) for p, s in shapes.items() if s != predicted[p]}
        assert not wrong, (framework, dict(list(wrong.items())[:5]))


@pytest.mark.parametrize("name", list_specs())
def test_parity(name: str) -> None:
    report = run_parity(_load(name), tol=1e-5, batch=BATCH.get(name, 2))
    assert report.ok, report.to_dict()
    assert all(np.isfinite(o.max_abs) and o.scale > 0 for o in report.outputs)


#: The optimised Keras build on one spec per kind of rewrite it makes, at small inputs: each costs a
#: PyTorch and two Keras builds, and all 31 specs at full size take 4.5 minutes (README, Benchmarks).
OPTIMISED = {
    "inception_v3": "3x75x75",  # three- and two-way sibling 1x1 fusion, nested concats
    "inception_resnet_v2": "3x75x75",  # fusion inside scaled residuals, convs with bias
    "xception": "3x71x71",  # separable convs: batch-norm folded into the pointwise kernel
    "mobilenet_v3_large_keras": SMALL,  # depthwise convs folded per channel, gates, hard-swish
    "efficientnet_b0_keras": SMALL,  # a Normalization with weights, swish, strided "same" depthwise
    "resnet50_keras": SMALL,  # explicit zero padding, convs with bias and batch-norm
}  # standalone batch-norms (kept, copied by name): the trap specs, tests/runtime/test_parity.py


@pytest.mark.parametrize("name", sorted(OPTIMISED))
def test_optimised_keras_parity(name: str) -> None:
    report = run_parity(inceptgen.load(f"@{name}", input=OPTIMISED[name]), tol=1e-5, optimize="keras")
    assert report.ok, report.to_dict()
    assert all(np.isfinite(o.max_abs) and o.scale > 0 for o in report.outputs)


@pytest.mark.parametrize("spec_ref", ["@cifar_mini", "tests/fixtures/parity/aux_heads.incept"])
def test_torch_compile_traces_without_graph_breaks(spec_ref: str) -> None:
    """`torch.compile(fullgraph=True)` captures the whole forward (dynamic 'same' padding, aux heads).

    The eager backend checks graph capture without paying for code generation on the CI machine.
    """
    import torch

    spec = inceptgen.load(spec_ref)
    model = spec.to_torch().eval()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    x = torch.randn(2, *spec.checked.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
