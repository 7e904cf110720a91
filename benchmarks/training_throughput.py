"""Training throughput of `cifar_mini` in PyTorch and Keras on the same machine (images/s).

Both frameworks train on identical batches (see inceptgen.runtime.train); one epoch on a
class-balanced subset of the CIFAR-10 data named by INCEPTGEN_CIFAR.

    INCEPTGEN_CIFAR=../shared/datasets/cifar10-mini python benchmarks/training_throughput.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import print_table, repeats  # noqa: E402

import inceptgen  # noqa: E402
from inceptgen.runtime.train import train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = os.environ.get("INCEPTGEN_CIFAR", str(ROOT.parent / "shared" / "datasets" / "cifar10-mini"))


def main() -> None:
    images = 640 * repeats(2)  # the smoke test (one repeat) trains on 640 images
    spec = inceptgen.load("@cifar_mini")
    rows = []
    for target in ("torch", "keras"):
        with tempfile.TemporaryDirectory() as out:
            summary = train(
                spec, target, DATA, out=Path(out) / "run", epochs=1, batch_size=64, limit_train=images, limit_test=200
            )
        rows.append([target, images, f"{summary['images_per_s']:.0f}"])
    print_table("cifar_mini training, 1 epoch, batch 64, CPU", ["target", "images", "images/s"], rows)
    print_table("parameters", ["spec", "parameters"], [["cifar_mini", f"{spec.checked.total_params:,}"]])


if __name__ == "__main__":
    main()
