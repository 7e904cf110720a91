"""Robustness and security (issue 8): limits instead of hangs, safe checkpoint and model loading.

Each limit of `inceptgen.limits.Limits` is hit here with the error type and a message that
names the cap, and raised by a caller to let the same spec through. No test asserts a time:
the measured times are in docs/robustness.md. Covered elsewhere, and not repeated here:
encodings (tests/test_parse.py: BOM, CRLF, tabs, invalid UTF-8 and NUL with byte offsets),
the restricted CIFAR unpickler and safe tar extraction (tests/runtime/test_data.py), `-o`
atomic writes and refusal to overwrite (tests/test_cli.py), `weights_only` for training
checkpoints (tests/runtime/test_train.py); docs/robustness.md maps each measure to its tests.
"""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path
from typing import Any

import pytest

import inceptgen
from inceptgen import expr as ex
from inceptgen.errors import InceptgenError, SourceError, SpecLimitError
from inceptgen.limits import Limits

ROOT = Path(__file__).resolve().parent.parent
M = "model m(input = 3x8x8)\n"


def refused(text: str, limits: Limits = Limits(), **overrides: object) -> SpecLimitError:
    with pytest.raises(SpecLimitError) as info:
        inceptgen.load(text, limits=limits, **overrides)
    err = info.value
    assert err.span is not None and err.span.line >= 1 and err.span.column >= 1, err
    return err


def chain(n: int, body: str, last: str = "relu") -> str:
    """Blocks b0 ... b{n-1}, each running `body` around the next; b{n} holds `last`."""
    blocks = "".join(f"block b{i}() {{ {body.format(next=f'b{i + 1}()')} }}\n" for i in range(n))
    return M + blocks + f"block b{n}() {{ {last} }}\nstage s {{ b0() }}\n"


# ----------------------------------------------------------------------------- repeats and blocks


def test_a_billion_repeats_are_refused_before_expanding() -> None:
    err = refused(M + "stage s { repeat 1000000000 { relu } }")
    assert "50,000 layers" in err.message and "1,000,000,000" in err.message
    # With the layer cap out of the way, the repeat count's own cap speaks (still nothing expanded).
    huge = Limits(max_nodes=10**12, max_containers=10**12)
    err = refused(M + "stage s { repeat 1000000000 { relu } }", huge)
    assert "repeat count 1,000,000,000 is above the limit of 1,000" in err.message


def test_repeat_limit_is_configurable() -> None:
    err = refused(M + "stage s { repeat 1001 { relu } }")
    assert "above the limit of 1,000" in err.message
    assert (
        len(inceptgen.load(M + "stage s { repeat 1001 { relu } }", limits=Limits(max_repeat=1001)).checked.nodes) > 1001
    )


def test_sixty_blocks_each_repeating_the_next() -> None:
    err = refused(chain(60, "repeat 2 {{ {next} }}"))
    assert "nesting deeper than 48 levels" in err.message
    # Allowed that deep, the expansion (2^60 layers) is priced, not built.
    err = refused(chain(60, "repeat 2 {{ {next} }}"), Limits(max_depth=200))
    assert "more than 50,000 layers" in err.message


def test_twenty_nested_repeat_3_is_priced_not_built() -> None:
    err = refused(chain(20, "repeat 3 {{ {next} }}"))
    assert "more than 50,000 layers" in err.message
    assert "expands to 59,049" in err.message  # 3^10: priced block by block, refused at the first too big
    err = refused(M + "stage s {" + "repeat 3 {" * 20 + "relu" + "}" * 20 + "}")
    assert "more than 50,000 layers" in err.message


def test_layer_limit_is_configurable() -> None:
    text = M + "stage s { repeat 1000 { " + "relu; " * 51 + "} }"  # 51,000 layers
    err = refused(text)
    assert "more than 50,000 layers" in err.message
    spec = inceptgen.load(text, limits=Limits(max_nodes=51_000))
    assert sum(not n.is_container for n in spec.checked.nodes) == 51_000
    refused(text, Limits(max_nodes=50_999))


@pytest.mark.parametrize(
    "stage",
    [
        "repeat 1000 { repeat 1000 { repeat 1000 { e() } } }",  # empty blocks: no layer at all
        "repeat 1000 { repeat 1000 { concat { branch { } branch { } } } }",  # empty concats
    ],
    ids=["empty blocks", "empty concats"],
)
def test_containers_without_layers_are_counted(stage: str) -> None:
    """Nothing but containers is still work: a billion empty block uses must not run."""
    err = refused(M + "block e() { }\n" + f"stage s {{ {stage} }}\n")
    assert "more than 100,000 containers" in err.message


def test_container_limit_is_configurable() -> None:
    deep = "".join(f"block w{i}() {{ w{i + 1}() }}\n" for i in range(20)) + "block w20() { relu }\n"
    # 5,000 layers, each inside 21 block uses: 107,002 containers with the repeats and the stage
    text = M + deep + "stage s { repeat 1000 { repeat 5 { w0() } } }"
    err = refused(text)
    assert "more than 100,000 containers" in err.message
    spec = inceptgen.load(text, limits=Limits(max_containers=107_002))
    assert sum(not n.is_container for n in spec.checked.nodes) == 5000
    assert sum(n.is_container for n in spec.checked.nodes) == 107_002
    refused(text, Limits(max_containers=107_001))


def test_repeat_counts_from_the_input_shape_are_counted_as_built() -> None:
    """`repeat in.channels` cannot be priced before shapes are known: the checker counts as it goes."""
    text = M + "block e() { repeat in.channels { relu } }\nstage s { conv 1x1 -> 1000; repeat 1000 { e() } }"
    err = refused(text)
    assert "more than 50,000 layers" in err.message


# ----------------------------------------------------------------------------- nesting


@pytest.mark.parametrize("levels", [49, 200, 5000])
@pytest.mark.parametrize(
    ("opening", "closing"),
    [
        ("concat { branch { ", "} branch { } } "),
        ("residual { ", "} "),
        ("repeat 1 { ", "} "),
    ],
    ids=["concat", "residual", "repeat"],
)
def test_deep_nesting_is_a_limit_error_not_a_recursion_error(opening: str, closing: str, levels: int) -> None:
    text = M + "stage s { " + opening * levels + "relu " + closing * levels + "}\n"
    err = refused(text, Limits(max_tokens=10**6))  # the nesting check, not the token count
    assert "nesting deeper than 48 levels" in err.message


def test_nesting_at_the_limit_checks_and_compiles() -> None:
    for body in ("concat { branch { {x} } branch { } }", "residual { {x} }", "repeat 1 { {x} }"):
        text = "relu"
        for _ in range(48):
            text = body.replace("{x}", text)
        spec = inceptgen.load(M + "stage s { " + text + " }\n")
        for target in ("torch", "keras"):
            compile(spec.source(target), target, "exec")
    blocks = inceptgen.load(chain(47, "{next}"))  # a stage's call plus 47 nested calls: 48 levels
    assert blocks.checked.input_shape == (3, 8, 8)
    refused(chain(48, "{next}"))


def test_nesting_limit_is_configurable() -> None:
    text = M + "stage s { " + "residual { " * 60 + "relu" + " }" * 60 + " }\n"
    refused(text)
    assert inceptgen.load(text, limits=Limits(max_depth=60)).checked.nodes


def test_thousands_of_blocks_using_each_other_do_not_recurse() -> None:
    """The cycle check walks the block graph without recursion; the depth cap then applies."""
    blocks = "".join(f"block b{i}() {{ b{i + 1}() }}\n" for i in range(3000))
    many_tokens = Limits(max_tokens=10**6)
    err = refused(M + blocks + "block b3000() { relu }\nstage s { b0() }\n", many_tokens)
    assert "nesting deeper than 48 levels" in err.message
    with pytest.raises(inceptgen.errors.SpecNameError, match="uses itself"):
        inceptgen.load(M + blocks + "block b3000() { b0() }\nstage s { b0() }\n", limits=many_tokens)


@pytest.mark.parametrize(
    "value",
    [
        "+".join(["1"] * 5000),  # left-deep sum
        "-" * 5000 + "1",  # unary minus
        "max(" * 1000 + "1" + ", 1)" * 1000,  # nested calls
        "1 - (" * 1000 + "1" + ")" * 1000,  # right-deep, parenthesised
    ],
    ids=["sum", "negation", "calls", "parentheses"],
)
def test_deep_expressions_are_a_limit_error(value: str) -> None:
    err = refused(M + f"stage s {{ conv 1x1 -> {value} }}\n")
    assert "expression nested deeper than 50 levels" in err.message


def test_expression_depth_is_configurable_and_redundant_parentheses_are_free() -> None:
    text = M + "stage s { conv 1x1 -> " + "+".join(["1"] * 60) + " }\n"
    refused(text)
    assert inceptgen.load(text, limits=Limits(max_expr_depth=60)).checked.outputs["main"] == (60, 8, 8)
    parens = M + "stage s { conv 1x1 -> " + "(" * 3000 + "4" + ")" * 3000 + " }\n"
    assert inceptgen.load(parens).checked.outputs["main"] == (4, 8, 8)


def test_expressions_at_the_limit_compile() -> None:
    """50 nested `round(...)` render as Python inside the parser's nesting limit."""
    value = "round(" * 50 + "4" + ")" * 50
    spec = inceptgen.load(M + f"block b(c) {{ conv 1x1 -> c }}\nstage s {{ conv 1x1 -> {value}; b({value}) }}\n")
    for target in ("torch", "keras"):
        compile(spec.source(target), target, "exec")


# ----------------------------------------------------------------------------- sizes


def test_file_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.incept"
    path.write_bytes((M + "stage s { relu }\n").encode() + b"#" * 1_000_000)
    with pytest.raises(SourceError) as info:
        inceptgen.load(path)
    assert "more than the limit of 1,000,000" in info.value.message
    assert inceptgen.load(path, limits=Limits(max_file_bytes=2_000_000)).checked.outputs["main"] == (3, 8, 8)


def test_text_given_directly_meets_the_file_size_limit() -> None:
    with pytest.raises(SourceError, match="more than the limit of 1,000,000"):
        inceptgen.load(M + "stage s { relu }\n" + "#" * 1_000_000)
    with pytest.raises(SourceError, match="more than the limit of 100"):
        inceptgen.load(M + "stage s { relu }\n" + "# é" * 30, limits=Limits(max_file_bytes=100))


def test_imports_meet_the_file_size_limit(tmp_path: Path) -> None:
    (tmp_path / "lib.incept").write_bytes(b"block b() { relu }\n" + b"#" * 2000)
    (tmp_path / "main.incept").write_text('import "lib.incept"\n' + M + "stage s { b() }\n")
    with pytest.raises(SourceError, match="lib.incept.*more than the limit of 1,000"):
        inceptgen.load(tmp_path / "main.incept", limits=Limits(max_file_bytes=1000))


@pytest.mark.parametrize(
    "literal",
    ["9" * 5000, "0" * 5000 + "99999999999", "3x" + "9" * 100_000, "99999999999"],
    ids=["5000 digits", "leading zeros", "100000-digit size", "11 digits"],
)
def test_huge_integer_literals(literal: str) -> None:
    """Refused at the literal, before Python's own 4,300-digit conversion limit can raise."""
    err = refused(M + f"stage s {{ conv 1x1 -> {literal} }}\n")
    assert f"larger than the limit {ex.MAX_INT}" in err.message
    assert err.span.line == 2 and err.span.column == 23


def test_leading_zeros_are_not_digits() -> None:
    assert inceptgen.load(M + "stage s { conv 1x1 -> " + "0" * 5000 + "7 }\n").checked.outputs["main"] == (7, 8, 8)


def test_numbers_beyond_floats() -> None:
    with pytest.raises(inceptgen.errors.SpecArgumentError, match="non-finite"):
        inceptgen.load(M + "stage s { conv 1x1 -> 1e400 }\n")


def test_parameter_limit() -> None:
    one_pixel = "model m(input = 3x1x1)\nstage s { conv 7x7 -> 2000000000 }\n"  # 2e9 values: under the cap
    err = refused(one_pixel)
    assert "296,000,000,000 parameters, above the limit of 2,000,000,000" in err.message  # 7*7*3*2e9 + 2e9
    spec = inceptgen.load(one_pixel, limits=Limits(max_params=10**12))
    assert spec.checked.total_params == 7 * 7 * 3 * 2_000_000_000 + 2_000_000_000


def test_default_limits_are_the_documented_ones() -> None:
    """docs/robustness.md and docs/language.md state these values."""
    assert Limits() == Limits(
        max_file_bytes=1_000_000,
        max_repeat=1_000,
        max_depth=48,
        max_nodes=50_000,
        max_containers=100_000,
        max_params=2_000_000_000,
        max_expr_depth=50,
        max_imports=256,
        max_tokens=20_000,
    )
    assert ex.MAX_INT == 2**31 - 1
    doc = (ROOT / "docs" / "robustness.md").read_text()
    for value in ("1,000,000", "1,000", "48", "50,000", "100,000", "2,000,000,000", "2,147,483,647", "256", "20,000"):
        assert value in doc


def test_api_text_with_lone_surrogates_is_a_spec_error() -> None:
    with pytest.raises(inceptgen.errors.SpecSyntaxError) as info:
        inceptgen.load(M + "stage s { relu \ud800 }\n")
    assert (info.value.span.line, info.value.span.column) == (2, 16)


# ----------------------------------------------------------------------------- checkpoints and models


def _calls(name: str) -> list[tuple[Path, ast.Call]]:
    found = []
    for path in sorted((ROOT / "inceptgen").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if called == name:
                    found.append((path, node))
    return found


def _keyword(call: ast.Call, name: str) -> object:
    for kw in call.keywords:
        if kw.arg == name and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return None


def test_every_torch_load_is_weights_only() -> None:
    loads = _calls("load")
    torch_loads = [
        (p, c) for p, c in loads if isinstance(c.func, ast.Attribute) and getattr(c.func.value, "id", "") == "torch"
    ]
    assert torch_loads, "expected the runtime to load PyTorch checkpoints somewhere"
    for path, call in torch_loads:
        assert _keyword(call, "weights_only") is True, f"{path}:{call.lineno}: torch.load without weights_only=True"
    for path, call in loads:
        assert _keyword(call, "allow_pickle") is not True, f"{path}:{call.lineno}: np.load(allow_pickle=True)"


def test_keras_models_are_never_loaded_unsafely() -> None:
    """No `load_model` without `safe_mode=True`; weights load with `load_weights` (HDF5: data only)."""
    for path, call in _calls("load_model"):
        assert _keyword(call, "safe_mode") is True, f"{path}:{call.lineno}: load_model without safe_mode=True"
    for path in (ROOT / "inceptgen").rglob("*.py"):
        text = path.read_text()
        assert "enable_unsafe_deserialization" not in text, path
        assert "safe_mode=False" not in text, path


#: Modules whose load/loads run arbitrary code from the data they read.
_PICKLERS = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def _unsafe_unpickling(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) of every way a module could unpickle without the restricted Unpickler."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in _PICKLERS:
            found += [(node.lineno, f"from {node.module} import {a.name}") for a in node.names if a.name != "Unpickler"]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names if a.name in _PICKLERS - {"pickle"}]
        elif (
            isinstance(node, ast.Attribute)
            and getattr(node.value, "id", "") in _PICKLERS
            and node.attr not in ("Unpickler", "UnpicklingError", "dumps", "HIGHEST_PROTOCOL")
        ):
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return found


@pytest.mark.parametrize(
    "source",
    ["import pickle\npickle.loads(b'')", "from pickle import loads\nloads(b'')", "from pickle import load as l",
     "import dill\ndill.loads(b'')", "import pickle\nf = pickle.load"],
)  # fmt: skip
def test_the_unpickling_scan_sees_every_form(source: str) -> None:
    assert _unsafe_unpickling(ast.parse(source))


def test_only_the_restricted_unpickler_unpickles() -> None:
    """No module loads pickles but through an `Unpickler` subclass that restricts `find_class`."""
    restricted = False
    for path in sorted((ROOT / "inceptgen").rglob("*.py")):
        text = path.read_text()
        assert not _unsafe_unpickling(ast.parse(text)), (path, _unsafe_unpickling(ast.parse(text)))
        restricted |= bool(re.search(r"class \w+\(pickle\.Unpickler\)", text)) and "def find_class" in text
    assert restricted, "the CIFAR loader's restricted Unpickler is gone"


class _Payload:
    """Unpickling this calls `open(marker, "w")`: the file appears if the payload runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("format_", ["legacy pickle", "torch zip"])
def test_convert_refuses_a_checkpoint_that_would_run_code(tmp_path: Path, format_: str) -> None:
    import keras  # noqa: F401
    import torch

    from inceptgen.runtime.convert import convert_checkpoint

    spec = inceptgen.load(M + "stage s { conv 3x3 -> 4 relu }\nhead { global_avgpool; linear -> 2 }\n")
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    state = {k: v for k, v in spec.to_torch().state_dict().items()}
    state["head.linear.bias"] = _Payload(marker)
    if format_ == "legacy pickle":
        evil.write_bytes(pickle.dumps(state))
    else:
        torch.save(state, evil)
    out = tmp_path / "out.weights.h5"
    with pytest.raises(InceptgenError, match="cannot read PyTorch checkpoint") as info:
        convert_checkpoint(spec, "torch", "keras", evil, out)
    assert "\n" not in info.value.message  # not PyTorch's advice to load with weights_only=False
    assert "weights_only=False" not in info.value.message
    assert not marker.exists(), "the checkpoint's payload ran"
    assert not out.exists()
    assert not list(tmp_path.glob(".out*"))  # no temporary file left behind


def test_convert_accepts_a_plain_state_dict(tmp_path: Path) -> None:
    import keras  # noqa: F401
    import torch

    from inceptgen.runtime.convert import convert_checkpoint

    spec = inceptgen.load(M + "stage s { conv 3x3 -> 4 relu }\nhead { global_avgpool; linear -> 2 }\n")
    good = tmp_path / "good.pt"
    torch.save(spec.to_torch().state_dict(), good)
    out = tmp_path / "out.weights.h5"
    convert_checkpoint(spec, "torch", "keras", good, out)
    assert out.stat().st_size > 0
    assert (tmp_path / "out.weights.h5.sha256").read_text().split()[1] == "out.weights.h5"


def test_convert_refuses_a_checkpoint_that_does_not_match_its_digest(tmp_path: Path) -> None:
    """A bit flipped in a training run's checkpoint (which carries a .sha256) is found, not converted."""
    import keras  # noqa: F401
    import torch

    from inceptgen.runtime.convert import convert_checkpoint
    from inceptgen.runtime.training.run_dir import write_digest

    spec = inceptgen.load(M + "stage s { conv 3x3 -> 4 relu }\nhead { global_avgpool; linear -> 2 }\n")
    checkpoint = tmp_path / "model.pt"
    torch.save(spec.to_torch().state_dict(), checkpoint)
    write_digest(checkpoint)
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0x10
    checkpoint.write_bytes(bytes(data))
    out = tmp_path / "out.weights.h5"
    with pytest.raises(InceptgenError, match="does not match its digest"):
        convert_checkpoint(spec, "torch", "keras", checkpoint, out)
    assert not out.exists()


SAFE_MODE_SPEC = """
model safe(input = 3x9x9, classes = 3)
block res(scale) {
  residual scale {
    conv 1x1 -> 4 relu
    conv 3x3 -> in.channels linear
  }
  relu
}
stage s {
  conv 3x3 -> 6 bn relu
  maxpool 3x3 stride 2 pad 1 ceil       # padding with -inf: the Pad2D layer
  avgpool 3x3 stride 1 pad 1x0          # explicit padding left out of the average: MaskedAveragePooling2D
  res(0.17)
}
head { global_avgpool; dropout 0.2; linear -> classes }
"""


def test_generated_keras_models_load_in_safe_mode(tmp_path: Path) -> None:
    """Residual scaling and the custom padding layers save and load with `safe_mode=True`."""
    import keras
    import numpy as np

    spec = inceptgen.load(SAFE_MODE_SPEC)
    model = spec.to_keras()
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"Rescaling", "Pad2D", "MaskedAveragePooling2D"} <= kinds, kinds
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    x = np.random.default_rng(0).normal(size=(2, 9, 9, 3)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(loaded(x, training=False)), np.asarray(model(x, training=False)), rtol=1e-6, atol=1e-6
    )


def test_no_generated_keras_model_needs_lambda_layers() -> None:
    """A Lambda layer holds Python bytecode: safe mode refuses it. No stdlib spec emits one."""
    from inceptgen.stdlib import list_specs

    for name in list_specs():
        source = inceptgen.load(f"@{name}").source("keras")
        assert "Lambda" not in source, name
    assert "Lambda" not in inceptgen.load(SAFE_MODE_SPEC).source("keras")


def test_interrupted_checkpoint_write_keeps_the_old_file(tmp_path: Path) -> None:
    """`atomic_path` (training checkpoints, convert): Ctrl-C while writing leaves the old file whole."""
    from inceptgen.output import atomic_path

    path = tmp_path / "model.pt"
    path.write_bytes(b"old checkpoint")
    with pytest.raises(KeyboardInterrupt), atomic_path(path, suffix=".pt") as tmp:
        tmp.write_bytes(b"half a new chec")
        raise KeyboardInterrupt
    assert path.read_bytes() == b"old checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    with atomic_path(path, suffix=".pt") as tmp:
        tmp.write_bytes(b"new checkpoint")
    assert path.read_bytes() == b"new checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


@pytest.mark.parametrize("module", ["training/loop_torch.py", "training/loop_keras.py", "convert.py"])
def test_checkpoints_are_written_through_atomic_path(module: str) -> None:
    """Every `torch.save`, `save_weights` and `np.savez` of the runtime writes a temporary file
    inside `with atomic_path(...)`, renamed over the checkpoint only when complete."""
    path = ROOT / "inceptgen" / "runtime" / module
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    writers = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("save", "save_weights", "savez", "savez_compressed")
    ]
    assert writers, module
    for call in writers:
        node, guarded = call, False
        while node in parents and not guarded:
            node = parents[node]
            guarded = isinstance(node, ast.With) and any(
                isinstance(item.context_expr, ast.Call) and getattr(item.context_expr.func, "id", "") == "atomic_path"
                for item in node.items
            )
        assert guarded, f"{module}:{call.lineno}: {ast.unparse(call.func)} outside `with atomic_path(...)`"


# ----------------------------------------------------------------------------- tokens, files, outputs


def test_token_limit_refuses_before_parsing() -> None:
    unused = "".join(f"block b{i}() {{ relu }}\n" for i in range(4000))
    err = refused(M + unused + "stage s { relu }\n")
    assert "more than 20,000 tokens" in err.message
    # 7 tokens a line (`block b0 ( ) { relu }`, `model m ( input = 3x8x8 )`): token 20,001 is
    # the 2nd of line 2858.
    assert (err.span.line, err.span.column) == (2858, 7)
    spec = inceptgen.load(M + unused + "stage s { relu }\n", limits=Limits(max_tokens=30_000))
    assert spec.checked.outputs["main"] == (3, 8, 8)


def test_comments_do_not_count_as_tokens() -> None:
    commented = "".join(f"# comment {i} with several words\n" for i in range(5000))
    assert inceptgen.load(M + commented + "stage s { relu }\n").checked.outputs["main"] == (3, 8, 8)


def test_the_library_is_far_below_the_token_limit() -> None:
    from inceptgen.parse import _TOKEN

    for path in (ROOT / "specs").rglob("*.incept"):
        text = path.read_text()
        tokens = sum(1 for m in _TOKEN.finditer(text) if not m.group().startswith("#"))
        assert tokens < Limits().max_tokens // 10, path


@pytest.mark.parametrize("make", ["fifo", "device"])
def test_a_spec_path_that_is_no_file_is_refused_without_blocking(tmp_path: Path, make: str) -> None:
    import os

    if make == "fifo":
        path = tmp_path / "pipe.incept"
        os.mkfifo(path)  # no writer: a blocking open would wait forever
    else:
        path = Path("/dev/zero")  # endless: an unbounded read would never return
    with pytest.raises(SourceError, match="not a regular file"):
        inceptgen.load(path)


def test_a_diamond_of_imports_reads_each_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each of 30 files imports the two before it: 2**30 paths, 30 reads."""
    from inceptgen import loader

    for i in range(30):
        imports = "".join(f'import "f{j}.incept"\n' for j in (i - 1, i - 2) if j >= 0)
        (tmp_path / f"f{i}.incept").write_text(imports + f"block b{i}() {{ relu }}\n")
    (tmp_path / "main.incept").write_text('import "f29.incept"\n' + M + "stage s { b0() }\n")
    reads: list[Path] = []
    real = loader.read_spec_bytes
    monkeypatch.setattr(loader, "read_spec_bytes", lambda path, limits: reads.append(path) or real(path, limits))
    assert inceptgen.load(tmp_path / "main.incept").checked.outputs["main"] == (3, 8, 8)
    assert len(reads) == 31 and len(set(reads)) == 31


def test_import_limit(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"f{i}.incept").write_text(f"block b{i}() {{ relu }}\n")
    (tmp_path / "main.incept").write_text(
        "".join(f'import "f{i}.incept"\n' for i in range(5)) + M + "stage s { b0() }\n"
    )
    with pytest.raises(SpecLimitError, match="more than 3 files imported") as info:
        inceptgen.load(tmp_path / "main.incept", limits=Limits(max_imports=3))
    assert info.value.span.line == 3  # main counts as one: f0, f1 and then f2 is over
    assert inceptgen.load(tmp_path / "main.incept").checked.outputs["main"] == (3, 8, 8)


@pytest.mark.parametrize("make", ["fifo", "socket", "device"])
def test_output_that_is_no_regular_file_is_refused_and_kept(tmp_path: Path, make: str) -> None:
    """0.1 renamed its output over `-o /dev/null`, replacing the device with a file."""
    import os
    import socket
    import stat

    from inceptgen import output

    if make == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    elif make == "socket":
        path = tmp_path / "sock"
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
    else:
        path = Path("/dev/null")
    before = path.stat()
    with pytest.raises(InceptgenError, match="cannot write .*: it is a"):
        output.write_generated(path, "# generated by inceptgen\n")
    after = path.stat()
    assert (after.st_ino, stat.S_IFMT(after.st_mode)) == (before.st_ino, stat.S_IFMT(before.st_mode))
    if make == "socket":
        server.close()


def test_disk_full_keeps_the_old_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    from inceptgen import output

    path = tmp_path / "model.py"
    from inceptgen.emit.render import HEADER_MARK

    path.write_text(HEADER_MARK + "\nold = 1\n")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(InceptgenError, match="No space left on device"):
        output.write_generated(path, HEADER_MARK + "\nnew = 2\n")
    assert path.read_text() == HEADER_MARK + "\nold = 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["model.py"]


@pytest.mark.parametrize(
    ("text", "overrides", "fragment"),
    [
        (M + "stage s { conv 3x3 -> 4 pad 2147483647 }\n", {}, "s.conv would have the shape 4x4294967300x4294967300"),
        (M + "stage s { conv 1x1 -> 40000000 }\n", {}, "2,560,000,000 values per image"),
        (M + "stage s { relu }\n", {"input": (3, 2147483647, 2147483647)}, "input 3x2147483647x2147483647 has"),
    ],
    ids=["padded size", "channels", "input"],
)
def test_outputs_of_more_values_than_the_integer_cap_are_refused(text: str, overrides: dict, fragment: str) -> None:
    """0.1 said ok to a 4.3e9 padded size and to `--set input=3x2147483647x2147483647`."""
    err = refused(text, **overrides)
    assert fragment in err.message and "above the limit of 2,147,483,647" in err.message
