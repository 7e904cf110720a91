"""Activation functions: each is a layer keyword and, where it takes no argument, a flag of conv and linear."""

from __future__ import annotations

from inceptgen.records import record

__all__ = ["Activation", "ACTIVATIONS", "FUSABLE"]


@record
class Activation:
    """One activation function and its name in each target.

    Attributes:
        keyword: the spec's word (`relu`).
        formula: what it computes, stated once for the docs.
        torch: the `torch.nn` module class (the activation of a conv or linear layer).
        torch_call: the function a standalone activation calls in `forward`.
        keras: the Keras activation name (`layers.Activation(name)`).
    """

    keyword: str
    formula: str
    torch: str
    torch_call: str
    keras: str


ACTIVATIONS: dict[str, Activation] = {
    a.keyword: a
    for a in (
        Activation("relu", "max(x, 0)", "ReLU", "F.relu", "relu"),
        Activation("relu6", "min(max(x, 0), 6)", "ReLU6", "F.relu6", "relu6"),
        Activation("sigmoid", "1 / (1 + exp(-x))", "Sigmoid", "torch.sigmoid", "sigmoid"),
        Activation("tanh", "tanh(x)", "Tanh", "torch.tanh", "tanh"),
        Activation("silu", "x * sigmoid(x)", "SiLU", "F.silu", "silu"),
        Activation("swish", "x * sigmoid(x), the same as silu", "SiLU", "F.silu", "silu"),
        # Exact: x * Phi(x). PyTorch's nn.GELU() and keras.activations.gelu are exact by default,
        # keras.ops.gelu is not: the targets name the exact one explicitly.
        Activation(
            "gelu",
            "x * Phi(x), Phi the standard normal CDF (exact, not the tanh approximation)",
            "GELU",
            "F.gelu",
            "gelu",
        ),  # fmt: skip
        Activation("hardswish", "x * relu6(x + 3) / 6", "Hardswish", "F.hardswish", "hard_swish"),
        Activation("hardsigmoid", "relu6(x + 3) / 6", "Hardsigmoid", "F.hardsigmoid", "hard_sigmoid"),
    )
}

#: Activations that can follow a conv or linear layer as a flag (`conv 3x3 -> 8 relu`).
FUSABLE: tuple[str, ...] = tuple(ACTIVATIONS)
