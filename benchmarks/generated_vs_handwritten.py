"""Generated models against the hand-written seed code they reproduce (same weights, same outputs).

1. PyTorch: seed 001's d2l GoogLeNet (1x96x96, 10 classes) against the generated
   `googlenet_d2l`, default and `--optimize`; eval forward, batch 32.
2. Keras: seed 004's Inception v3 for CIFAR-10 against the generated `inception_v3_cifar`;
   inference, batch 32.

Goals (issue 9): ratio >= 1.0 with default output; >= 2.0 with --optimize on googlenet_d2l.

    python benchmarks/generated_vs_handwritten.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))

from _common import median_time, print_table, repeats, smoke  # noqa: E402

import inceptgen  # noqa: E402

#: the batch of the figures; the CI smoke run, which shows that the script runs, takes 4
BATCH = 4 if smoke() else 32


def _copy_by_position(source_tensors, target_model) -> None:
    """Copy a state dict into a model whose tensors come in the same order and shapes."""
    target = target_model.state_dict()
    keys = [k for k in target if not k.endswith("num_batches_tracked")]
    values = [v for k, v in source_tensors.items() if not k.endswith("num_batches_tracked")]
    assert len(keys) == len(values), (len(keys), len(values))
    for key, value in zip(keys, values, strict=True):
        assert target[key].shape == value.shape, (key, target[key].shape, value.shape)
    target_model.load_state_dict({**target, **dict(zip(keys, values, strict=True))})


def torch_rows(n: int) -> list[list[object]]:
    import torch

    from tests.reference.seed001_googlenet import build_torch

    torch.manual_seed(0)
    seed = build_torch(in_channels=1, num_classes=10).eval()
    spec = inceptgen.load("@googlenet_d2l")
    generated = spec.to_torch().eval()
    _copy_by_position(seed.state_dict(), generated)
    optimized = spec.to_torch(optimize=True)
    optimized.load_reference(generated)
    x = torch.randn(BATCH, 1, 96, 96)
    rows = []
    with torch.no_grad():
        reference = seed(x)
        base = median_time(lambda: seed(x), n, warmup=2)
        rows.append(["seed 001 (hand-written)", f"{base * 1e3:.1f}", "1.00x", "-"])
        for label, model in (("generated", generated), ("generated --optimize", optimized)):
            diff = float((model(x) - reference).abs().max())
            seconds = median_time(lambda model=model: model(x), n, warmup=2)
            rows.append([label, f"{seconds * 1e3:.1f}", f"{base / seconds:.2f}x", f"{diff:.1e}"])
    return rows


def _weighted_layers(model) -> list:
    """The layers with weights, in one canonical order of the functional graph.

    Depth-first from the output, each layer after its inputs and a concat's inputs in
    concat order: two graphs of the same function list their layers alike, whatever
    order their code created them in.
    """
    order, seen = [], set()

    def visit(tensor) -> None:
        layer, node_index, _ = tensor._keras_history
        if id(layer) in seen:
            return
        seen.add(id(layer))
        for parent in layer._inbound_nodes[node_index].input_tensors:
            visit(parent)
        if layer.weights:
            order.append(layer)

    for output in model.outputs:
        visit(output)
    return order


def _keras_copy(source, target) -> None:
    """Copy weights between the layers at the same place of two graphs of one function."""
    pairs = list(zip(_weighted_layers(source), _weighted_layers(target), strict=True))
    for theirs, ours in pairs:
        assert [w.shape for w in theirs.weights] == [w.shape for w in ours.weights], (theirs.name, ours.name)
        ours.set_weights(theirs.get_weights())


def keras_rows(n: int) -> list[list[object]]:
    import keras

    from tests.reference.seed004_inception_v3_cifar import build_keras

    keras.utils.set_random_seed(0)
    seed = build_keras("full")
    generated = inceptgen.load("@inception_v3_cifar").to_keras()
    _keras_copy(seed, generated)
    x = np.random.default_rng(0).standard_normal((BATCH, 32, 32, 3)).astype("float32")
    reference = seed.predict_on_batch(x)
    base = median_time(lambda: seed.predict_on_batch(x), n, warmup=2)
    # The seed ends in a softmax; the generated model returns logits (the loss applies it).
    logits = generated.predict_on_batch(x)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    diff = float(np.max(np.abs(probabilities - reference)))
    seconds = median_time(lambda: generated.predict_on_batch(x), n, warmup=2)
    return [
        ["seed 004 (hand-written)", f"{base * 1e3:.1f}", "1.00x", "-"],
        ["generated", f"{seconds * 1e3:.1f}", f"{base / seconds:.2f}x", f"{diff:.1e}"],
    ]


def main() -> None:
    n = repeats(15)
    header = ["model", f"ms / batch of {BATCH} (median)", "speed vs seed", "max abs diff vs seed"]
    print_table(f"PyTorch: googlenet_d2l, eval forward, batch {BATCH}, CPU", header, torch_rows(n))
    print_table(f"Keras: inception_v3_cifar, inference, batch {BATCH}, CPU", header, keras_rows(n))


if __name__ == "__main__":
    main()
