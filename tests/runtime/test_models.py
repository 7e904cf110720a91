"""Every stdlib spec, built once in each framework: shapes and parameter counts equal the checker's, and parity holds.

One build per framework serves all three checks (a large spec takes seconds to build): PyTorch's
random weights copied into Keras, which parity needs and the shapes and counts do not depend on.
The published counts, at each spec's own input, are tests/test_specs.py's.
"""

from __future__ import annotations

import numpy as np
import pytest

import inceptgen
from inceptgen.runtime.parity import build_with_shared_weights, keras_layer_for, run_parity
from inceptgen.stdlib import list_specs
from tests.counting import aux_prefixes, checker_counts, keras_counts, torch_counts

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


def _torch_shapes(spec: inceptgen.Spec, model, batch: int) -> dict[str, tuple[int, ...]]:
    import torch

    modules = dict(model.named_modules())
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        modules[node.path].register_forward_hook(
            lambda _m, _i, out, path=node.path: shapes.__setitem__(path, tuple(out.shape[1:]))
        )
        for node in spec.checked.nodes
        if node.path in modules
    ]
    try:
        with torch.no_grad():
            out = model(torch.zeros(batch, *spec.checked.input_shape))
    finally:
        for hook in hooks:  # parity runs the same model next
            hook.remove()
    assert tuple(out.shape) == (batch, *spec.checked.outputs["main"])
    return shapes


def _keras_shapes(spec: inceptgen.Spec, model) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for node in spec.checked.nodes:
        layer = keras_layer_for(model, node.path)
        if layer is not None:
            shape = tuple(layer.output.shape[1:])
            shapes[node.path] = (shape[-1], *shape[:-1]) if len(shape) == 3 else shape
    outputs = model.outputs
    assert tuple(outputs[0].shape[1:]) == spec.checked.outputs["main"]
    return shapes


def _check_shapes(spec: inceptgen.Spec, framework: str, shapes: dict[str, tuple[int, ...]]) -> None:
    predicted = {n.path: n.out_shape for n in spec.checked.nodes}
    # every layer with weights, every block instance and stage is observed
    assert len(shapes) >= sum(1 for n in spec.checked.nodes if n.params or n.op.startswith(("block:", "stage")))
    wrong = {p: (s, predicted[p]) for p, s in shapes.items() if s != predicted[p]}
    assert not wrong, (framework, dict(list(wrong.items())[:5]))


def _check_counts(spec: inceptgen.Spec, torch_model, keras_model) -> None:
    c = spec.checked
    assert torch_counts(torch_model) == (c.total_params, c.trainable_params)
    assert keras_counts(keras_model) == (c.keras_params, c.trainable_params)
    assert keras_model.count_params() == c.keras_params
    if spec.model.auxes:  # the Keras build has its aux outputs; inference uses the main one only
        main, skip = checker_counts(spec, main_only=True), aux_prefixes(spec)
        assert torch_counts(torch_model, skip) == (main.total, main.trainable)
        assert keras_counts(keras_model, skip) == (main.keras, main.trainable)


@pytest.mark.parametrize("name", list_specs())
def test_builds_match_the_checker_and_agree(name: str) -> None:
    spec = _load(name)
    built = build_with_shared_weights(spec, seed=0)
    _check_counts(spec, built.torch_model, built.keras_model)
    _check_shapes(spec, "torch", _torch_shapes(spec, built.torch_model, 2))
    _check_shapes(spec, "keras", _keras_shapes(spec, built.keras_model))
    report = run_parity(spec, tol=1e-5, batch=BATCH.get(name, 2), builds=built)
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
