"""The checker: shapes per operation, padding arithmetic against TensorFlow's and PyTorch's rules,
parameter and MAC counts against real framework modules, and one test per user error kind."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

import inceptgen
from inceptgen.check import window
from inceptgen.errors import (
    InceptgenError,
    SpecArgumentError,
    SpecLimitError,
    SpecNameError,
    SpecShapeError,
    SpecSyntaxError,
)
from inceptgen.limits import Limits

REPO = Path(__file__).resolve().parents[1]


def spec(*lines: str, input: str = "3x32x32") -> str:
    """A spec whose line 1 is the model declaration and line N+1 is `lines[N-1]`."""
    return "\n".join([f"model m(input = {input})", *lines]) + "\n"


def checked(text: str, **overrides):
    return inceptgen.load(text, **overrides).checked


def out_shape(layer: str, input: str = "3x32x32") -> tuple[int, ...]:
    return checked(spec(f"stage s {{ {layer} }}", input=input)).outputs["main"]


# ----------------------------------------------------------------------------- shapes per operation

# (layer(s), input CxHxW, output shape)
SHAPES = [
    ("conv 3x3 -> 8", "3x32x32", (8, 32, 32)),
    ("conv 3x3 -> 8 pad valid", "3x32x32", (8, 30, 30)),
    ("conv 3x3 -> 8 stride 2", "3x32x32", (8, 16, 16)),
    ("conv 3x3 -> 8 stride 2", "3x33x33", (8, 17, 17)),
    ("conv 3x3 -> 8 stride 2 pad valid", "3x33x33", (8, 16, 16)),
    ("conv 7x7 -> 8 stride 2 pad 3", "3x224x224", (8, 112, 112)),
    ("conv 1x7 -> 8 pad valid", "3x17x17", (8, 17, 11)),
    ("conv 7x1 -> 8 pad valid", "3x17x17", (8, 11, 17)),
    ("conv 1x7 -> 8", "3x17x17", (8, 17, 17)),
    ("conv 3x3 -> 8 pad 1x0", "3x10x10", (8, 10, 8)),
    ("conv 3x3 -> 8 pad 0x2x1x1", "3x10x10", (8, 10, 10)),
    ("conv 3x3 -> 8 dilation 2 pad valid", "3x10x10", (8, 6, 6)),
    ("conv 3x3 -> 8 dilation 2", "3x10x10", (8, 10, 10)),
    ("conv 3x3 -> 8 stride 2x1 pad valid", "3x11x11", (8, 5, 9)),
    ("conv 1x1 -> 6 groups 3", "3x5x5", (6, 5, 5)),
    ("conv 5x5 -> 4", "3x2x2", (4, 2, 2)),  # `same` never refuses a kernel larger than the input
    ("maxpool 3x3", "3x32x32", (3, 10, 10)),  # stride defaults to the kernel
    ("maxpool 3x3 stride 2", "3x35x35", (3, 17, 17)),
    ("maxpool 3x3 stride 2 ceil", "3x112x112", (3, 56, 56)),
    ("maxpool 3x3 stride 2 pad same", "3x112x112", (3, 56, 56)),
    ("maxpool 3x3 stride 1 pad 1", "3x28x28", (3, 28, 28)),
    ("avgpool 5x5 stride 3", "3x14x14", (3, 4, 4)),
    ("avgpool 3x3 stride 1 pad same", "3x35x35", (3, 35, 35)),
    ("avgpool 2x2 stride 2", "3x7x7", (3, 3, 3)),
    ("global_avgpool", "5x7x9", (5,)),
    ("global_maxpool", "5x7x9", (5,)),
    ("flatten", "5x7x9", (315,)),
    ("flatten; linear -> 10", "2x3x4", (10,)),
    ("global_avgpool; linear -> 10 relu; dropout 0.5", "2x3x4", (10,)),
    ("dropout 0.2; identity; relu; relu6; silu; sigmoid; tanh", "2x3x4", (2, 3, 4)),
    ("concat { branch { conv 1x1 -> 4 } branch { maxpool 3x3 stride 1 pad 1 } }", "3x8x8", (7, 8, 8)),
    ("concat { branch { relu } branch { identity } branch { } }", "3x8x8", (9, 8, 8)),  # empty branch = input
    ("residual 0.5 { conv 1x1 -> 5; conv 1x1 -> 7 }", "7x8x8", (7, 8, 8)),
    ("repeat 3 { conv 3x3 -> 4 stride 2 }", "3x32x32", (4, 4, 4)),
]


@pytest.mark.parametrize(("layers", "input", "shape"), SHAPES, ids=[f"{c[0]}@{c[1]}" for c in SHAPES])
def test_output_shape(layers: str, input: str, shape: tuple[int, ...]) -> None:
    assert out_shape(layers, input) == shape


def test_in_channels_is_the_block_input() -> None:
    text = spec(
        "block b() { conv 1x1 -> in.channels * 2; conv 1x1 -> in.channels + 1 }",
        "stage s { conv 1x1 -> 5; b() }",
        input="3x6x4",
    )
    found = {n.path: n for n in checked(text).nodes}
    assert found["s.b.conv1"].out_shape == (10, 6, 4)
    assert found["s.b.conv2"].out_shape == (6, 6, 4)  # in.channels stays the block's input, not the previous layer's


@pytest.mark.parametrize("attr", ["in.height", "in.width"])
def test_in_height_and_width_are_refused_where_check_used_to_accept_them(attr: str) -> None:
    # 0.1 accepted them, then `compile` failed with an internal error (KeyError).
    text = spec(f"block b() {{ conv 1x1 -> {attr} }}", "stage s { b() }", input="3x6x4")
    with pytest.raises(SpecNameError) as info:
        checked(text)
    assert attr in info.value.message and info.value.span.line == 2


def test_aux_heads_read_their_stage_and_report_outputs() -> None:
    text = spec(
        "stage a { conv 3x3 -> 8 stride 2 }",
        "stage b { conv 3x3 -> 16 stride 2 }",
        "head { global_avgpool; linear -> 10 }",
        "aux early after a weight 0.4 { global_avgpool; linear -> 3 }",
        "aux late after b { flatten; linear -> 2 }",
    )
    c = checked(text)
    assert c.outputs == {"main": (10,), "early": (3,), "late": (2,)}
    found = {n.path: n for n in c.nodes}
    assert found["early.global_avgpool"].in_shape == (8, 16, 16)
    assert found["late.flatten"].in_shape == (16, 8, 8)
    assert found["early"].values["weight"] == 0.4
    assert found["late"].values["weight"] == 0.3  # the default loss weight


# ----------------------------------------------------------------------------- padding arithmetic


def tf_same(n: int, k: int, s: int, d: int) -> tuple[int, int, int]:
    """TensorFlow's `same`: out = ceil(n / s); total padding split with the odd cell at the end."""
    out = math.ceil(n / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return out, total // 2, total - total // 2


def test_same_padding_is_tensorflows() -> None:
    """Every small (input, kernel, stride, dilation) against TensorFlow's formula."""
    cases = list(itertools.product(range(1, 20), (1, 2, 3, 4, 5, 7), (1, 2, 3), (1, 2)))
    mismatches = [c for c in cases if window(*c, "same", False) != tf_same(*c)]
    assert not mismatches


@pytest.mark.parametrize(
    ("n", "pads"),
    [(4, (0, 1)), (5, (1, 1)), (6, (0, 1)), (7, (1, 1)), (8, (0, 1)), (35, (1, 1)), (224, (0, 1)), (299, (1, 1))],
)
def test_same_stride_2_even_inputs_pad_only_the_end(n: int, pads: tuple[int, int]) -> None:
    c = checked(spec("stage s { conv 3x3 -> 4 stride 2 }", input=f"3x{n}x{n}"))
    node = c.node("s.conv")
    assert node.out_shape[1:] == (math.ceil(n / 2),) * 2
    assert node.values["pads"] == (*pads, *pads)


def test_same_padding_with_even_kernels_and_stride_1() -> None:
    # k = 2: one cell of padding, at the end (TF), where PyTorch's symmetric padding cannot be used.
    c = checked(spec("stage s { conv 2x4 -> 4 }", input="3x9x9"))
    assert c.node("s.conv").values["pads"] == (0, 1, 1, 2)


def _torch_pool_out(n: int, k: int, s: int, p: int, ceil: bool) -> int:
    import torch

    x = torch.zeros(1, 1, n, n)
    return torch.nn.functional.max_pool2d(x, k, s, p, ceil_mode=ceil).shape[-1]


POOL_CASES = [
    (n, k, s, p)
    for n, k, s, p in itertools.product(range(1, 24), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2))
    if 2 * p <= k and n + 2 * p >= k
]


@pytest.mark.parametrize("ceil", [True, False], ids=["ceil", "floor"])
def test_pool_sizes_match_pytorch(ceil: bool) -> None:
    """Every small (input, kernel, stride, pad) against torch.nn.functional.max_pool2d."""
    mismatches = [
        (n, k, s, p, out, ref)
        for n, k, s, p in POOL_CASES
        if (out := window(n, k, s, 1, (p, p), ceil)[0]) != (ref := _torch_pool_out(n, k, s, p, ceil))
    ]
    assert not mismatches
    assert len(POOL_CASES) > 300


@pytest.mark.parametrize(
    ("n", "k", "s", "p"), [(112, 3, 2, 0), (56, 3, 2, 0), (14, 3, 2, 1), (8, 2, 2, 1), (6, 3, 2, 1)]
)
def test_ceil_mode_through_a_spec(n: int, k: int, s: int, p: int) -> None:
    shape = out_shape(f"maxpool {k}x{k} stride {s} pad {p} ceil", input=f"3x{n}x{n}")
    assert shape[1] == _torch_pool_out(n, k, s, p, True)


def test_ceil_mode_extra_padding_is_recorded() -> None:
    # 6x6, 3x3/2, ceil: 3 windows, the last needs one cell past the end (Keras must pad it).
    node = checked(spec("stage s { maxpool 3x3 stride 2 ceil }", input="3x6x6")).node("s.maxpool")
    assert node.out_shape == (3, 3, 3) == (3, *[_torch_pool_out(6, 3, 2, 0, True)] * 2)
    assert node.values["pads"] == (0, 1, 0, 1)


# ----------------------------------------------------------------------------- parameters and MACs against real modules


def _torch_count(module) -> tuple[int, int]:
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return total, trainable


# (layer, input, torch module factory)
TORCH_MODULES = [
    ("conv 3x3 -> 16", "8x9x9", lambda nn: nn.Conv2d(8, 16, 3)),
    ("conv 3x3 -> 16 nobias", "8x9x9", lambda nn: nn.Conv2d(8, 16, 3, bias=False)),
    ("conv 1x7 -> 12", "8x9x9", lambda nn: nn.Conv2d(8, 12, (1, 7))),
    ("conv 3x3 -> 16 groups 4", "8x9x9", lambda nn: nn.Conv2d(8, 16, 3, groups=4)),
    ("conv 3x3 -> 8 groups 8 nobias", "8x9x9", lambda nn: nn.Conv2d(8, 8, 3, groups=8, bias=False)),
    ("conv 3x3 -> 16 dilation 2 stride 2", "8x9x9", lambda nn: nn.Conv2d(8, 16, 3, 2, dilation=2)),
    (
        "conv 3x3 -> 16 bn nobias",
        "8x9x9",
        lambda nn: nn.Sequential(nn.Conv2d(8, 16, 3, bias=False), nn.BatchNorm2d(16)),
    ),
    ("conv 3x3 -> 16 bn", "8x9x9", lambda nn: nn.Sequential(nn.Conv2d(8, 16, 3), nn.BatchNorm2d(16))),
    ("conv 1x1 -> 16 noscale nobias", "8x9x9", "noscale"),
    ("global_avgpool; linear -> 10", "8x9x9", lambda nn: nn.Linear(8, 10)),
    ("flatten; linear -> 10 nobias", "2x3x3", lambda nn: nn.Linear(18, 10, bias=False)),
    ("global_avgpool; linear -> 6 bn", "8x9x9", lambda nn: nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6))),
    ("maxpool 3x3; avgpool 2x2 count_pad; global_avgpool; dropout 0.5", "8x9x9", lambda nn: nn.Sequential()),
]


@pytest.mark.parametrize(("layer", "input", "factory"), TORCH_MODULES, ids=[c[0] for c in TORCH_MODULES])
def test_params_match_torch_modules(layer: str, input: str, factory) -> None:
    import torch

    nn = torch.nn
    if factory == "noscale":  # Keras' scale=False: PyTorch keeps gamma as a frozen parameter
        module = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16))
        module[1].weight.requires_grad_(False)
    else:
        module = factory(nn)
    c = checked(spec(f"stage s {{ {layer} }}", input=input))
    assert (c.total_params, c.trainable_params) == _torch_count(module)


# (layer, input, Keras layers factory, input shape as Keras sees it)
KERAS_MODULES = [
    ("conv 3x3 -> 16", "8x9x9", lambda layers: [layers.Conv2D(16, 3)]),
    (
        "conv 3x3 -> 16 bn nobias eps 1e-5",
        "8x9x9",
        lambda layers: [layers.Conv2D(16, 3, use_bias=False), layers.BatchNormalization()],
    ),
    (
        "conv 3x3 -> 16 noscale nobias",
        "8x9x9",
        lambda layers: [layers.Conv2D(16, 3, use_bias=False), layers.BatchNormalization(scale=False)],
    ),
    ("conv 3x3 -> 16 groups 4", "8x9x9", lambda layers: [layers.Conv2D(16, 3, groups=4)]),
    (
        "global_avgpool; linear -> 6 bn",
        "8x9x9",
        lambda layers: [layers.GlobalAveragePooling2D(), layers.Dense(6), layers.BatchNormalization()],
    ),
]


@pytest.mark.parametrize(("layer", "input", "factory"), KERAS_MODULES, ids=[c[0] for c in KERAS_MODULES])
def test_keras_params_match_keras_count_params(layer: str, input: str, factory) -> None:
    import keras

    c, h, w = (int(d) for d in input.split("x"))
    model = keras.Sequential([keras.Input((h, w, c)), *factory(keras.layers)])
    found = checked(spec(f"stage s {{ {layer} }}", input=input))
    assert found.keras_params == model.count_params()
    trainable = sum(math.prod(v.shape) for v in model.trainable_weights)
    assert found.trainable_params == trainable


@pytest.mark.parametrize(
    ("layer", "input", "macs"),
    [
        ("conv 3x3 -> 16", "8x10x10", 10 * 10 * 3 * 3 * 8 * 16),
        ("conv 3x3 -> 16 stride 2 pad valid", "8x11x11", 5 * 5 * 3 * 3 * 8 * 16),
        ("conv 1x7 -> 4 groups 2 bn", "8x10x10", 10 * 10 * 1 * 7 * (8 // 2) * 4),
        ("conv 5x5 -> 2 dilation 2", "1x6x6", 6 * 6 * 5 * 5 * 1 * 2),
        ("flatten; linear -> 10", "2x3x4", 24 * 10),
        ("maxpool 2x2; relu; global_avgpool", "8x10x10", 0),
    ],
)
def test_macs(layer: str, input: str, macs: int) -> None:
    """Multiply-accumulates: out_h * out_w * k_h * k_w * (C_in / groups) * C_out for a conv (bias and bn excluded)."""
    assert checked(spec(f"stage s {{ {layer} }}", input=input)).macs == macs


# ----------------------------------------------------------------------------- published figures

SEED000_NAIVE = spec(
    "defaults { conv: relu, bias }",
    "stage s {",
    "  concat {",
    "    branch { conv 1x1 -> 64 }",
    "    branch { conv 1x1 -> 96; conv 3x3 -> 128 }",
    "    branch { conv 1x1 -> 16; conv 5x5 -> 32 }",
    "    branch { maxpool 3x3 stride 1 pad 1; conv 1x1 -> 32 }",
    "  }",
    "}",
    input="3x256x256",
)


def test_seed000_naive_module_has_124384_parameters() -> None:
    c = checked(SEED000_NAIVE)
    assert c.total_params == c.trainable_params == c.keras_params == 124_384
    assert c.outputs["main"] == (256, 256, 256)


def test_seed000_naive_module_matches_the_keras_reference() -> None:
    import keras  # noqa: F401

    from tests.reference import seed000_naive

    reference = seed000_naive.build_keras()
    c = checked(SEED000_NAIVE)
    assert c.keras_params == reference.count_params() == seed000_naive.SEED_TOTAL_PARAMS
    assert tuple(reference.output.shape[1:]) == (256, 256, 256)
    # Layer by layer, in the reference's order (Conv2D layers only).
    keras_convs = [layer.count_params() for layer in reference.layers if layer.__class__.__name__ == "Conv2D"]
    ours = {n.path: n.params for n in c.nodes if n.op == "conv"}
    order = [
        "s.branch0_conv",
        "s.branch1_conv1",
        "s.branch1_conv2",
        "s.branch2_conv1",
        "s.branch2_conv2",
        "s.branch3_conv",
    ]
    assert sorted(keras_convs) == sorted(ours[p] for p in order)


def test_stdlib_naive_module_spec_agrees() -> None:
    assert inceptgen.load(REPO / "specs" / "naive_module.incept").checked.total_params == 124_384


# ----------------------------------------------------------------------------- one test per error kind

# (kind, spec, error class, line, column, text at (line, column) or None, substrings of the message)
ERROR_KINDS = [
    ("syntax error", spec("stage s { conv 3x3 -> }"), SpecSyntaxError, 2, 23, "}", ["'}'"]),
    (
        "syntax error: unclosed brace",
        spec("stage s {", "  conv 3x3 -> 8"),
        SpecSyntaxError,
        3,
        16,
        None,
        ["end of file"],
    ),
    (
        "unknown layer",
        spec("stage s {", "  conv 1x1 -> 8", "  convv 3x3 -> 8", "}"),
        SpecNameError,
        4,
        3,
        "convv",
        ["'convv'"],
    ),
    (
        "unknown layer in defaults",
        spec("defaults { cnv: relu }", "stage s { relu }"),
        SpecNameError,
        2,
        12,
        "cnv",
        ["'cnv'"],
    ),
    ("unknown block", spec("stage s {", "  relu", "  incep(1, 2)", "}"), SpecNameError, 4, 3, "incep(", ["'incep'"]),
    (
        "unknown parameter (named argument)",
        spec("block b(c) { conv 1x1 -> c }", "stage s { b(1, d = 3) }"),
        SpecNameError,
        3,
        16,
        "d = 3",
        ["'d'"],
    ),
    ("unknown option (flag)", spec("stage s { conv 3x3 -> 8 rellu }"), SpecNameError, 2, 25, "rellu", ["'rellu'"]),
    ("unknown option (valued)", spec("stage s { conv 3x3 -> 8 strid 2 }"), SpecNameError, 2, 25, "strid", ["'strid'"]),
    ("option of another layer", spec("stage s { maxpool 3x3 groups 2 }"), SpecNameError, 2, 23, "groups", ["'groups'"]),
    (
        "too many arguments",
        spec("block b(c) { conv 1x1 -> c }", "stage s { b(4, 5) }"),
        SpecArgumentError,
        3,
        16,
        "5",
        ["1 argument", "got 2"],
    ),
    (
        "missing argument",
        spec("block b(c, d) { conv 1x1 -> c }", "stage s { b(4) }"),
        SpecArgumentError,
        3,
        11,
        "b(4)",
        ["'d'"],
    ),
    ("float where an int is needed", spec("stage s { conv 3x3 -> 8.5 }"), SpecArgumentError, 2, 23, "8.5", ["8.5"]),
    ("size where an int is needed", spec("stage s { conv 3x3 -> 3x3 }"), SpecArgumentError, 2, 23, "3x3", ["(3, 3)"]),
    ("float kernel", spec("stage s { conv 2.5 -> 8 }"), SpecArgumentError, 2, 16, "2.5", ["2.5"]),
    ("float repeat count", spec("stage s { repeat 1.5 { relu } }"), SpecArgumentError, 2, 18, "1.5", ["1.5"]),
    (
        "float argument reaching a channel count",
        spec("block b(c) { conv 1x1 -> c }", "stage s { b(2.5) }"),
        SpecArgumentError,
        2,
        26,
        "c }",
        ["2.5"],
    ),
    ("string channels", spec('stage s { conv 3x3 -> "x" }'), SpecArgumentError, 2, 23, '"x"', ["'x'"]),
    (
        "bad padding value",
        spec("stage s { conv 3x3 -> 8 pad 1x2x3 }"),
        SpecArgumentError,
        2,
        29,
        "1x2x3",
        ["(1, 2, 3)"],
    ),
    (
        "duplicate block",
        spec("block b() { relu }", "block c() { relu }", "block b() { relu6 }", "stage s { b(); c() }"),
        SpecNameError,
        4,
        1,
        "block b()",
        ["'b'", "<spec>:2:1"],
    ),
    (
        "duplicate `as` name",
        spec("stage s {", "  conv 1x1 -> 8 as reduce", "  conv 3x3 -> 8 as reduce", "}"),
        SpecNameError,
        4,
        3,
        "conv 3x3",
        ["'reduce'"],
    ),
    (
        "duplicate block parameter",
        spec("block b(c, d, c) { relu }", "stage s { b(1, 2, 3) }"),
        SpecNameError,
        2,
        15,
        "c)",
        ["'c'"],
    ),
    (
        "duplicate model parameter",
        "model m(input = 3x8x8, classes = 2, classes = 3)\nstage s { relu }\n",
        SpecNameError,
        1,
        37,
        "classes = 3",
        ["'classes'"],
    ),
    (
        "duplicate argument",
        spec("block b(c) { conv 1x1 -> c }", "stage s { b(c = 1, c = 2) }"),
        SpecArgumentError,
        3,
        20,
        "c = 2",
        ["'c'"],
    ),
    ("duplicate stage", spec("stage s { relu }", "stage s { relu }"), SpecNameError, 3, 1, "stage s", ["'s'"]),
    (
        "concat height x width mismatch",
        spec(
            "stage s {",
            "  conv 1x1 -> 4",
            "  concat {",
            "    branch { conv 3x3 -> 8 stride 2 }",
            "    branch { conv 1x1 -> 4 }",
            "    branch { maxpool 3x3 }",
            "  }",
            "}",
        ),
        SpecShapeError,
        4,
        3,
        "concat",
        ["8x16x16", "4x32x32", "4x10x10", "branch0", "branch1", "branch2"],
    ),
    (
        "concat of a flat branch",
        spec("stage s { concat { branch { global_avgpool } branch { relu } } }"),
        SpecShapeError,
        2,
        11,
        "concat",
        ["3;", "3x32x32"],
    ),
    (
        "residual channel mismatch",
        spec("block r() {", "  residual 0.2 {", "    conv 1x1 -> 32", "  }", "}", "stage s { r() }"),
        SpecShapeError,
        3,
        3,
        "residual",
        ["32x32x32", "3x32x32"],
    ),
    (
        "residual spatial mismatch",
        spec("stage s { residual { conv 3x3 -> 3 stride 2 } }"),
        SpecShapeError,
        2,
        11,
        "residual",
        ["3x16x16", "3x32x32"],
    ),
    (
        "kernel larger than the padded input",
        spec("stage s { conv 7x7 -> 8 pad 1 }", input="3x4x4"),
        SpecShapeError,
        2,
        11,
        "conv 7x7",
        ["7x7", "6"],
    ),
    (
        "pool kernel larger than the input",
        spec("stage s { conv 1x1 -> 8; maxpool 5x5 }", input="3x4x4"),
        SpecShapeError,
        2,
        26,
        "maxpool 5x5",
        ["5x5", "4"],
    ),
    (
        "output size zero or less",
        spec(
            "stage s {",
            "  conv 3x3 -> 8 pad valid",
            "  conv 3x3 -> 8 pad valid",
            "  conv 3x3 -> 8 pad valid",
            "}",
            input="3x6x6",
        ),
        SpecShapeError,
        5,
        3,
        "conv 3x3",
        ["2x2"],
    ),
    ("zero channels", spec("stage s { conv 3x3 -> 0 }"), SpecShapeError, 2, 23, "0", ["0"]),
    (
        "negative channels from arithmetic",
        spec("block b(c) { conv 1x1 -> c - 10 }", "stage s { b(4) }"),
        SpecShapeError,
        2,
        26,
        "c - 10",
        ["-6"],
    ),
    ("zero linear features", spec("stage s { flatten; linear -> 0 }"), SpecShapeError, 2, 30, "0", ["0"]),
    (
        "groups not dividing channels",
        spec("stage s { conv 3x3 -> 8 groups 2 }"),
        SpecShapeError,
        2,
        32,
        "2",
        ["3", "8"],
    ),
    (
        "recursive block",
        spec("block a(c) { conv 1x1 -> c; b(c) }", "block b(c) { a(c) }", "stage s { a(1) }"),
        SpecNameError,
        3,
        14,
        "a(c)",
        ["'a'"],
    ),
    ("self-recursive block", spec("block a() { relu; a() }", "stage s { a() }"), SpecNameError, 2, 19, "a()", ["'a'"]),
    ("unknown name", spec("block b(c) { conv 1x1 -> d }", "stage s { b(1) }"), SpecNameError, 2, 26, "d", ["'d'"]),
    (
        "division by zero",
        spec("block b(c) { conv 1x1 -> c // (c - 4) }", "stage s { b(4) }"),
        SpecArgumentError,
        2,
        26,
        "c //",
        ["zero"],
    ),
    (
        "number too large",
        spec("stage s { conv 1x1 -> 4294967296 }"),
        SpecLimitError,
        2,
        23,
        "4294967296",
        ["4294967296"],
    ),
    ("linear on a feature map", spec("stage s { linear -> 10 }"), SpecShapeError, 2, 11, "linear", ["3x32x32"]),
    ("conv on a flat input", spec("stage s { flatten; conv 1x1 -> 3 }"), SpecShapeError, 2, 20, "conv", ["3072"]),
    (
        "pool padding over half the kernel",
        spec("stage s { maxpool 3x3 pad 2 }"),
        SpecShapeError,
        2,
        27,
        "2",
        ["(3, 3)"],
    ),
    (
        "ceil with same padding",
        spec("stage s { maxpool 3x3 stride 2 pad same ceil }"),
        SpecArgumentError,
        2,
        11,
        "maxpool",
        ["ceil"],
    ),
    (
        "ceil on an average pool",
        spec("stage s { avgpool 3x3 stride 2 ceil }"),
        SpecArgumentError,
        2,
        11,
        "avgpool",
        ["maxpool"],
    ),
    ("dropout rate out of range", spec("stage s { dropout 1.5 }"), SpecArgumentError, 2, 19, "1.5", ["1.5"]),
    ("batch-norm eps out of range", spec("stage s { conv 1x1 -> 4 eps 2 }"), SpecArgumentError, 2, 29, "2", ["eps"]),
    ("zero stride", spec("stage s { conv 3x3 -> 4 stride 0 }"), SpecArgumentError, 2, 32, "0", ["stride"]),
    ("input not CxHxW", "model m(input = 3x32)\nstage s { relu }\n", SpecArgumentError, 1, 9, "input", ["(3, 32)"]),
    (
        "aux after an unknown stage",
        spec("stage s { relu }", "aux x after t { relu }"),
        SpecNameError,
        3,
        13,
        "t {",
        ["'t'"],
    ),
]


@pytest.mark.parametrize(
    ("text", "error", "line", "column", "at", "fragments"),
    [k[1:] for k in ERROR_KINDS],
    ids=[k[0] for k in ERROR_KINDS],
)
def test_error_kind(text: str, error: type[InceptgenError], line: int, column: int, at: str | None, fragments) -> None:
    with pytest.raises(InceptgenError) as info:
        inceptgen.load(text)
    err = info.value
    assert type(err) is error, f"{type(err).__name__}: {err}"
    assert (err.span.file, err.span.line, err.span.column) == ("<spec>", line, column), str(err)
    if at is not None:  # guards the table: this is what the caret will sit under
        assert text.split("\n")[line - 1][column - 1 :].startswith(at)
    for fragment in fragments:
        assert fragment in err.message, err.message


# (stage body, the hint the error gives): a hint says what would be accepted
HINTS = [
    ("repeat 4 / 2 { relu }", "use // for integer division"),
    ("maxpool 3x3 stride 4 / 2", "use // for integer division"),
    ("conv 1x1 -> 16 / 2", "use // for integer division"),
    ("conv 3x3 -> 4 valid", "'valid' is a value of option 'pad': write `pad valid`"),
    ("zeropad pad same", "same and valid need a kernel"),
    ("shortcut()", "name the block shortcut_"),
]


@pytest.mark.parametrize(("body", "hint"), HINTS, ids=[h[0] for h in HINTS])
def test_error_hints(body: str, hint: str) -> None:
    with pytest.raises(InceptgenError) as info:
        inceptgen.load(f"model m(input = 3x8x8)\nstage s {{ {body} }}\n")
    assert info.value.hint is not None and hint in info.value.hint, info.value.hint


def test_error_kinds_cover_the_issue() -> None:
    kinds = {k[0].split(" (")[0] for k in ERROR_KINDS}
    for required in (
        "syntax error",
        "unknown layer",
        "unknown block",
        "unknown parameter",
        "unknown option",
        "too many arguments",
        "float where an int is needed",
        "duplicate block",
        "duplicate `as` name",
        "duplicate block parameter",
        "concat height x width mismatch",
        "residual channel mismatch",
        "kernel larger than the padded input",
        "output size zero or less",
        "zero channels",
        "recursive block",
    ):
        assert required in kinds, required


def test_error_inside_a_block_names_the_instance() -> None:
    text = spec(
        "block tower(c, s) { conv 3x3 -> c stride s }",
        "stage s {",
        "  concat {",
        "    branch { tower(8, 1) as left }",
        "    branch { tower(8, 2) as right }",
        "  }",
        "}",
    )
    with pytest.raises(SpecShapeError) as info:
        inceptgen.load(text)
    assert (info.value.span.line, info.value.span.column) == (4, 3)  # the concat that fails

    text = spec("block b(c) { conv 1x1 -> c }", "stage s {", "  b(4) as ok", "  b(0) as broken", "}")
    with pytest.raises(SpecShapeError) as info:
        inceptgen.load(text)
    err = info.value
    assert (err.span.line, err.span.column) == (2, 26)  # inside the block ...
    assert "s.broken" in err.hint and "<spec>:5:3" in err.hint  # ... and which use of it


def test_missing_and_cyclic_imports_point_at_the_import(tmp_path: Path) -> None:
    (tmp_path / "main.incept").write_text('# net\nimport "lib/blocks.incept"\n' + spec("stage s { relu }"))
    with pytest.raises(SpecNameError) as info:
        inceptgen.load(tmp_path / "main.incept")
    assert (Path(info.value.span.file).name, info.value.span.line, info.value.span.column) == ("main.incept", 2, 1)

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.incept").write_text('block b() { relu }\n  import "../main.incept"\n')
    with pytest.raises(SpecNameError) as info:
        inceptgen.load(tmp_path / "main.incept")
    err = info.value
    assert (Path(err.span.file).name, err.span.line, err.span.column) == ("blocks.incept", 2, 3)
    assert "main.incept -> blocks.incept -> main.incept" in err.message


# ----------------------------------------------------------------------------- limits


def test_limits() -> None:
    with pytest.raises(SpecLimitError) as info:
        inceptgen.load(spec("stage s { repeat 5000 { relu } }"))
    assert (info.value.span.line, info.value.span.column) == (2, 18)
    inceptgen.load(spec("stage s { repeat 5000 { relu } }"), limits=Limits(max_repeat=5000))

    with pytest.raises(SpecLimitError):
        inceptgen.load(spec("stage s { repeat 20 { relu; relu } }"), limits=Limits(max_nodes=39))
    inceptgen.load(spec("stage s { repeat 20 { relu; relu } }"), limits=Limits(max_nodes=40))

    with pytest.raises(SpecLimitError) as info:
        inceptgen.load(spec("stage s { conv 3x3 -> 40000; conv 3x3 -> 40000 }"))
    assert "parameters" in info.value.message

    with pytest.raises(SpecLimitError):
        inceptgen.load(spec("stage s { conv 1x1 -> 10 }"), limits=Limits(max_params=39))


def test_repeat_count_may_be_a_parameter() -> None:
    text = "model m(input = 3x8x8, depth = 3)\nstage s { repeat depth { conv 1x1 -> 3 } }\n"
    assert checked(text).total_params == 3 * 12
    assert checked(text, depth=5).total_params == 5 * 12
    assert checked(text, depth=0).total_params == 0  # `repeat 0`: the body is left out
    with pytest.raises(SpecArgumentError):
        checked(text, depth=-1)


def test_in_channels_in_a_stage_says_where_it_is_known() -> None:
    # 0.1: "unknown name 'in.channels'", hinting "known: in.channels, in.height, in.width".
    with pytest.raises(SpecNameError) as info:
        checked(spec("stage s { conv 1x1 -> in.channels }"))
    assert info.value.message == "in.channels is known only inside a block"
    assert "in.height" not in (info.value.hint or "")


def test_layers_reused_across_instances_are_inferred_per_argument_value_and_input() -> None:
    """The checker infers a layer once per node, input shape and values read; a change in any one counts."""
    text = spec(
        "block b(k) { conv -> 4 kernel k }",
        "stage s { repeat 2 index i { conv 1x1 -> 4 + i }; b(3); b(3); conv 1x1 -> 8 stride 2; b(1) }",
        input="3x8x8",
    )
    c = checked(text)
    convs = [(n.path, n.in_shape, n.out_shape) for n in c.nodes if n.op == "conv"]
    assert convs == [
        ("s.repeat.0.conv", (3, 8, 8), (4, 8, 8)),
        ("s.repeat.1.conv", (4, 8, 8), (5, 8, 8)),
        ("s.b1.conv", (5, 8, 8), (4, 8, 8)),
        ("s.b2.conv", (4, 8, 8), (4, 8, 8)),
        ("s.conv", (4, 8, 8), (8, 4, 4)),
        ("s.b3.conv", (8, 4, 4), (4, 4, 4)),
    ]
    assert [n.params for n in c.nodes if n.op == "conv"] == [16, 25, 184, 148, 40, 36]
    # 3 and 3.0 are one dict key; the second use must still be refused (a kernel is an integer)
    with pytest.raises(SpecArgumentError) as info:
        checked(spec("block b(k) { conv -> 4 kernel k }", "stage s { b(3); b(3.0) }", input="3x8x8"))
    assert "s.b2" in (info.value.hint or "")
