"""How close to the machine: achieved GFLOP/s of generated models against a large matmul.

FLOPs are 2 x the MACs the checker counts (convolutions and linear layers) for a forward
pass, and 3 times that for a training step (the backward pass computes the gradients of
both the inputs and the weights, each about a forward's work). The ceiling is a float32
matrix product measured in the same run, with the same threads. Rows: PyTorch eval
(default and `--optimize`) and training step (SGD, cross-entropy); Keras
`predict_on_batch` (default and `--optimize`) and `train_on_batch`.

    python benchmarks/roofline.py
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import median_time, print_table, repeats, smoke  # noqa: E402

import inceptgen  # noqa: E402

SPECS = {"cifar_mini": 64} if smoke() else {"cifar_mini": 64, "googlenet_d2l": 32, "inception_v3": 4}

#: a training step's FLOPs per forward's (forward, gradients of inputs and of weights)
TRAINING_FACTOR = 3


def matmul_gflops(n: int) -> float:
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    seconds = median_time(lambda: a @ b, n, warmup=2)
    return 2 * 2048**3 / seconds / 1e9


def torch_workloads(spec, batch: int) -> dict[str, tuple[Callable[[], object], int]]:
    """label -> (one step, FLOPs factor) for the PyTorch builds."""
    import torch

    x = torch.randn(batch, *spec.checked.input_shape)
    y = torch.randint(0, spec.checked.outputs["main"][0], (batch,))
    plain, optimized = spec.to_torch().eval(), spec.to_torch(optimize=True).eval()
    trained = spec.to_torch().train()
    sgd = torch.optim.SGD(trained.parameters(), lr=0.01)

    def infer(model) -> Callable[[], object]:
        def forward() -> object:
            with torch.no_grad():
                return model(x)

        return forward

    def step() -> None:
        sgd.zero_grad(set_to_none=True)
        out = trained(x)
        torch.nn.functional.cross_entropy(out[0] if isinstance(out, tuple) else out, y).backward()
        sgd.step()

    return {
        "PyTorch eval": (infer(plain), 1),
        "PyTorch eval --optimize": (infer(optimized), 1),
        "PyTorch training step": (step, TRAINING_FACTOR),
    }


def keras_workloads(spec, batch: int) -> dict[str, tuple[Callable[[], object], int]]:
    """label -> (one step, FLOPs factor) for the Keras builds (NHWC input)."""
    import keras
    import numpy as np

    c, h, w = spec.checked.input_shape
    x = np.random.default_rng(0).standard_normal((batch, h, w, c), dtype=np.float32)
    classes = spec.checked.outputs["main"][0]
    y = keras.utils.to_categorical(np.arange(batch) % classes, classes)
    plain = spec.to_keras()
    optimized = spec.to_keras(optimize=True, reference=plain)
    trained = spec.to_keras()
    trained.compile(optimizer=keras.optimizers.SGD(0.01), loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    return {
        "Keras predict_on_batch": (lambda: plain.predict_on_batch(x), 1),
        "Keras predict_on_batch --optimize": (lambda: optimized.predict_on_batch(x), 1),
        "Keras train_on_batch": (lambda: trained.train_on_batch(x, y), TRAINING_FACTOR),
    }


def main() -> None:
    import torch

    n = repeats(5)
    peak = matmul_gflops(n)
    rows = [["float32 matmul 2048x2048", "-", "-", f"{peak:.1f}", "100%"]]
    for name, batch in SPECS.items():
        spec = inceptgen.load(f"@{name}")
        flops = 2 * spec.checked.macs * batch
        for workloads in (torch_workloads, keras_workloads):
            for label, (run, factor) in workloads(spec, batch).items():
                seconds = median_time(run, n, warmup=2)
                gflops = factor * flops / seconds / 1e9
                ms = f"{seconds * 1e3:.1f}"
                rows.append([f"{name}, {label}", batch, ms, f"{gflops:.1f}", f"{gflops / peak:.0%}"])
    print_table(
        f"Achieved GFLOP/s, CPU, {torch.get_num_threads()} threads",
        ["workload", "batch", "ms (median)", "GFLOP/s", "of matmul"],
        rows,
    )


if __name__ == "__main__":
    main()
