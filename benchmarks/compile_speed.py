"""Compiler speed: parse + lower + check + emit per stdlib spec, and the whole CLI process.

Goals (issue 9): under 100 ms in-process for the largest spec; `inceptgen compile` as a
process under 0.5 s, which needs torch and tensorflow kept off that path.

    python benchmarks/compile_speed.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import median_time, print_table, repeats  # noqa: E402

import inceptgen  # noqa: E402
from inceptgen.stdlib import list_specs  # noqa: E402


def in_process(n: int) -> list[list[object]]:
    rows = []
    for name in list_specs():
        front = median_time(lambda name=name: inceptgen.load(f"@{name}"), n)
        spec = inceptgen.load(f"@{name}")
        layers = sum(1 for node in spec.checked.nodes if not node.is_container)
        # A fresh Spec each time: source() is cached per Spec.
        torch_ms = median_time(lambda name=name: inceptgen.load(f"@{name}").source("torch"), n)
        keras_ms = median_time(lambda name=name: inceptgen.load(f"@{name}").source("keras"), n)
        rows.append([name, layers, f"{front * 1e3:.1f}", f"{torch_ms * 1e3:.1f}", f"{keras_ms * 1e3:.1f}"])
    return rows


def processes(n: int) -> list[list[object]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.py"
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "inceptgen --version": [sys.executable, "-m", "inceptgen", "--version"],
            "inceptgen compile @inception_resnet_v2 --target torch": [
                sys.executable, "-m", "inceptgen", "compile", "@inception_resnet_v2", "--target", "torch",
                "-o", str(out), "--force",
            ],
        }  # fmt: skip
        base = None
        rows = []
        for label, argv in commands.items():
            seconds = median_time(lambda argv=argv: subprocess.run(argv, check=True, capture_output=True), n)
            base = base or seconds
            rows.append([label, f"{seconds * 1e3:.0f}", f"{seconds / base:.1f}x"])
    return rows


def main() -> None:
    n = repeats(7)
    print_table(
        "In-process compile time (ms, median)",
        ["spec", "layers", "parse+lower+check", "+ emit torch", "+ emit keras"],
        in_process(n),
    )
    print_table("Whole process (ms, median)", ["command", "ms", "vs python -c pass"], processes(n))


if __name__ == "__main__":
    main()
