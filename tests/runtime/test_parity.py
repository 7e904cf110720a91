"""Cross-framework parity: one spec, two programs, one function (issue: parity)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import inceptgen
from inceptgen.runtime.convert import keras_to_torch, torch_to_keras
from inceptgen.runtime.parity import build_with_shared_weights, randomize_batchnorm, run_parity
from tests.runtime.constructs import TRAPS


@pytest.mark.parametrize("path", TRAPS, ids=lambda p: p.stem)
def test_trap_specs_agree(path: Path) -> None:
    spec = inceptgen.load(path)
    report = run_parity(spec, tol=1e-5, batch=3)
    assert report.ok, report.to_dict()
    assert [o.name for o in report.outputs] == ["main", *(a.name for a in spec.model.auxes)]
    assert all(o.shape[0] == 3 for o in report.outputs)


def test_aux_heads_are_all_compared() -> None:
    report = run_parity(inceptgen.load(TRAPS[0].parent / "aux_heads.incept"))
    assert [o.name for o in report.outputs] == ["main", "early", "late"]
    assert report.ok


def test_prebuilt_builds_give_the_report_a_fresh_build_gives() -> None:
    """Tests hand one build to several checks: parity over it must see the same weights and input."""
    spec = inceptgen.load(TRAPS[0].parent / "aux_heads.incept")
    built = build_with_shared_weights(spec, seed=3)
    reused = [run_parity(spec, seed=3, builds=built) for _ in range(2)]
    fresh = run_parity(spec, seed=3)
    assert reused[0].to_dict() == reused[1].to_dict() == fresh.to_dict()
    assert run_parity(spec, seed=4).to_dict() != fresh.to_dict()  # the seed reaches the input and weights


def test_parity_names_the_first_divergent_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """Corrupt one converted Keras weight: parity must fail and point at that node."""
    import inceptgen.runtime.parity as parity

    real = parity.torch_to_keras

    def corrupting(torch_model, keras_model):
        real(torch_model, keras_model)
        layer = keras_model.get_layer("s-second-branch1_branch1_conv-conv")  # the Keras name of that conv
        kernel, *rest = layer.get_weights()
        layer.set_weights([kernel + 0.5, *rest])

    monkeypatch.setattr(parity, "torch_to_keras", corrupting)
    report = run_parity(inceptgen.load(TRAPS[0].parent / "nested_concat.incept"))
    assert not report.ok
    assert report.first_divergence is not None
    assert report.first_divergence[0] == "s.second.branch1_branch1_conv"


@pytest.mark.parametrize("name", ["residual_scale", "batchnorm_settings", "nested_concat"])
def test_round_trip_torch_keras_torch_is_exact(name: str) -> None:
    import torch

    spec = inceptgen.load(TRAPS[0].parent / f"{name}.incept")
    original = spec.to_torch()
    randomize_batchnorm(original, torch.Generator().manual_seed(1))
    keras_model = spec.to_keras()
    torch_to_keras(original, keras_model)
    copy = spec.to_torch()
    keras_to_torch(keras_model, copy)
    before, after = original.state_dict(), copy.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), key


@pytest.mark.parametrize(
    "spec_ref",
    [
        str(TRAPS[0].parent / "batchnorm_settings.incept"),
        "@resnet18",  # a ResNet: projection shortcuts, post-activation
        "@efficientnet_b0",  # squeeze-excitation gates, stochastic depth, SiLU
        str(TRAPS[0].parent / "l2_penalty.incept"),  # the spec's L2 penalties in both losses
    ],
    ids=["batchnorm", "resnet", "squeeze-excitation", "l2"],
)
def test_one_training_step_agrees(spec_ref: str) -> None:
    """One SGD step on the same batch: same loss, same updated weights (batch statistics in use).

    Dropout and stochastic depth draw each framework's own random numbers: both are off (rate 0).
    """
    import keras
    import tensorflow as tf
    import torch

    small = {"input": "3x32x32", "classes": 4} if spec_ref.startswith("@") else {}
    spec = inceptgen.load(spec_ref, **small)
    torch.manual_seed(0)
    torch_model = spec.to_torch()
    for module in torch_model.modules():
        if type(module).__name__ in ("DropPath", "Dropout"):
            module.rate = module.p = 0.0
    keras_model = spec.to_keras()
    for layer in keras_model.layers:
        if type(layer).__name__ in ("DropPath", "Dropout"):
            layer.rate = 0.0
    torch_to_keras(torch_model, keras_model)
    x = torch.randn(8, *spec.checked.input_shape)
    y = torch.randint(0, spec.checked.outputs["main"][0], (8,))

    torch_model.train()
    optimizer = torch.optim.SGD(torch_model.parameters(), lr=0.1)
    torch_loss = torch.nn.functional.cross_entropy(torch_model(x), y)
    if hasattr(torch_model, "penalty"):
        torch_loss = torch_loss + torch_model.penalty()
    torch_loss.backward()
    optimizer.step()

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    keras_optimizer = keras.optimizers.SGD(learning_rate=0.1)
    x_nhwc = tf.constant(x.numpy().transpose(0, 2, 3, 1))
    with tf.GradientTape() as tape:
        keras_loss = loss_fn(y.numpy(), keras_model(x_nhwc, training=True)) + sum(keras_model.losses)
    grads = tape.gradient(keras_loss, keras_model.trainable_variables)
    keras_optimizer.apply_gradients(zip(grads, keras_model.trainable_variables, strict=True))

    assert abs(float(torch_loss) - float(keras_loss)) < 1e-4
    updated = spec.to_torch()
    keras_to_torch(keras_model, updated)
    reference = dict(torch_model.named_parameters())
    for name, param in updated.named_parameters():
        if param.requires_grad:
            diff = np.max(np.abs(param.detach().numpy() - reference[name].detach().numpy()))
            assert diff < 1e-4, (name, diff)


@pytest.mark.parametrize("name", ["no_conv", "padding_parameter", "block_after_flatten", "nested_concat"])
def test_optimised_torch_build_agrees(name: str) -> None:
    # 0.1: a model without a conv failed in the optimised module's load_reference (NameError).
    report = run_parity(inceptgen.load(TRAPS[0].parent / f"{name}.incept"), tol=1e-5, optimize="torch")
    assert report.ok, report.to_dict()


@pytest.mark.parametrize("path", TRAPS, ids=lambda p: p.stem)
def test_optimised_keras_build_agrees(path: Path) -> None:
    """Batch-norms folded, activations fused, sibling 1x1 convs one conv and a split: the same function."""
    report = run_parity(inceptgen.load(path), tol=1e-5, optimize="keras")
    assert report.ok, report.to_dict()


FOLDED = """model folded(input = 3x16x16)
defaults { conv: bn, relu }
stage s {
  concat {
    branch { conv 1x1 -> 4 }
    branch { conv 1x1 -> 5; conv 3x3 -> 6 }
    branch { maxpool 3x3 stride 1 pad 1; conv 1x1 -> 3 }
  }
}
head { global_avgpool; linear -> 3 }
"""


def test_optimised_keras_build_folds_and_fuses() -> None:
    """The optimised graph has no batch-norm after a conv, no activation layer, and its sibling 1x1 convs fused."""
    spec = inceptgen.load(FOLDED)
    assert run_parity(spec, tol=1e-5, optimize="keras").ok
    plain = spec.to_keras()
    optimised = spec.to_keras(optimize=True, reference=plain)
    kinds = [type(layer).__name__ for layer in optimised.layers]
    assert "BatchNormalization" not in kinds and "Activation" not in kinds and "ChannelSplit" in kinds
    assert len(optimised.layers) < len(plain.layers)
    with pytest.raises(inceptgen.InceptgenError, match="optimize=True"):
        spec.to_keras(reference=plain)


def test_inference_returns_the_main_output_only_in_both_targets() -> None:
    """As the docs say: auxiliary outputs are for training (0.1's Keras build returned them always)."""
    import torch

    spec = inceptgen.load(TRAPS[0].parent / "aux_heads.incept")
    keras_model = spec.to_keras()
    assert len(keras_model.outputs) == 1
    assert len(spec.to_keras(aux_outputs=True).outputs) == 3
    torch_model = spec.to_torch().eval()
    with torch.no_grad():
        out = torch_model(torch.zeros(1, *spec.checked.input_shape))
    assert isinstance(out, torch.Tensor)
    assert len(torch_model.train()(torch.zeros(2, *spec.checked.input_shape))) == 3
