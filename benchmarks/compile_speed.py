"""Compiler speed: parse + lower + check + emit per stdlib spec, and the whole CLI process.

Goals (issue 17): a warm in-process check of the largest spec within 10 ms (a language server
checks on every edit); as whole processes, `inceptgen check` within 0.18 s of CPU and
`inceptgen compile` within 0.25 s, against about 0.1 s for importing the libraries they use.

    python benchmarks/compile_speed.py
"""

from __future__ import annotations

import compileall
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import median_time, print_table, repeats  # noqa: E402

import inceptgen  # noqa: E402
from inceptgen.stdlib import list_specs, stdlib_path  # noqa: E402


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


#: whole-process commands (label, argv after `python`, goal in CPU seconds; issue 17)
COMMANDS = [
    ("import lark, jinja2, typer, rich (the floor)", ["-c", "import lark, jinja2, typer, rich"], None),
    ("inceptgen --version", ["-m", "inceptgen", "--version"], None),
    ("inceptgen check @inception_resnet_v2", ["-m", "inceptgen", "check", "@inception_resnet_v2"], 0.18),
    ("inceptgen compile @inception_resnet_v2 -t torch", ["-m", "inceptgen", "compile", "@inception_resnet_v2",
     "--target", "torch", "-o", "{out}", "--force"], 0.25),
]  # fmt: skip


def _child_cpu(argv: list[str]) -> float:
    """CPU seconds (user + system) one child process used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def processes(n: int) -> list[list[object]]:
    # An installed package has its bytecode; this machine sets PYTHONDONTWRITEBYTECODE, under
    # which every run would compile inceptgen's modules again (about 40 ms).
    compileall.compile_dir(str(Path(inceptgen.__file__).parent), quiet=1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, args, goal in COMMANDS:
            argv = [sys.executable, *(a.format(out=Path(tmp) / "model.py") for a in args)]
            wall = median_time(lambda argv=argv: subprocess.run(argv, check=True, capture_output=True), n)
            cpu = statistics.median(_child_cpu(argv) for _ in range(n))
            rows.append([label, f"{cpu:.3f}", f"{wall:.3f}", "-" if goal is None else f"<= {goal}"])
    return rows


def warm_check(n: int) -> list[list[object]]:
    """In-process check of the largest spec from its text, as a language server does per edit."""
    text = stdlib_path("inception_resnet_v2").read_text(encoding="utf-8")
    seconds = median_time(lambda: inceptgen.load(text), max(n, 20), warmup=3)
    return [["inception_resnet_v2", f"{seconds * 1e3:.1f}", "<= 10"]]


def main() -> None:
    n = repeats(7)
    print_table(
        "In-process compile time (ms, median)",
        ["spec", "layers", "parse+lower+check", "+ emit torch", "+ emit keras"],
        in_process(n),
    )
    print_table("Warm in-process check (ms, median)", ["spec", "ms", "goal"], warm_check(n))
    print_table("Whole process (s, median)", ["command", "CPU s", "wall s", "goal (CPU s)"], processes(n))


if __name__ == "__main__":
    main()
