"""Each spec the language-v2 fuzzers found failing, reduced by hand: it now builds, counts and agrees.

`differences` (tests/fuzz/differential.py) builds both programs and compares them with `check`'s
shapes and counts and with each other; an empty list is the pass. The specs the checker now
refuses instead are at the end, with the line they must give.
"""

from __future__ import annotations

import pytest

import inceptgen
from inceptgen.errors import InceptgenError
from tests.fuzz.differential import differences


def spec(*lines: str, input: str = "3x8x8") -> str:
    return "\n".join([f"model m(input = {input})", *lines]) + "\n"


FOUND = {
    # torch: the class of a block the model never uses asked its (absent) instances for a rank
    "an unused block with a layernorm": spec("block unused() { layernorm }", "stage s { conv 1x1 -> 4 }"),
    # torch: a per-channel layer right after a flatten had no width; the checker knows it
    "layernorm and layerscale after a flatten": spec("stage s { conv 1x1 -> 2; flatten; layernorm; layerscale }"),
    # torch: a block ending in a flatten gave its caller `out_channels = None` as a width
    "a linear after a block that flattens": spec(
        "block f() { flatten }", "stage s { conv 1x1 -> 2; f(); linear -> 3 }"
    ),
    # torch: an unknown width through nested blocks needed more passes than the emitter made
    "a flat input through four nested blocks": spec(
        "block a() { bn; linear -> 5 }",
        "block b() { a() }",
        "block c() { b() }",
        "block d() { c() }",
        "stage s { conv 1x1 -> 2; flatten; d() }",
    ),
    # torch: a bn after an `if` one of whose arms flattens became LazyBatchNorm1d on a map
    "a bn on a map after an if whose other arm flattens": spec(
        "block g() { gate { bn; sigmoid } }",
        "stage s { conv 1x1 -> 2; if flat { flatten } else { identity }; g() }",
    ).replace("input = 3x8x8", "input = 3x8x8, flat = false"),
    # both: `std` of a non-normal initialiser was passed to helpers built without the `init` option
    "std given to a uniform initialiser": spec(
        "stage s { conv 1x1 -> 4 init he_uniform std 0.5; flatten; linear -> 3 init glorot_uniform std 0.5 }"
    ),
    # torch: `bias_l2 0` was written out as `bias_l2=0` to a helper built without penalties
    "a zero penalty written as 0": spec("stage s { conv 1x1 -> 4 l2 0 bias_l2 0; flatten; linear -> 3 l2 0 }"),
    # keras: Normalization wants mean and variance of one shape
    "normalize with a list of means and one variance": spec(
        "stage s { normalize mean [0.1, 0.2, 0.3] variance 2; conv 1x1 -> 2 }"
    ),
    # torch: one class, and the flat width after the flatten differed between the block's two uses
    # (UnsupportedError until the layers became lazy modules, sized by build_model's dry run)
    "per-channel layers after a flatten, in a block used at two widths": spec(
        "block flat() { flatten; layernorm; layerscale 0.5; normalize mean [0.25] variance 4; normalize }",
        "stage s { concat { branch { conv 1x1 -> 4; flat() } branch { conv 1x1 -> 2 stride 2; flat() } } }",
        "head { linear -> 3 }",
    ),
    # torch: `repeat 0` took its body's channels (None: it flattens), not its input's, for the next block
    "a repeat 0 whose body flattens, before a block": spec(
        "block b() { conv 1x1 -> 2 }", "stage s { repeat 0 { conv 1x1 -> 4; flatten } }", "stage t { b() }"
    ),
    # torch: the same, in a block used on a map once and on a flat vector once
    "layerscale and normalize on a map in one use and a flat vector in another": spec(
        "block n() { layerscale 0.5; normalize mean 0.5 variance 2; normalize }",
        "stage s { conv 1x1 -> 2; n(); flatten; n() }",
    ),
}


@pytest.fixture(scope="module")
def frameworks() -> None:
    import keras  # noqa: F401
    import torch  # noqa: F401


@pytest.mark.parametrize("text", FOUND.values(), ids=FOUND.keys())
def test_a_fuzz_finding_builds_and_agrees(frameworks: None, text: str) -> None:
    assert differences(inceptgen.load(text), tol=1e-5) == []


#: Specs whose generated code a linter faulted (`ruff check --isolated`, as test_fuzz runs it)
LINTED = {
    # keras: a block read in.channels only in a `std` no initialiser uses, and assigned it unused (F841)
    "in.channels read only by a std the default initialiser ignores": spec(
        "block b() { conv 1x1 -> 1 std in.channels }", "stage s { b() }"
    ),
    # both: a double negation was written `--p`, which reads as a decrement (B002)
    "a negated negation": spec("block c(q) { conv 1x1 -> 2 + q }", "block b(p) { c(- -p) }", "stage s { b(1) }"),
}


@pytest.mark.parametrize("text", LINTED.values(), ids=LINTED.keys())
@pytest.mark.parametrize("target", ["torch", "keras"])
def test_a_fuzz_finding_generates_lint_free_code(text: str, target: str) -> None:
    from tests.test_fuzz import _ruff_check

    result = _ruff_check(inceptgen.load(text).source(target))
    assert result.returncode == 0, result.stdout


REFUSED = {
    "a bn on maps in one use and flat vectors in another": (
        spec("block n() { bn }", "stage s { conv 1x1 -> 2; n(); flatten; n() }"),
        "bn normalises feature maps in s.n1.bn and flat vectors in s.n2.bn",
    ),
    "a negative leaky_relu slope (Keras refuses it)": (
        spec("stage s { conv 1x1 -> 2; leaky_relu slope -0.125 }"),
        "leaky_relu slope must be a number >= 0, got -0.125",
    ),
    "a layer's value in parentheses reads as a block use": (
        spec("stage s { conv 1x1 -> 2; leaky_relu (0.125) }"),
        "'leaky_relu' is a layer, not a block: a name followed by '(' uses a block",
    ),
}


@pytest.mark.parametrize(("text", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_a_fuzz_finding_the_checker_refuses(text: str, message: str) -> None:
    with pytest.raises(InceptgenError) as info:
        inceptgen.load(text)
    assert info.value.message == message
    assert info.value.span is not None and info.value.span.line >= 2
