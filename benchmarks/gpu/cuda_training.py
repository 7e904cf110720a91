"""CUDA checks for the `device` machine (one GPU; PyTorch, timm and torchvision, no TensorFlow).

Not part of CI and not run by tests/test_benchmarks.py (which only runs benchmarks/*.py):

1. the training step (forward, backward, SGD) of generated `inception_v3` and `inception_v4`
   at batch 128, bf16 autocast, channels-last, against timm's models of the same
   architecture, with their parameter counts (images/s, median of timed steps after warm-up);
2. a short CIFAR-10 run of `@cifar_mini` on the GPU through `inceptgen train --device cuda`;
3. parity of the PyTorch build on CUDA (float32, TF32 off) against the CPU build, same weights.

    python benchmarks/gpu/cuda_training.py [CIFAR_DIR]

Prints Markdown tables; exits 1 when CUDA is missing (nothing is measured on a CPU).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import inceptgen  # noqa: E402

BATCH = 128
PAIRS = {"inception_v3": "inception_v3", "inception_v4": "inception_v4"}  # spec -> timm model


def table(title: str, header: list[str], rows: list[list[object]]) -> None:
    print(f"\n### {title}\n\n| " + " | ".join(header) + " |\n|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")


def step_rate(model: torch.nn.Module, side: int, steps: int = 20, warmup: int = 5) -> float:
    model = model.cuda().to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(BATCH, 3, side, side, device="cuda").to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (BATCH,), device="cuda")
    times = []
    for i in range(warmup + steps):
        torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(x)
            out = out[0] if isinstance(out, tuple) else out
            loss = torch.nn.functional.cross_entropy(out.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - started)
    return BATCH / statistics.median(times)


def training_steps() -> None:
    import timm

    rows = []
    for spec_name, timm_name in PAIRS.items():
        spec = inceptgen.load(f"@{spec_name}")
        side = spec.checked.input_shape[1]
        ours = spec.to_torch()
        theirs = timm.create_model(timm_name, pretrained=False, num_classes=1000)  # timm: no aux head
        counts = [sum(p.numel() for p in m.parameters()) for m in (ours, theirs)]
        rates = [step_rate(ours, side), step_rate(theirs, side)]
        rows.append(
            [
                spec_name,
                f"{counts[0]:,}",
                f"{counts[1]:,}",
                f"{rates[0]:.0f}",
                f"{rates[1]:.0f}",
                f"{rates[0] / rates[1]:.2f}x",
            ]
        )
        del ours, theirs
        torch.cuda.empty_cache()
    header = ["spec", "parameters (inceptgen)", "parameters (timm)", "images/s inceptgen", "images/s timm", "ratio"]
    table(f"training step, batch {BATCH}, bf16 autocast, channels-last, {torch.cuda.get_device_name()}", header, rows)


def cifar_run(data: str) -> None:
    with tempfile.TemporaryDirectory() as out:
        args = [sys.executable, "-m", "inceptgen", "train", "@cifar_mini", "--target", "torch", "--data", data]
        args += ["--epochs", "3", "--batch-size", "64", "--lr", "0.1", "--device", "cuda", "--workers", "4"]
        args += ["--out", f"{out}/run"]
        started = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        seconds = time.perf_counter() - started
        print(done.stdout[-2000:], done.stderr[-2000:])
        if done.returncode == 0:
            import json

            summary = json.loads(Path(f"{out}/run/summary.json").read_text())
            row = [f"{summary['test_accuracy']:.1%}", f"{summary['images_per_s']:.0f}", f"{seconds:.1f}"]
            table("cifar_mini, 3 epochs, batch 64, --device cuda", ["test accuracy", "images/s", "wall s"], [row])


def cuda_parity() -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    rows = []
    for name in ("cifar_mini", "inception_v3", "googlenet_d2l"):
        spec = inceptgen.load(f"@{name}")
        torch.manual_seed(0)
        cpu = spec.to_torch().eval()
        gpu = spec.to_torch().eval()
        gpu.load_state_dict(cpu.state_dict())
        gpu = gpu.cuda()
        x = torch.randn(2, *spec.checked.input_shape)
        with torch.no_grad():
            a, b = cpu(x), gpu(x.cuda()).cpu()
        diff = (a - b).abs().max().item()
        rows.append([name, f"{diff:.1e}", f"{diff / a.abs().max().item():.1e}"])
    table("PyTorch build, CUDA (fp32, TF32 off) against CPU, batch 2", ["spec", "max abs diff", "max rel diff"], rows)


def main() -> None:
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this script measures nothing on a CPU")
    training_steps()
    cuda_parity()
    data = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("INCEPTGEN_CIFAR")
    if data:
        cifar_run(data)


if __name__ == "__main__":
    main()
