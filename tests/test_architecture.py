"""The shape of the package: data flows one way, the vocabulary and the targets are listed once.

text -> parse -> syntax -> lower -> ir -> check -> emit -> source; runtime alone imports
frameworks. These tests read the package's own imports (statically, and by importing each
front-end module alone in a fresh interpreter).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "inceptgen"

#: The front end in pipeline order: a module may import only those before it (and shared leaves).
FRONT_END = [
    "expr", "syntax", "ops", "syntax_errors", "parse", "loader", "ir",
    "naming", "scopes", "options", "calls", "lower", "pricing", "check",
]  # fmt: skip
LEAVES = {"errors", "records", "limits", "resources", "names", "stdlib", "__init__"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"


def _imports(path: Path) -> set[str]:
    """The inceptgen modules a file imports (first component after `inceptgen.`), at any level."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("inceptgen"):
            parts = node.module.split(".")
            found |= {parts[1]} if len(parts) > 1 else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("inceptgen.")}
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        top = _module_name(path).split(".")[0]
        graph.setdefault(top, set()).update(_imports(path) - {top})
    return graph


@pytest.mark.parametrize("module", FRONT_END)
def test_front_end_modules_import_only_earlier_stages(module: str) -> None:
    allowed = set(FRONT_END[: FRONT_END.index(module)]) | LEAVES
    assert _graph()[module] <= allowed, _graph()[module] - allowed


def test_the_vocabulary_depends_on_nothing_but_expressions_errors_and_records() -> None:
    assert _graph()["ops"] <= {"expr", "errors", "records"}


def test_parse_does_not_import_lower() -> None:
    # 0.1: parse and lower imported each other.
    script = "import sys, inceptgen.parse; print(sorted(m for m in sys.modules if m.startswith('inceptgen')))"
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert "inceptgen.lower" not in loaded and "inceptgen.check" not in loaded and "inceptgen.parse" in loaded


@pytest.mark.parametrize("module", FRONT_END)
def test_each_front_end_module_imports_alone(module: str) -> None:
    script = f"import inceptgen.{module}; import sys; assert 'torch' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", script], check=True)


def test_targets_are_listed_once() -> None:
    """Only the registry names the targets as a list; everything else reads it."""
    listing = re.compile(r"""\(\s*["'](torch|keras)["']\s*,\s*["'](torch|keras)["']\s*\)""")
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "targets.py" and listing.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_only_the_runtime_imports_frameworks() -> None:
    heavy = re.compile(r"^\s*(import|from)\s+(torch|tensorflow|keras)\b", re.M)
    for path in PACKAGE.rglob("*.py"):
        if "runtime" not in path.relative_to(PACKAGE).parts:
            assert not heavy.search(path.read_text(encoding="utf-8")), path
