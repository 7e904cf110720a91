"""Generated models against the hand-written references installable where this runs, in one run.

- Keras (always): keras.applications' InceptionV3 and InceptionResNetV2 (random weights: speed
  does not depend on them) against the generated `inception_v3` / `inception_resnet_v2`, plain
  and `--optimize`; `predict_on_batch` and `train_on_batch` (SGD, cross-entropy). The CI smoke
  run takes VGG16 instead.
- PyTorch (where timm is installed, as on the GPU machine): timm's `inception_v3` and
  `inception_v4` against the generated models, eval forward, default and `--optimize`.

Each figure is the median ratio of interleaved pairs (reference, generated, reference, ...), so
that a change of load during the run hits both sides. The optimised Keras build takes the plain
build's weights (`load_reference`) and its largest relative difference from it is printed.

    python benchmarks/peers.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))

from _common import print_table, repeats, smoke  # noqa: E402

import inceptgen  # noqa: E402

CORES = os.cpu_count() or 1
#: The models' input side: 299 as published. The CI smoke run shows that the script runs, not its
#: figures: it takes VGG-16 at keras.applications' smallest input, 32, whose 23 layers Keras traces
#: in a fraction of the time Inception v3's 313 take (the same code).
SIZE = 32 if smoke() else 299


def paired(reference: Callable[[], object], generated: Callable[[], object], n: int) -> tuple[float, float, float]:
    """Median reference time, median generated time and the median of the per-pair ratios (seconds)."""
    reference(), generated()  # warm-up: graph tracing, allocation
    ref_times, gen_times, ratios = [], [], []
    for _ in range(n):
        start = time.perf_counter()
        reference()
        middle = time.perf_counter()
        generated()
        end = time.perf_counter()
        ref_times.append(middle - start)
        gen_times.append(end - middle)
        ratios.append((middle - start) / (end - middle))
    return statistics.median(ref_times), statistics.median(gen_times), statistics.median(ratios)


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a))), 1e-12))


def keras_rows(n: int, batch: int) -> list[list[object]]:
    import keras

    cases = [
        ("inception_v3", keras.applications.InceptionV3),
        ("inception_resnet_v2", keras.applications.InceptionResNetV2),
    ]
    if smoke():
        cases = [("vgg16", keras.applications.VGG16)]
    shape = (SIZE, SIZE, 3)
    return [
        row
        for name, application in cases
        for row in keras_case(name, application(weights=None, input_shape=shape), n, batch)
    ]


def keras_case(name: str, reference, n: int, batch: int) -> list[list[object]]:
    """predict_on_batch (plain and --optimize) and train_on_batch of one model against its reference."""
    import keras

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, SIZE, SIZE, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 1000, batch), 1000)
    spec = inceptgen.load(f"@{name}", input=f"3x{SIZE}x{SIZE}")
    plain = spec.to_keras()
    optimized = spec.to_keras(optimize=True, reference=plain)
    diff = max_rel(plain.predict_on_batch(x), optimized.predict_on_batch(x))
    rows = []
    for label, model, note in (("generated", plain, "-"), ("generated --optimize", optimized, f"{diff:.1e}")):
        ref_s, gen_s, ratio = paired(lambda: reference.predict_on_batch(x), lambda m=model: m.predict_on_batch(x), n)
        rows.append(
            [f"{name} predict_on_batch", label, f"{ref_s * 1e3:.0f}", f"{gen_s * 1e3:.0f}", f"{ratio:.2f}x", note]
        )
    # keras.applications ends in a softmax, the generated model in logits: the same loss either way
    reference.compile(optimizer=keras.optimizers.SGD(0.01), loss=keras.losses.CategoricalCrossentropy())
    plain.compile(optimizer=keras.optimizers.SGD(0.01), loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    ref_s, gen_s, ratio = paired(lambda: reference.train_on_batch(x, y), lambda: plain.train_on_batch(x, y), n)
    rows.append(
        [f"{name} train_on_batch", "generated", f"{ref_s * 1e3:.0f}", f"{gen_s * 1e3:.0f}", f"{ratio:.2f}x", "-"]
    )
    return rows


def torch_rows(n: int, batch: int) -> list[list[object]] | None:
    try:
        import timm
    except ImportError:
        return None
    return [
        row for name in ("inception_v3", "inception_v4") for row in torch_case(name, timm.create_model(name), n, batch)
    ]


def torch_case(name: str, reference, n: int, batch: int) -> list[list[object]]:
    """Eval forward, default and --optimize, of one model against timm's."""
    import torch

    reference.eval()
    spec = inceptgen.load(f"@{name}", input=f"3x{SIZE}x{SIZE}")
    plain = spec.to_torch().eval()
    optimized = spec.to_torch(optimize=True)
    optimized.load_reference(plain)
    x = torch.randn(batch, 3, SIZE, SIZE)
    rows = []
    with torch.no_grad():
        for label, model in (("generated", plain), ("generated --optimize", optimized)):
            ref_s, gen_s, ratio = paired(lambda: reference(x), lambda m=model: m(x), n)
            rows.append([f"{name} eval", label, f"{ref_s * 1e3:.0f}", f"{gen_s * 1e3:.0f}", f"{ratio:.2f}x", "-"])
    return rows


def main() -> None:
    n = repeats(7)
    load = os.getloadavg()[0]
    header = ["workload", "build", "reference ms", "generated ms", "speed vs reference", "max rel diff vs plain"]
    batch = 2 if smoke() else 8
    print_table(
        f"Keras {__import__('keras').__version__} against keras.applications, batch {batch}, {SIZE}x{SIZE}, CPU, "
        f"{CORES} cores",
        header,
        keras_rows(n, batch),
    )
    rows = torch_rows(n, batch)
    if rows is None:
        print("\ntimm is not installed here: the PyTorch rows run where it is (the GPU machine).")
    else:
        print_table(f"PyTorch against timm, batch {batch}", header, rows)
    print_table("machine", ["cores", "load average (1 min) at the start"], [[CORES, f"{load:.2f}"]])


if __name__ == "__main__":
    main()
