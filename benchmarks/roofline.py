"""How close to the machine: achieved GFLOP/s of generated forwards against a large matmul.

FLOPs are 2 x the MACs the checker counts (convolutions and linear layers); the
ceiling is a float32 matrix product measured in the same run, same threads.

    python benchmarks/roofline.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import median_time, print_table, repeats  # noqa: E402

import inceptgen  # noqa: E402

SPECS = {"cifar_mini": 64, "googlenet_d2l": 32, "inception_v3": 4}


def matmul_gflops(n: int) -> float:
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    seconds = median_time(lambda: a @ b, n, warmup=2)
    return 2 * 2048**3 / seconds / 1e9


def main() -> None:
    import torch

    n = repeats(7)
    peak = matmul_gflops(n)
    rows = [["float32 matmul 2048x2048", "-", "-", f"{peak:.1f}", "100%"]]
    for name, batch in SPECS.items():
        spec = inceptgen.load(f"@{name}")
        flops = 2 * spec.checked.macs * batch
        for label, optimize in (("default", False), ("--optimize", True)):
            model = spec.to_torch(optimize=optimize).eval()
            x = torch.randn(batch, *spec.checked.input_shape)
            with torch.no_grad():
                seconds = median_time(lambda model=model, x=x: model(x), n, warmup=2)
            gflops = flops / seconds / 1e9
            rows.append([f"{name} {label}", batch, f"{seconds * 1e3:.1f}", f"{gflops:.1f}", f"{gflops / peak:.0%}"])
    print_table(
        f"Achieved GFLOP/s, PyTorch CPU, {torch.get_num_threads()} threads",
        ["workload", "batch", "ms (median)", "GFLOP/s", "of matmul"],
        rows,
    )


if __name__ == "__main__":
    main()
