"""Lowering: defaults and their scoping, layer options, names and paths, arguments, imports, blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

import inceptgen
from inceptgen import ir
from inceptgen.errors import InceptgenError, SpecArgumentError, SpecLimitError, SpecNameError, SpecSyntaxError
from inceptgen.limits import Limits
from inceptgen.lower import lower_text
from inceptgen.ops import OPS

M = "model m(input = 3x32x32)\n"


def nodes(text: str, **overrides) -> dict[str, object]:
    """Path -> checked node info of a spec given as text."""
    return {n.path: n for n in inceptgen.load(text, **overrides).checked.nodes}


class Options:
    """A lowered layer's constant options, as attributes (`bias`, `bn`, `act`, `ceil`, ...).

    `bn` is None without batch-norm, else (eps, momentum, scale); `act` is None for linear.
    """

    def __init__(self, node: ir.Layer) -> None:
        values = {key: e.value for key, e in node.args.items() if hasattr(e, "value")}
        self.__dict__.update(values)
        if "bn" in values:
            self.bn = (values["eps"], values["momentum"], values["scale"]) if values["bn"] else None
        if "act" in values:
            self.act = None if values["act"] == "linear" else values["act"]


def layer(text: str, path: str, op: str = "conv") -> Options:
    node = nodes(text)[path].node
    assert isinstance(node, ir.Layer) and node.op == op
    return Options(node)


def conv(text: str, path: str) -> Options:
    return layer(text, path)


# ----------------------------------------------------------------------------- layer options and defaults


def _bn(c: Options):
    return c.bn


# (layer text, bias, bn (eps, momentum, scale) or None, activation)
CONV_OPTIONS = [
    ("conv 3x3 -> 8", True, None, None),
    ("conv 3x3 -> 8 nobias", False, None, None),
    ("conv 3x3 -> 8 bn", True, (1e-3, 0.99, True), None),
    ("conv 3x3 -> 8 bn nobn", True, None, None),
    ("conv 3x3 -> 8 noscale", True, (1e-3, 0.99, False), None),
    ("conv 3x3 -> 8 eps 1e-5", True, (1e-5, 0.99, True), None),  # eps implies bn
    ("conv 3x3 -> 8 momentum 0.9", True, (1e-3, 0.9, True), None),  # and so does momentum
    ("conv 3x3 -> 8 eps 1e-5 nobn", True, None, None),  # the last word wins
    ("conv 3x3 -> 8 relu", True, None, "relu"),
    ("conv 3x3 -> 8 relu6 silu", True, None, "silu"),
    ("conv 3x3 -> 8 relu linear", True, None, None),
    ("conv 3x3 -> 8 tanh", True, None, "tanh"),
    ("conv 3x3 -> 8 sigmoid", True, None, "sigmoid"),
]


@pytest.mark.parametrize(("layer", "bias", "bn", "act"), CONV_OPTIONS, ids=[c[0] for c in CONV_OPTIONS])
def test_conv_flags(layer: str, bias: bool, bn, act) -> None:
    c = conv(M + f"stage s {{ {layer} }}\n", "s.conv")
    assert (c.bias, _bn(c), c.act) == (bias, bn, act)


def test_layer_defaults_of_the_language() -> None:
    body = "stage s { conv 3x3 -> 8; maxpool 3x3; avgpool 2x2; linear_in() }\n"
    found = nodes(M + body + "block linear_in() { flatten; linear -> 4 }\n")
    c = found["s.conv"]
    assert c.values["stride"] == (1, 1) and c.values["dilation"] == (1, 1) and c.values["groups"] == 1
    assert c.values["pads"] == (1, 1, 1, 1)  # `same`
    options = Options(c.node)
    assert (options.bias, options.bn, options.act) == (True, None, None)
    pool = found["s.maxpool"]
    assert pool.values["stride"] == (3, 3) and pool.values["pads"] == (0, 0, 0, 0)  # stride = kernel, valid
    assert (pool.values["ceil"], pool.values["count_pad"]) == (False, False)
    avg = found["s.avgpool"]
    assert (avg.op, avg.values["count_pad"]) == ("avgpool", False)
    lin = Options(found["s.linear_in.linear"].node)
    assert (lin.bias, lin.bn, lin.act) == (True, None, None)


DEFAULTS_SPEC = """model m(input = 3x32x32)
defaults {
  conv: bn, relu, nobias, eps 1e-5
  maxpool: ceil
}
block plain() {
  conv 1x1 -> 4                     # model defaults
  conv 1x1 -> 4 linear bias nobn    # per-layer override
}
block local() {
  conv 1x1 -> 4                     # before the block's defaults: model defaults only
  defaults { conv: relu6, momentum 0.9 }
  conv 1x1 -> 4                     # model defaults, then the block's
  concat {
    branch { conv 1x1 -> 4 }        # nested scopes see them too
    branch { defaults { conv: noscale }; conv 1x1 -> 4 }
  }
  conv 1x1 -> 4                     # the branch's defaults ended with the branch
}
stage s {
  plain()
  local()
  conv 1x1 -> 4                     # the block's defaults do not leak out
  maxpool 2x2 stride 2
}
"""

# (path, bias, bn, act)
DEFAULTS_EXPECTED = [
    ("s.plain.conv1", False, (1e-5, 0.99, True), "relu"),
    ("s.plain.conv2", True, None, None),
    ("s.local.conv1", False, (1e-5, 0.99, True), "relu"),
    ("s.local.conv2", False, (1e-5, 0.9, True), "relu6"),
    ("s.local.branch0_conv", False, (1e-5, 0.9, True), "relu6"),
    ("s.local.branch1_conv", False, (1e-5, 0.9, False), "relu6"),
    ("s.local.conv3", False, (1e-5, 0.9, True), "relu6"),
    ("s.conv", False, (1e-5, 0.99, True), "relu"),
]


@pytest.mark.parametrize(("path", "bias", "bn", "act"), DEFAULTS_EXPECTED, ids=[e[0] for e in DEFAULTS_EXPECTED])
def test_defaults_scoping(path: str, bias: bool, bn, act) -> None:
    c = conv(DEFAULTS_SPEC, path)
    assert (c.bias, _bn(c), c.act) == (bias, bn, act)


def test_defaults_for_pools() -> None:
    assert nodes(DEFAULTS_SPEC)["s.maxpool"].values["ceil"] is True


def test_later_model_defaults_extend_earlier_ones() -> None:
    spec = M + "defaults { conv: relu }\ndefaults { conv: bn }\nstage s { conv 1x1 -> 4 }\n"
    c = conv(spec, "s.conv")
    assert (c.act, c.bn is not None) == ("relu", True)


def test_model_defaults_apply_to_blocks_defined_before_them() -> None:
    # Top-level defaults are gathered before any block is lowered: their position in the file does not matter.
    c = conv(M + "block b() { conv 1x1 -> 4 }\ndefaults { conv: relu }\nstage s { b() }\n", "s.conv")
    assert c.act == "relu"


@pytest.mark.parametrize(
    ("body", "bn"),
    [
        ("defaults { conv: bn }; conv 1x1 -> 4; shortcut { conv 1x1 -> 4 }", True),
        ("conv 1x1 -> 4; shortcut { conv 1x1 -> 4 }; defaults { conv: bn }", False),  # after it: not
        ("shortcut { defaults { conv: bn }; conv 1x1 -> 4 }; conv 1x1 -> 4", True),
    ],
)
def test_a_shortcut_takes_the_defaults_written_before_it(body: str, bn: bool) -> None:
    c = conv(M + f"stage s {{ residual {{ {body} }} }}\n", "s.shortcut_conv")
    assert (c.bn is not None) is bn


def test_pad_words_and_numbers() -> None:
    spec = (
        M
        + "stage s { conv 3x3 -> 4 pad valid; conv 3x3 -> 4 pad 2; conv 3x3 -> 4 pad 1x0; conv 3x3 -> 4 pad 1x1x0x2 }\n"
    )
    found = nodes(spec)
    assert [found[f"s.conv{i}"].values["pads"] for i in (1, 2, 3, 4)] == [
        (0, 0, 0, 0),
        (2, 2, 2, 2),
        (1, 1, 0, 0),
        (1, 1, 0, 2),
    ]


def test_kernel_and_rate_from_parameters_are_options() -> None:
    spec = "model m(input = 3x32x32, p = 0.25)\n"
    spec += "block b(k, c, r) { conv -> c kernel k stride 2 pad valid; maxpool kernel k stride 1; dropout rate r }\n"
    spec += "stage s { b(3, 8, 0.1); b(1x3, 4, 0.2) }\nhead { global_avgpool; dropout rate p }\n"
    found = nodes(spec)
    assert found["s.b1.conv"].values["kernel"] == (3, 3) and found["s.b1.conv"].out_shape == (8, 15, 15)
    assert found["s.b1.maxpool"].out_shape == (8, 13, 13)
    assert found["s.b2.conv"].values["kernel"] == (1, 3) and found["s.b2.conv"].out_shape == (4, 7, 6)
    assert found["s.b2.maxpool"].out_shape == (4, 7, 4)
    assert [found[p].values["rate"] for p in ("s.b1.dropout", "s.b2.dropout", "head.dropout")] == [0.1, 0.2, 0.25]
    assert nodes(spec, p=0.5)["head.dropout"].values["rate"] == 0.5


def test_layer_value_overrides_a_kernel_from_defaults() -> None:
    spec = M + "defaults { maxpool: kernel 3x3 stride 1 pad 1; dropout: rate 0.3 }\n"
    spec += "stage s { maxpool; maxpool 2x2 stride 2 pad 0; dropout; dropout 0.1 }\n"
    found = nodes(spec)
    assert found["s.maxpool1"].values["kernel"] == (3, 3) and found["s.maxpool1"].out_shape == (3, 32, 32)
    assert found["s.maxpool2"].values["kernel"] == (2, 2) and found["s.maxpool2"].out_shape == (3, 16, 16)
    assert [found[p].values["rate"] for p in ("s.dropout1", "s.dropout2")] == [0.3, 0.1]


def test_pad_may_be_a_parameter() -> None:
    spec = M + "block b(p) { conv 3x3 -> 4 pad p }\nstage s { b(0); b(2) }\n"
    found = nodes(spec)
    assert found["s.b1.conv"].out_shape == (4, 30, 30)
    assert found["s.b2.conv"].out_shape == (4, 32, 32)  # on b1's 30x30 output


def test_padding_words_pass_through_arguments_as_strings() -> None:
    spec = M + 'block b(p = "same") { conv 3x3 -> 4 pad p }\nstage s { b("valid"); b() }\n'
    found = nodes(spec)
    assert found["s.b1.conv"].out_shape == (4, 30, 30)
    assert found["s.b2.conv"].out_shape == (4, 30, 30)


# (layer, error class, what the span covers)
OPTION_ERRORS = [
    ("conv 3x3 -> 8 rellu", SpecNameError, "rellu"),
    ("maxpool 3x3 groups 2", SpecNameError, "groups 2"),
    ("maxpool 3x3 relu", SpecNameError, "relu"),
    ("dropout 0.5 bias", SpecNameError, "bias"),
    ("linear -> 3 stride 2", SpecNameError, "stride 2"),
    ("conv 3x3", SpecArgumentError, "conv 3x3"),
    ("conv -> 8", SpecArgumentError, "conv -> 8"),
    ("maxpool 3x3 -> 8", SpecArgumentError, "8"),
    ("flatten 2", SpecArgumentError, "2"),
    ("dropout", SpecArgumentError, "dropout"),
    ("conv 3x3 -> 8 kernel 3", SpecArgumentError, "3x3"),
    ("dropout 0.2 rate 0.5", SpecArgumentError, "0.2"),
    ("conv 3x3 -> 8 as forward", SpecNameError, "conv 3x3 -> 8 as forward"),
    ("conv 3x3 -> 8 as class", SpecNameError, "conv 3x3 -> 8 as class"),
    ("conv 3x3 -> 8 as a__b", SpecNameError, "conv 3x3 -> 8 as a__b"),
    ("conv 3x3 -> 8 as maxpool", SpecNameError, "conv 3x3 -> 8 as maxpool"),
]


@pytest.mark.parametrize(("layer", "error", "covered"), OPTION_ERRORS, ids=[c[0] for c in OPTION_ERRORS])
def test_option_errors(layer: str, error, covered: str) -> None:
    text = M + f"stage s {{ {layer} }}\n"
    with pytest.raises(error) as info:
        lower_text(text)
    span = info.value.span
    line = text.split("\n")[span.line - 1]
    assert line[span.column - 1 : span.end_column - 1] == covered


def test_every_layer_keyword_is_documented_in_the_layers_table() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "language.md").read_text(encoding="utf-8")
    for op in OPS:
        assert f"`{op}`" in docs, op


# ----------------------------------------------------------------------------- names and paths

NAMES_SPEC = """model m(input = 3x16x16)
block inc(c) {
  concat {
    branch { conv 1x1 -> c }
    branch { conv 1x1 -> c; conv 3x3 -> c }
    branch { conv 1x1 -> c; concat { branch { conv 1x3 -> c } branch { conv 3x1 -> c } } }
    branch pool { maxpool 3x3 stride 1 pad 1; conv 1x1 -> c }
  }
}
block res() {
  residual 0.1 { conv 1x1 -> 8; conv 1x1 -> in.channels }
  relu
}
stage s1 {
  conv 3x3 -> 8
  conv 3x3 -> 8 as conv1
  conv 3x3 -> 8
  inc(4) as inception_3a
  inc(4)
  inc(4)
  repeat 2 { res() }
  repeat 2 { conv 1x1 -> 8; relu }
  concat as mixed { branch { relu } branch { identity } }
}
stage s2 { block35() }
block block35() { relu }
head { global_avgpool; dropout 0.5; linear -> 10 }
aux side after s1 { global_avgpool; linear -> 10 }
"""

EXPECTED_PATHS = """
s1 s1.conv2 s1.conv1 s1.conv3
s1.inception_3a s1.inception_3a.concat s1.inception_3a.branch0_conv s1.inception_3a.branch1_conv1
s1.inception_3a.branch1_conv2 s1.inception_3a.branch2_conv s1.inception_3a.branch2_concat
s1.inception_3a.branch2_branch0_conv s1.inception_3a.branch2_branch1_conv s1.inception_3a.pool_maxpool
s1.inception_3a.pool_conv
s1.inc1 s1.inc1.concat s1.inc1.branch0_conv s1.inc1.branch1_conv1 s1.inc1.branch1_conv2 s1.inc1.branch2_conv
s1.inc1.branch2_concat s1.inc1.branch2_branch0_conv s1.inc1.branch2_branch1_conv s1.inc1.pool_maxpool
s1.inc1.pool_conv
s1.inc2 s1.inc2.concat s1.inc2.branch0_conv s1.inc2.branch1_conv1 s1.inc2.branch1_conv2 s1.inc2.branch2_conv
s1.inc2.branch2_concat s1.inc2.branch2_branch0_conv s1.inc2.branch2_branch1_conv s1.inc2.pool_maxpool
s1.inc2.pool_conv
s1.repeat1 s1.repeat1.0 s1.repeat1.0.residual s1.repeat1.0.conv1 s1.repeat1.0.conv2 s1.repeat1.0.relu
s1.repeat1.1 s1.repeat1.1.residual s1.repeat1.1.conv1 s1.repeat1.1.conv2 s1.repeat1.1.relu
s1.repeat2 s1.repeat2.0 s1.repeat2.0.conv s1.repeat2.0.relu s1.repeat2.1 s1.repeat2.1.conv s1.repeat2.1.relu
s1.mixed s1.branch0_relu s1.branch1_identity
s2 s2.relu
head head.global_avgpool head.dropout head.linear
side side.global_avgpool side.linear
""".split()  # noqa: SIM905 - a few paths per line reads better than a 70-line list


def test_paths_in_execution_order() -> None:
    assert list(nodes(NAMES_SPEC)) == EXPECTED_PATHS


def test_paths_are_unique() -> None:
    assert len(set(EXPECTED_PATHS)) == len(EXPECTED_PATHS)


# (body of stage s, paths of its direct leaves): numbering rules in isolation
NUMBERING = [
    ("relu", ["s.relu"]),
    ("relu; relu", ["s.relu1", "s.relu2"]),
    ("relu; relu as relu1", ["s.relu", "s.relu1"]),  # explicit names are kept verbatim
    ("relu; relu; relu as relu1", ["s.relu2", "s.relu3", "s.relu1"]),  # numbers go around explicit names
    ("relu as a; relu as b", ["s.a", "s.b"]),
    ("b35(); b35()", ["s.b35_1", "s.b35_2"]),  # a name ending in a digit gets '_' before the number
    ("b35() as first; b35()", ["s.first", "s.b35"]),
    ("relu as b35; b35()", ["s.b35", "s.b35_1"]),  # a generated name never takes an explicit one
    (
        "concat { branch { relu } branch { relu; relu } }",
        ["s.concat", "s.branch0_relu", "s.branch1_relu1", "s.branch1_relu2"],
    ),
    ("concat { branch a { relu } branch b { relu } }", ["s.concat", "s.a_relu", "s.b_relu"]),
    ("residual { relu } residual { relu }", ["s.residual1", "s.relu1", "s.residual2", "s.relu2"]),
    ("relu; if true { relu } else { relu; relu }; relu", ["s.relu1", "s.relu2", "s.relu4"]),  # the arm taken
]


@pytest.mark.parametrize(("body", "paths"), NUMBERING, ids=[b for b, _ in NUMBERING])
def test_numbering(body: str, paths: list[str]) -> None:
    spec = M + f"block b35() {{ identity }}\nstage s {{ {body} }}\n"
    found = [p for p in nodes(spec) if p.count(".") == 1]
    assert found == paths


# (stage body, the names of its nodes in both arms of its `if`s, in source order)
IF_ARM_NAMES = [
    ("if c { b35() } else { b35() }", ["cond", "b35", "b35"]),
    ("if c { residual { b35() } } else { b35() }", ["cond", "residual", "b35", "b35"]),
    ("relu; if c { relu } else { relu; relu }", ["relu1", "cond", "relu2", "relu2", "relu3"]),
    ("if c { relu } else { relu; relu }; relu", ["cond", "relu1", "relu1", "relu2", "relu3"]),
    ("if c { b35() as x } else { b35() as x }", ["cond", "x", "x"]),
    (
        "if c { if c { relu } else { relu } } else { relu }; relu",
        ["cond1", "cond2", "relu1", "relu1", "relu1", "relu2"],
    ),
]


@pytest.mark.parametrize(("body", "names"), IF_ARM_NAMES, ids=[b for b, _ in IF_ARM_NAMES])
def test_the_arms_of_an_if_share_names(body: str, names: list[str]) -> None:
    """The arms are never both built: a name is unique along each way through them, as without the `if`."""
    model = lower_text(M + f"block b35() {{ identity }}\nblock t(c) {{ {body} }}\nstage s {{ t(true) }}\n")
    assert [node.name for node in ir.walk(model.blocks["t"].body)] == names


# (stage body, line, column, text at the span): a name used twice in one scope
DUPLICATE_NAMES = [
    ("relu as a\n  relu as a", 5, 3, "relu as a"),
    ("relu as a\n  concat { branch { relu as a } branch { relu } }", 5, 21, "relu as a"),
    ("concat as x { branch { relu } branch { relu } }\n  relu as x", 5, 3, "relu as x"),
    ("b() as x\n  relu as x", 5, 3, "relu as x"),
    ("relu as x\n  if true { relu as x } else { relu }", 5, 13, "relu as x"),  # one way holds both
    ("if true { relu as x } else { relu }\n  relu as x", 5, 3, "relu as x"),
]


@pytest.mark.parametrize(("body", "line", "column", "at"), DUPLICATE_NAMES)
def test_duplicate_explicit_names(body: str, line: int, column: int, at: str) -> None:
    text = M + "block b() { relu }\nstage s {\n  " + body + "\n}\n"
    with pytest.raises(SpecNameError) as info:
        lower_text(text)
    span = info.value.span
    assert (span.line, span.column) == (line, column)
    assert text.split("\n")[line - 1][column - 1 :].startswith(at)


def test_same_explicit_name_in_different_scopes_is_fine() -> None:
    spec = M + "block b() { relu as x }\nstage s { relu as x; b() }\nstage t { relu as x }\n"
    assert {"s.x", "s.b.x", "t.x"} <= set(nodes(spec))


# ----------------------------------------------------------------------------- arguments and parameters

ARGS_SPEC = M + "block b(c, d = 2, e = 3 * 2) {{ conv 1x1 -> c + d + e }}\nstage s {{ {call} }}\n"


@pytest.mark.parametrize(
    ("call", "channels"),
    [
        ("b(1)", 1 + 2 + 6),
        ("b(1, 3)", 1 + 3 + 6),
        ("b(1, e = 10)", 1 + 2 + 10),
        ("b(d = 0, c = 5)", 5 + 0 + 6),
        ("b(\n  1,\n  2,  # comment\n  3,\n)", 6),
    ],
)
def test_arguments_positional_named_and_defaults(call: str, channels: int) -> None:
    # A stage that is one block use is that block: its layers are the stage's (`s.conv`, not `s.b.conv`).
    assert nodes(ARGS_SPEC.format(call=call))["s.conv"].out_shape[0] == channels


@pytest.mark.parametrize(("params", "column"), [("c, e = c * 2", 16), ("e = in.channels", 13), ("e = max(1, k)", 20)])
def test_block_parameter_defaults_are_constants(params: str, column: int) -> None:
    # Arguments are evaluated at the call site: a default naming something would read the caller's names.
    spec = M + f"block b({params}) {{ relu }}\nblock outer(c) {{ b(1) }}\nstage s {{ outer(3) }}\n"
    with pytest.raises(SpecNameError) as info:
        lower_text(spec)
    assert (info.value.span.line, info.value.span.column) == (2, column)


# (call, error class, text at the span, substring of the message)
ARG_ERRORS = [
    ("b()", SpecArgumentError, "b()", "'c'"),
    ("b(1, 2, 3, 4)", SpecArgumentError, "4", "3 argument"),
    ("b(1, f = 2)", SpecNameError, "f = 2", "'f'"),
    ("b(1, c = 2)", SpecArgumentError, "c = 2", "'c'"),
    ("b(c = 1, c = 2)", SpecArgumentError, "c = 2", "'c'"),
    ("b(c = 1, 2)", SpecArgumentError, "2", "positional"),
    ("nope(1)", SpecNameError, "nope(1)", "'nope'"),
    ("b(1) as forward", SpecNameError, "b(1) as forward", "forward"),
]


@pytest.mark.parametrize(("call", "error", "at", "fragment"), ARG_ERRORS, ids=[a[0] for a in ARG_ERRORS])
def test_argument_errors(call: str, error, at: str, fragment: str) -> None:
    text = ARGS_SPEC.format(call=call)
    with pytest.raises(error) as info:
        lower_text(text)
    span = info.value.span
    assert span.line == 3
    assert text.split("\n")[2][span.column - 1 :].startswith(at)
    assert fragment in info.value.message


# (spec after the model line, error class, line, column)
PARAM_ERRORS = [
    ("block b(c, c) { relu }\nstage s { b(1, 2) }", SpecNameError, 2, 12),
    ("block b(class) { relu }\nstage s { b(1) }", SpecNameError, 2, 9),
    ("block b(a = 2, c) { relu }\nstage s { b(c = 1) }", SpecArgumentError, 2, 16),
    ("block b(c, a = 2) { relu }\nstage s { b(1) }", None, None, None),
    ("block b() { relu }\nblock b() { relu }\nstage s { b() }", SpecNameError, 3, 1),
    ("block conv() { relu }\nstage s { conv() }", SpecNameError, 2, 1),
    ("stage s { relu }\nstage s { relu }", SpecNameError, 3, 1),
    ("stage s { relu }\naux s after s { relu }", SpecNameError, 3, 1),
    ("stage s { relu }\naux a after t { relu }", SpecNameError, 3, 13),
    ("stage s { relu }\nhead { relu }\naux a after head { relu }", SpecNameError, 4, 13),
    ("head { relu }\nstage s { relu }", SpecSyntaxError, 3, 1),
    ("stage s { relu }\nhead { relu }\nhead { relu }", SpecNameError, 4, 1),
    ("stage forward { relu }", SpecNameError, 2, 1),
    ("block b() { }\nstage s { b() }", None, None, None),  # an empty block is allowed (identity)
    ("stage s { branch { relu } }", SpecSyntaxError, 2, 11),
    ("stage s { concat { relu } }", SpecSyntaxError, 2, 20),
    ("stage s { concat { branch { relu } } }", SpecArgumentError, 2, 11),
    ("stage s { residual { } }", SpecArgumentError, 2, 11),
    ("stage s { repeat 2 { } }", SpecArgumentError, 2, 11),
    # A block parameter's default is evaluated where it is written, even when every use gives the value.
    ("block b(c = 1 // 0) { relu }\nstage s { b(c = 2) }", SpecArgumentError, 2, 13),
    ("block b(c = 1e999) { relu }\nstage s { b(c = 2) }", SpecArgumentError, 2, 13),
    # A variant reads the parameters declared before the one it sets, as a default does.
    ("variant v(c = c * 2)\nstage s { relu }", SpecNameError, 2, 15),
    ("variant v(c = in.channels)\nstage s { relu }", SpecNameError, 2, 15),
    ("variant v(d = c * 2)\nstage s { relu }", None, None, None),
]


@pytest.mark.parametrize(("text", "error", "line", "column"), PARAM_ERRORS, ids=[p[0] for p in PARAM_ERRORS])
def test_definition_errors(text: str, error, line, column) -> None:
    model = "model m(input = 3x32x32, c = 4, d = 8)\n" if "variant" in text else M
    if error is None:
        lower_text(model + text)
        return
    with pytest.raises(error) as info:
        lower_text(model + text)
    assert (info.value.span.line, info.value.span.column) == (line, column)


def test_model_declaration_errors() -> None:
    with pytest.raises(SpecSyntaxError) as info:
        lower_text("stage s { relu }\n")
    assert "model" in info.value.message
    with pytest.raises(SpecArgumentError) as info:
        lower_text("model m(classes = 3)\nstage s { relu }\n")
    assert (info.value.span.line, info.value.span.column) == (1, 1)
    with pytest.raises(SpecNameError) as info:
        lower_text(M + M + "stage s { relu }\n")
    assert info.value.span.line == 2
    with pytest.raises(SpecNameError) as info:
        lower_text("model m(input = 3x8x8, input = 3x4x4)\nstage s { relu }\n")
    assert (info.value.span.line, info.value.span.column) == (1, 24)
    with pytest.raises(SpecSyntaxError):
        lower_text(M)  # no stages


# ----------------------------------------------------------------------------- model parameters and --set


def test_overrides_replace_defaults_and_flow_into_dependent_defaults() -> None:
    spec = "model m(classes = 10, input = 3x32x32, width = 1.0, stem = round(32 * width))\n"
    spec += "stage s { conv 3x3 -> stem stride 2 }\nhead { global_avgpool; linear -> classes }\n"
    assert inceptgen.load(spec).checked.outputs["main"] == (10,)
    found = nodes(spec, classes=7, width=0.5, input="3x64x64")
    assert found["s.conv"].out_shape == (16, 32, 32)
    assert found["head.linear"].out_shape == (7,)
    assert inceptgen.load(spec, input=(1, 8, 8)).checked.input_shape == (1, 8, 8)


def test_override_errors() -> None:
    spec = "model m(input = 3x8x8, classes)\nstage s { relu }\n"
    with pytest.raises(SpecArgumentError) as info:
        inceptgen.load(spec)  # `classes` has no default: must be given
    assert (info.value.span.line, info.value.span.column) == (1, 24)
    assert inceptgen.load(spec, classes=3).checked.env["classes"] == 3
    with pytest.raises(SpecNameError) as info:
        inceptgen.load(spec, classes=3, clases=4)
    assert "clases" in info.value.message
    with pytest.raises(SpecArgumentError) as info:
        inceptgen.load(spec, classes=3, input="3x8")
    assert (info.value.span.line, info.value.span.column) == (1, 9)


def test_blocks_see_only_their_parameters() -> None:
    spec = "model m(input = 3x8x8, width = 2)\nblock b() { conv 1x1 -> width }\nstage s { b() }\n"
    with pytest.raises(SpecNameError) as info:
        inceptgen.load(spec)
    assert (info.value.span.line, info.value.span.column) == (2, 25)
    assert info.value.hint == "no names are in scope here"  # found before any instance is checked
    passed = spec.replace("block b()", "block b(width)").replace("{ b() }", "{ b(width) }")
    assert nodes(passed)["s.conv"].out_shape == (2, 8, 8)


# ----------------------------------------------------------------------------- blocks: recursion and unused


@pytest.mark.parametrize(
    ("blocks", "line", "column"),
    [
        ("block a() { a() }", 2, 13),
        ("block a() { b() }\nblock b() { a() }", 3, 13),
        ("block a() { b() }\nblock b() { c() }\nblock c() { relu; a() }", 4, 19),
        ("block a() { concat { branch { a() } branch { relu } } }", 2, 31),
        ("block a() { repeat 2 { a() } }", 2, 24),
        ("block a() { residual { relu; a() } }", 2, 30),
    ],
)
def test_recursive_blocks(blocks: str, line: int, column: int) -> None:
    with pytest.raises(SpecNameError) as info:
        lower_text(M + blocks + "\nstage s { a() }\n")
    assert "itself" in info.value.message
    assert (info.value.span.line, info.value.span.column) == (line, column)


def test_recursion_in_an_unused_block_is_still_an_error() -> None:
    with pytest.raises(SpecNameError):
        lower_text(M + "block a() { a() }\nstage s { relu }\n")


def test_unused_block_is_a_warning_not_an_error() -> None:
    spec = M + "block used() { relu }\nblock spare() { relu }\nblock helper() { relu }\nblock outer() { helper() }\n"
    spec += "stage s { used() }\n"
    model = lower_text(spec)
    warned = {(message.split("'")[1], span.line, span.column) for message, span in model.warnings}
    # `helper` is used by `outer`, which is unused: only the definitions nothing refers to are reported
    assert warned == {("spare", 3, 1), ("outer", 5, 1)}
    assert all("never used" in message for message, _ in model.warnings)
    assert inceptgen.load(spec).warnings == model.warnings


def test_no_warnings_for_a_clean_spec() -> None:
    assert lower_text(M + "block b() { relu }\nstage s { b() }\n").warnings == ()


def test_depth_limit() -> None:
    deep = M + "stage s {" + "residual {" * 60 + "relu" + "}" * 60 + "}\n"
    with pytest.raises(SpecLimitError) as info:
        lower_text(deep)
    assert info.value.span.line == 2
    lower_text(deep, limits=Limits(max_depth=100))


# ----------------------------------------------------------------------------- imports


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_import_is_relative_to_the_importing_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "nets/main.incept": 'import "lib/blocks.incept"\n' + M + "stage s { outer(4) }\n",
            "nets/lib/blocks.incept": 'import "../../shared/base.incept"\nblock outer(c) { base(c); base(c) }\n',
            "shared/base.incept": "block base(c) { conv 1x1 -> c }\n",
        },
    )
    spec = inceptgen.load(tmp_path / "nets" / "main.incept")
    assert spec.checked.outputs["main"] == (4, 32, 32)
    assert "s.base2.conv" in {n.path for n in spec.checked.nodes}  # the stage is its one block, `outer`
    # the working directory plays no part
    assert inceptgen.load(str(tmp_path / "nets" / "main.incept")).checked.total_params == spec.checked.total_params


def test_imported_defaults_apply_to_imported_blocks_only(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.incept": 'import "lib.incept"\n' + M + "defaults { conv: relu }\nblock mine() { conv 1x1 -> 4 }\n"
            "stage s { theirs(); mine() }\n",
            "lib.incept": "defaults { conv: bn, nobias }\nblock theirs() { conv 1x1 -> 4 }\n",
        },
    )
    found = {n.path: Options(n.node) for n in inceptgen.load(tmp_path / "main.incept").checked.nodes if n.op == "conv"}
    theirs, mine = found["s.theirs.conv"], found["s.mine.conv"]
    assert (theirs.bias, theirs.bn is not None, theirs.act) == (False, True, None)
    assert (mine.bias, mine.bn is None, mine.act) == (True, True, "relu")


def test_imported_unused_blocks_do_not_warn(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.incept": 'import "lib.incept"\n' + M + "stage s { a() }\n",
            "lib.incept": "block a() { relu }\nblock b() { relu }\n",
        },
    )
    assert inceptgen.load(tmp_path / "main.incept").warnings == ()


def test_diamond_import_reads_the_shared_file_once(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.incept": 'import "x.incept"\nimport "y.incept"\n' + M + "stage s { x(); y() }\n",
            "x.incept": 'import "base.incept"\nblock x() { base() }\n',
            "y.incept": 'import "base.incept"\nblock y() { base() }\n',
            "base.incept": "block base() { relu }\n",
        },
    )
    # Each file is loaded once (0.1 read it twice and reported its blocks as defined twice).
    paths = [n.path for n in inceptgen.load(tmp_path / "main.incept").checked.nodes]
    assert paths == ["s", "s.x", "s.x.base", "s.x.base.relu", "s.y", "s.y.base", "s.y.base.relu"]


# (files, file of the error, line, column, substring of the message)
IMPORT_ERRORS = [
    ({"main.incept": 'import "missing.incept"\n' + M + "stage s { relu }\n"}, "main.incept", 1, 1, "missing.incept"),
    (
        {"main.incept": M + 'import "lib/nope.incept"\nstage s { relu }\n', "lib/other.incept": ""},
        "main.incept",
        2,
        1,
        "nope.incept",
    ),
    (
        {"main.incept": 'import "a.incept"\n' + M + "stage s { relu }\n", "a.incept": '# a\nimport "missing.incept"\n'},
        "a.incept",
        2,
        1,
        "missing.incept",
    ),
    (
        {
            "main.incept": 'import "a.incept"\n' + M + "stage s { relu }\n",
            "a.incept": 'import "b.incept"\n',
            "b.incept": '\n\n  import "a.incept"\n',
        },
        "b.incept",
        3,
        3,
        "a.incept -> b.incept -> a.incept",
    ),
    (
        {"main.incept": 'import "main.incept"\n' + M + "stage s { relu }\n"},
        "main.incept",
        1,
        1,
        "main.incept -> main.incept",
    ),
    (
        {"main.incept": 'import "lib.incept"\n' + M + "stage s { relu }\n", "lib.incept": M + "stage t { relu }\n"},
        "lib.incept",
        1,
        1,
        "only define blocks",
    ),
    (
        {"main.incept": 'import "lib.incept"\n' + M + "stage s { relu }\n", "lib.incept": "block b() { relu\n"},
        "lib.incept",
        1,
        17,
        "end of file",
    ),
    (
        {
            "main.incept": 'import "lib.incept"\n' + M + "stage s { relu }\n",
            "lib.incept": "block b() { convv 1x1 -> 3 }\n",
        },
        "lib.incept",
        1,
        13,
        "convv",
    ),
    ({"main.incept": 'import "."\n' + M + "stage s { relu }\n"}, "main.incept", 1, 1, "'.'"),
]


@pytest.mark.parametrize(("files", "where", "line", "column", "fragment"), IMPORT_ERRORS)
def test_import_errors(
    tmp_path: Path, files: dict[str, str], where: str, line: int, column: int, fragment: str
) -> None:
    write(tmp_path, files)
    with pytest.raises(InceptgenError) as info:
        inceptgen.load(tmp_path / "main.incept")
    span = info.value.span
    assert Path(span.file).resolve() == (tmp_path / where).resolve()
    assert (span.line, span.column) == (line, column)
    assert fragment in info.value.message


def test_missing_and_cyclic_imports_are_name_errors(tmp_path: Path) -> None:
    write(tmp_path, {"a.incept": 'import "b.incept"\n' + M + "stage s { relu }\n", "b.incept": 'import "a.incept"\n'})
    with pytest.raises(SpecNameError):
        inceptgen.load(tmp_path / "a.incept")
    with pytest.raises(SpecNameError):
        lower_text('import "nowhere.incept"\n' + M + "stage s { relu }\n", str(tmp_path / "x.incept"))


def test_import_from_text_is_relative_to_the_given_file_name(tmp_path: Path) -> None:
    write(tmp_path, {"lib.incept": "block b() { relu }\n"})
    model = lower_text('import "lib.incept"\n' + M + "stage s { b() }\n", str(tmp_path / "virtual.incept"))
    assert "b" in model.blocks


def test_stdlib_import(tmp_path: Path) -> None:
    write(tmp_path, {"library/towers.incept": "block tower(c) { conv 1x1 -> c; conv 3x3 -> c }\n"})

    def resolve(name: str) -> Path:
        path = tmp_path / "library" / f"{name}.incept"
        if not path.is_file():
            raise InceptgenError(f"no spec named @{name} in the library", hint="available: towers")
        return path

    text = 'import "@towers"\n' + M + "stage s { tower(8) }\n"
    model = lower_text(text, str(tmp_path / "main.incept"), resolve_stdlib=resolve)
    assert "tower" in model.blocks
    with pytest.raises(SpecNameError) as info:
        lower_text(text.replace("@towers", "@tours"), str(tmp_path / "main.incept"), resolve_stdlib=resolve)
    assert (info.value.span.line, info.value.span.column) == (1, 1)
    assert info.value.hint == "available: towers"
    with pytest.raises(SpecNameError):
        lower_text(text, str(tmp_path / "main.incept"))  # no library given


def test_missing_stdlib_import_points_at_the_import() -> None:
    with pytest.raises(SpecNameError) as info:
        inceptgen.load('model m(input = 3x8x8)\nimport "@no_such_library_file"\nstage s { relu }\n')
    assert (info.value.span.file, info.value.span.line, info.value.span.column) == ("<spec>", 2, 1)
    assert "@no_such_library_file" in info.value.message


def test_the_shipped_block_libraries_import_by_name() -> None:
    spec = 'import "@lib/resnet_blocks"\n' + M + "stage s { basic(8, stride = 2) }\n"
    assert nodes(spec)["s"].out_shape == (8, 16, 16)  # the stage is its block


@pytest.mark.parametrize("path", ["@lib/../resnet18", "@lib/nothing", "@/etc/passwd", "@lib/lib/resnet_blocks"])
def test_library_imports_stay_in_the_library(path: str) -> None:
    with pytest.raises(SpecNameError, match="no spec named"):
        inceptgen.load(f'import "{path}"\n' + M + "stage s { relu }\n")
