"""Initialisers and L2 penalties: one distribution and one loss in both targets, and seed 004's settings.

The spec's initialisers are Keras' definitions with the fans PyTorch computes for the layer
(`ops.weighted.INITIALISERS`); the targets draw them with their own random generators, so the
test compares moments of large layers, not values.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

import inceptgen
from inceptgen.ops.weighted import INITIALISERS

#: Layers big enough (>= 36,864 weights each) for the moments to settle within a few per cent.
LAYERS = {
    "conv": ("conv 3x3 -> 256", "-conv"),  # fan_in 576, fan_out 2304
    "dwconv": ("dwconv 5x5 -> 2048", "-conv"),  # depthwise: PyTorch's fans (25, 51200), not Keras' own
    "linear": ("global_avgpool; linear -> 512", "-linear"),
}


def _weights(init: str, layer: str) -> tuple[np.ndarray, np.ndarray, float, float]:
    text, suffix = LAYERS[layer]
    spec = inceptgen.load(f"model m(input = 64x6x6)\nstage s {{ {text} init {init} std 0.03 }}\n")
    info = next(n for n in spec.checked.nodes if n.op in ("conv", "dwconv", "linear"))
    torch_model, keras_model = spec.to_torch(), spec.to_keras()
    ours = dict(torch_model.named_parameters())[f"{info.path}{'.linear' if layer == 'linear' else '.conv'}.weight"]
    theirs = keras_model.get_layer(info.path.replace(".", "-") + suffix).get_weights()[0]
    weight = ours.detach().numpy()
    receptive = math.prod(weight.shape[2:])
    return weight, theirs, weight.shape[1] * receptive, weight.shape[0] * receptive


def _expected_std(init: str, fan_in: float, fan_out: float) -> float:
    """The standard deviation of the drawn values (a truncated normal's is 0.8796 of its parameter)."""
    if init in ("normal",):
        return 0.03
    if init == "trunc_normal":
        return 0.03 * 0.87962566103423978
    gain = 2.0 if init.startswith("he") else 1.0
    fan = (fan_in + fan_out) / 2 if init.startswith("glorot") else fan_in
    return math.sqrt(gain / fan)  # uniform: limit sqrt(3 g / n), std limit / sqrt(3); truncated as defined


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("init", [i for i in INITIALISERS if i not in ("default", "zeros", "ones")])
def test_both_targets_draw_the_same_distribution(init: str, layer: str) -> None:
    ours, theirs, fan_in, fan_out = _weights(init, layer)
    expected = _expected_std(init, fan_in, fan_out)
    for drawn in (ours, theirs):
        assert abs(drawn.mean()) < 5 * expected / math.sqrt(drawn.size)
        assert drawn.std() == pytest.approx(expected, rel=0.04)
    if init.endswith("uniform"):
        limit = expected * math.sqrt(3)
        for drawn in (ours, theirs):
            assert np.abs(drawn).max() <= limit and np.abs(drawn).max() > 0.99 * limit
    elif init != "normal":  # truncated at 2 standard deviations of the untruncated normal
        bound = 2 * expected / 0.87962566103423978
        for drawn in (ours, theirs):
            assert np.abs(drawn).max() <= bound * (1 + 1e-6) and np.abs(drawn).max() > 0.98 * bound


@pytest.mark.parametrize("init", ["zeros", "ones"])
def test_constant_initialisers(init: str) -> None:
    ours, theirs, _, _ = _weights(init, "conv")
    assert np.all(ours == float(init == "ones")) and np.all(theirs == float(init == "ones"))


def test_the_penalty_is_keras_regularisers_loss() -> None:
    """PyTorch's `model.penalty()` equals the sum of the Keras model's regularisation losses."""
    from inceptgen.runtime.convert import torch_to_keras

    spec = inceptgen.load(
        "model m(input = 3x8x8)\nstage s { conv 3x3 -> 8 l2 1e-3 bias_l2 1e-2; dwconv 3x3 l2 2e-3; "
        "sepconv 3x3 -> 4 l2 1e-4 }\nhead { global_avgpool; linear -> 3 l2 0.5 bias_l2 0.25 }\n"
    )
    torch_model, keras_model = spec.to_torch(), spec.to_keras()
    torch_to_keras(torch_model, keras_model)
    keras_model(np.zeros((1, 8, 8, 3), dtype="float32"))
    theirs = sum(float(loss) for loss in keras_model.losses)
    assert len(keras_model.losses) == 7  # conv kernel + bias, depthwise, separable x 2, dense kernel + bias
    assert float(torch_model.penalty()) == pytest.approx(theirs, rel=1e-5)


def _conv_settings(model) -> Counter:
    """(kernel shape, initialiser class, kernel L2, bias L2) of every conv and dense layer."""
    import keras

    found = Counter()
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense):
            kernel_l2 = getattr(layer.kernel_regularizer, "l2", None)
            bias_l2 = getattr(layer.bias_regularizer, "l2", None) if layer.use_bias else None
            init = type(layer.kernel_initializer).__name__
            found[(tuple(layer.kernel.shape), init, kernel_l2, bias_l2)] += 1
    return found


@pytest.mark.parametrize(
    ("name", "variant"),
    [("inception_v3_cifar", "full"), ("inception_v3_cifar_slim", "slim"), ("inception_v3_cifar_slim352", "slim352")],
)
def test_seed_004_initialisers_and_regularisers_equal_the_seeds(name: str, variant: str) -> None:
    from tests.reference import seed004_inception_v3_cifar

    seed = _conv_settings(seed004_inception_v3_cifar.build_keras(variant))
    ours = _conv_settings(inceptgen.load(f"@{name}").to_keras())
    assert ours == seed
    assert all(init == "HeNormal" and l2 == pytest.approx(1e-4) for _, init, l2, _ in seed)
