"""Code generation: standalone, formatted, deterministic, safe source for every target.

Golden files pin the generated code of two small specs per target. Regenerate them
(after an intended change) with:

    INCEPTGEN_REGEN_GOLDEN=1 python -m pytest tests/test_emit.py -k golden
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import inceptgen
from inceptgen.emit.render import HEADER_MARK
from inceptgen.errors import InceptgenError, SpecNameError, SpecSyntaxError, UnsupportedError
from inceptgen.stdlib import list_specs
from inceptgen.targets import TARGET_NAMES as TARGETS

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
FIXTURES = HERE / "fixtures" / "parity"
GOLDEN_SPECS = {
    "inception_v3": "@inception_v3",
    "inception_resnet_v2": "@inception_resnet_v2",
    "naive_module": "@naive_module",
    "residual_scale": str(FIXTURES / "residual_scale.incept"),
}
ALLOWED_IMPORTS = {"torch": {"torch", "math", "typing"}, "keras": {"keras", "math", "tensorflow"}}


def _ruff(*args: str, source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--isolated", "--stdin-filename", "generated.py", "-"],
        input=source,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module", params=list_specs())
def stdlib_spec(request: pytest.FixtureRequest) -> inceptgen.Spec:
    return inceptgen.load(f"@{request.param}")


@pytest.mark.parametrize("target", TARGETS)
def test_every_stdlib_spec_emits_clean_standalone_source(stdlib_spec: inceptgen.Spec, target: str) -> None:
    source = stdlib_spec.source(target)
    assert source.startswith(HEADER_MARK)
    assert stdlib_spec.model.source_hash in source.splitlines()[0]
    tree = ast.parse(source)
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom) and (node.module if isinstance(node, ast.ImportFrom) else True)
        for alias in node.names
    } - {"__future__"}
    assert imported <= ALLOWED_IMPORTS[target], imported
    assert "inceptgen" not in imported
    assert _ruff("format", "--check", source=source).returncode == 0
    lint = _ruff("check", source=source)
    assert lint.returncode == 0, lint.stdout


@pytest.mark.parametrize("target", TARGETS)
def test_every_stdlib_spec_emits_clean_optimised_source(stdlib_spec: inceptgen.Spec, target: str) -> None:
    source = stdlib_spec.source(target, optimize=True)
    tree = ast.parse(source)
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    } - {"__future__"}
    assert imported <= ALLOWED_IMPORTS[target] | {"numpy"}, imported  # load_reference folds in numpy
    assert _ruff("format", "--check", source=source).returncode == 0
    lint = _ruff("check", source=source)
    assert lint.returncode == 0, lint.stdout


@pytest.mark.parametrize("target", TARGETS)
def test_output_is_byte_identical_across_processes(target: str, tmp_path: Path) -> None:
    """Same output whether the templates are compiled, read from the cache, or the cache is unusable."""
    code = f"import inceptgen; print(inceptgen.load('@googlenet').source('{target}'), end='')"
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    caches = [tmp_path / "cache", tmp_path / "cache", blocked]  # empty, filled, unwritable

    def run(cache: Path) -> str:
        env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout

    runs = [run(cache) for cache in caches]
    assert list((tmp_path / "cache" / "inceptgen" / "templates").iterdir()), "no compiled template was cached"
    assert runs[0] == runs[1] == runs[2] == inceptgen.load("@googlenet").source(target)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(GOLDEN_SPECS))
def test_golden(name: str, target: str) -> None:
    path = GOLDEN / f"{name}.{target}.py"
    source = inceptgen.load(GOLDEN_SPECS[name]).source(target)
    if os.environ.get("INCEPTGEN_REGEN_GOLDEN"):
        path.write_text(source, encoding="utf-8")
    assert source == path.read_text(encoding="utf-8"), f"regenerate with INCEPTGEN_REGEN_GOLDEN=1 ({path.name})"


def test_overrides_change_the_build_model_defaults() -> None:
    source = inceptgen.load("@cifar_mini", classes=7).source("torch")
    assert "classes: int = 7" in source
    assert "with classes=7" in source.splitlines()[0]


HOSTILE_NAMES = ["__import__('os')", "a;b", "class", "lambda", "naïve", "x__y", "éa", "a.b", "1x"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize(
    "template",
    [
        "model {n}(input = 3x8x8)\nstage s {{ relu }}",
        "model m(input = 3x8x8)\nblock {n}() {{ relu }}\nstage s {{ {n}() }}",
        "model m(input = 3x8x8, {n} = 1)\nstage s {{ relu }}",
        "model m(input = 3x8x8)\nblock b({n}) {{ relu }}\nstage s {{ b(1) }}",
        "model m(input = 3x8x8)\nstage s {{ conv 1x1 -> 4 as {n} }}",
        "model m(input = 3x8x8)\nstage {n} {{ relu }}",
    ],
    ids=["model", "block", "model-param", "block-param", "layer", "stage"],
)
def test_hostile_names_never_reach_generated_code(template: str, name: str) -> None:
    with pytest.raises((SpecNameError, SpecSyntaxError)) as caught:
        inceptgen.load(template.format(n=name))
    assert caught.value.span is not None and caught.value.span.line >= 1


@pytest.mark.parametrize("name", ["forward", "training", "parameters", "state_dict"])
@pytest.mark.parametrize(
    "template",
    ["model m(input = 3x8x8)\nstage s {{ conv 1x1 -> 4 as {n} }}", "model m(input = 3x8x8)\nstage {n} {{ relu }}"],
    ids=["layer", "stage"],
)
def test_module_members_cannot_be_layer_names(template: str, name: str) -> None:
    with pytest.raises(SpecNameError):
        inceptgen.load(template.format(n=name))


def test_builtin_names_are_renamed_not_shadowed() -> None:
    spec = inceptgen.load("model m(input = 3x8x8, len = 4)\nblock b(max) { conv 1x1 -> max }\nstage s { b(len) }")
    for target in TARGETS:
        source = spec.source(target)
        assert "len_: int = 4" in source and "max_: int" in source
        compile(source, "generated.py", "exec")


def test_unknown_target_is_a_user_error() -> None:
    with pytest.raises(InceptgenError, match="unknown target"):
        inceptgen.load("@naive_module").source("jax")


@pytest.mark.parametrize("target", TARGETS)
def test_a_node_the_emitter_has_no_handler_for_is_refused_with_its_span(target: str) -> None:
    """Never silently missing code: an emitter without a handler for `relu` refuses the relu."""
    from inceptgen.targets import target as find

    emitter = find(target).emitter_class()
    lacking = type("Lacking", (emitter,), {"HANDLERS": {k: v for k, v in emitter.HANDLERS.items() if k != "relu"}})
    spec = inceptgen.load("model m(input = 3x8x8)\nstage s {\n  conv 1x1 -> 4\n  relu\n}\n")
    with pytest.raises(UnsupportedError) as info:
        lacking(spec.checked, "<spec>").render()
    assert "'relu'" in info.value.message and (info.value.span.line, info.value.span.column) == (4, 3)


@pytest.mark.parametrize("target", TARGETS)
def test_a_handler_without_its_template_macro_is_refused(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from inceptgen.emit.base import Emitter
    from inceptgen.targets import target as find

    emitter = find(target).emitter_class()
    monkeypatch.setattr(Emitter, "macro_name", lambda self, stmt: f"no_such_macro_{stmt.kind}")
    monkeypatch.setattr(emitter, "macro_name", lambda self, stmt: f"no_such_macro_{stmt.kind}")
    with pytest.raises(UnsupportedError):
        inceptgen.load("@naive_module").source(target)


@pytest.mark.parametrize("target", TARGETS)
def test_every_vocabulary_keyword_has_a_handler_and_a_macro(target: str) -> None:
    from inceptgen.emit.render import environment
    from inceptgen.ops import ACTIVATIONS, OPS
    from inceptgen.targets import target as find

    emitter = find(target).emitter_class()
    macros = environment().get_template(f"{target}/ops.py.j2").module
    for op in OPS:
        assert op in emitter.HANDLERS, op
        family = "activation" if op in ACTIVATIONS else op  # activations without options share one macro
        assert hasattr(macros, f"{family}_forward" if target == "torch" else family), op


BOOL_SPEC = "model m(input = 3x8x8, deep = true)\nstage s { if deep { conv 1x1 -> 4 } else { relu } }\n"


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("deep", [True, False])
def test_a_boolean_model_parameter_compiles(target: str, deep: bool) -> None:
    """0.2.0's torch emitter took True for a number ("arithmetic needs numbers"); the API refused bools."""
    source = inceptgen.load(BOOL_SPEC, deep=deep).source(target)
    assert f"deep: bool = {deep}" in source
    ast.parse(source)


def test_an_arm_without_modules_writes_no_if_in_init() -> None:
    spec = "model m(input = 3x8x8)\nblock b(c) { if c { relu } else { conv 1x1 -> 4 } }\nstage s { b(true) }\n"
    source = inceptgen.load(spec).source("torch")
    start = source.index("class B(")
    init = source[start : source.index("def forward", start)]
    assert "pass" not in init
    assert "if not self.cond:\n            self.conv = " in init
