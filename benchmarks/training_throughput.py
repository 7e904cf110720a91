"""Training throughput (images/s) on the CPU: 1 process against 2 (DDP, gloo), Keras against Keras mirrored,
data-loading workers, channels-last and torch.compile.

Every row is one `inceptgen train` process (or `--nproc-per-node 2`), two epochs of the same
class-balanced subset; the figure is the second epoch's images/s (the first one pays for
start-up, worker spawn and compilation). `cifar_mini` trains on the CIFAR-10 arrays named by
INCEPTGEN_CIFAR; `inception_v3` at 3x75x75 (its smallest input) trains on the same images
written as an image folder, decoded and resized per batch, so `--workers` matters there.
Threads: one process uses all cores; two processes get half each (as torchrun sets them).

    INCEPTGEN_CIFAR=../shared/datasets/cifar10-mini python benchmarks/training_throughput.py

INCEPTGEN_BENCH_REPEATS=N scales the images per epoch (the CI smoke test sets 1); INCEPTGEN_BENCH_SMOKE=1
runs the two-process rows only (every row is one process: about 20 s each here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import print_table, repeats, smoke  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = os.environ.get("INCEPTGEN_CIFAR", str(ROOT.parent / "shared" / "datasets" / "cifar10-mini"))
CORES = os.cpu_count() or 1

# (label, target, extra options, processes)
CIFAR_ROWS = [
    ("torch, workers 0", "torch", [], 1),
    ("torch, workers 2", "torch", ["--workers", "2"], 1),
    ("torch, channels-last", "torch", ["--channels-last"], 1),
    ("torch, --compile", "torch", ["--compile"], 1),
    ("torch, 2 processes (DDP, gloo)", "torch", [], 2),
    ("keras", "keras", [], 1),
    ("keras, MirroredStrategy over 2 logical CPUs", "keras", ["--replicas", "2", "--device", "cpu"], 1),
]
FOLDER_ROWS = [
    ("torch, workers 0", "torch", [], 1),
    ("torch, workers 2", "torch", ["--workers", "2"], 1),
    ("torch, channels-last", "torch", ["--channels-last"], 1),
    ("torch, 2 processes (DDP, gloo)", "torch", [], 2),
    ("keras", "keras", [], 1),
    ("keras, workers 2", "keras", ["--workers", "2"], 1),
]


def image_folder(root: Path, per_class: int) -> Path:
    """CIFAR-10 training and test images as PNG files, ImageNet layout."""
    from PIL import Image

    from inceptgen.runtime import data as datalib

    dataset = datalib.load_cifar10(DATA)
    for split, x, y, count in (
        ("train", dataset.x_train, dataset.y_train, per_class),
        ("test", dataset.x_test, dataset.y_test, 2),
    ):
        for label, name in enumerate(dataset.classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i, index in enumerate(((y == label).nonzero()[0])[:count]):
                Image.fromarray(x[index].transpose(1, 2, 0)).save(folder / f"{i}.png")
    return root


def images_per_s(
    spec: str, data: str, images: int, batch: int, row: tuple, work: Path, sets: list[str]
) -> tuple[int, str]:
    label, target, extra, processes = row
    out = work / f"run_{abs(hash((spec, label)))}"
    args = [sys.executable, "-m", "inceptgen", "train", spec, *sets, "--target", target, "--data", data]
    args += ["--epochs", "2", "--batch-size", str(batch), "--limit-train", str(images), "--limit-test", "20"]
    args += ["--lr", "0.01", "--out", str(out), *extra]
    if processes > 1:
        args += ["--nproc-per-node", str(processes)]
    threads = str(max(1, CORES // processes))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{label}: {done.stderr[-2000:]}")
    last = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]
    trained = json.loads((out / "summary.json").read_text())["data"]["train_images"]  # class-balanced: <= images
    return trained, f"{last['images_per_s']:.0f}"


def table(spec: str, data: str, images: int, batch: int, rows: list, work: Path, sets: list[str]) -> list[list[object]]:
    if smoke():  # the rows of two processes, which reach the most code (torchrun; tests/runtime covers the rest)
        rows = [row for row in rows if row[3] > 1] or rows[-1:]
    return [[row[0], row[3], *images_per_s(spec, data, images, batch, row, work, sets)] for row in rows]


def main() -> None:
    scale = repeats(2)
    load = os.getloadavg()[0]
    header = ["configuration", "processes", "images per epoch", "images/s (epoch 2)"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = table("@cifar_mini", DATA, 320 * scale, 64, CIFAR_ROWS, work, [])
        print_table(f"cifar_mini (354,826 parameters), batch 64, CPU, {CORES} cores", header, rows)
        folder = str(image_folder(work / "images", per_class=4 * scale))
        sets = ["--set", "input=3x75x75", "--set", "classes=10"]
        rows = table("@inception_v3", folder, 32 * scale, 16, FOLDER_ROWS, work, sets)
        print_table(f"inception_v3 at 3x75x75, image folder, batch 16, CPU, {CORES} cores", header, rows)
    print_table("machine", ["cores", "load average (1 min) at the start"], [[CORES, f"{load:.2f}"]])


if __name__ == "__main__":
    main()
