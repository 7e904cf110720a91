"""The grammar: every construct parses to the right syntax tree, bad text fails at the right place.

Also the guard on the language reference: every complete spec in docs/language.md must check.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import inceptgen
from inceptgen import expr as ex
from inceptgen import syntax as sx
from inceptgen.errors import SourceError, SpecLimitError, SpecNameError, SpecSyntaxError
from inceptgen.limits import Limits
from inceptgen.loader import decode
from inceptgen.parse import parse, parse_expr

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "language.md"
M = "model m(input = 3x32x32)\n"


def only_stage_body(text: str) -> tuple[sx.Stmt, ...]:
    """Parse `stage s { TEXT }` after a model line; return the stage body."""
    module = parse(M + "stage s {\n" + text + "\n}\n")
    stage = module.items[1]
    assert isinstance(stage, sx.Stage)
    return stage.body


# ----------------------------------------------------------------------------- top level


def test_every_top_level_item() -> None:
    module = parse(
        'import "lib/blocks.incept"\n'
        'import "@inception_blocks"\n'
        "model net(classes = 10, input = 3x32x32, width = 1.0,)\n"
        "defaults { conv: bn, relu }\n"
        "block b(c, r = 2) { conv 1x1 -> c }\n"
        "stage stem { conv 3x3 -> 8 }\n"
        "head { global_avgpool; linear -> classes }\n"
        "aux side after stem weight 0.3 { global_avgpool; linear -> classes }\n"
        "aux other after stem { flatten; linear -> 2 }\n",
        "net.incept",
    )
    kinds = [type(item) for item in module.items]
    assert kinds == [sx.Import, sx.Import, sx.ModelDecl, sx.Defaults, sx.BlockDef, sx.Stage, sx.Head, sx.Aux, sx.Aux]
    imp, std, model, defaults, block, stage, head, aux, other = module.items
    assert (imp.path, std.path) == ("lib/blocks.incept", "@inception_blocks")
    assert [p.name for p in model.params] == ["classes", "input", "width"]
    assert model.params[1].default == ex.Size((3, 32, 32), model.params[1].default.span)
    assert [(r.op, [o.key for o in r.options]) for r in defaults.rules] == [("conv", ["bn", "relu"])]
    assert [(p.name, p.default is None) for p in block.params] == [("c", True), ("r", False)]
    assert stage.name == "stem" and len(head.body) == 2
    assert (aux.name, aux.after, ex.evaluate(aux.weight, {})) == ("side", "stem", 0.3)
    assert (aux.after_span.line, aux.after_span.column) == (8, 16)
    assert other.weight is None
    assert module.file == "net.incept" and imp.span.file == "net.incept"


def test_the_contributor_brief_example_parses_and_checks(tmp_path: Path) -> None:
    """The sketch in notes/language-brief.md uses every construct; keep it valid."""
    brief = (REPO / "notes" / "language-brief.md").read_text(encoding="utf-8")
    code = re.search(r"^```\n(.*?)^```", brief, re.MULTILINE | re.DOTALL).group(1)
    kinds = {type(item) for item in parse(code).items}
    assert kinds == {sx.Import, sx.ModelDecl, sx.Defaults, sx.BlockDef, sx.Stage, sx.Head, sx.Aux}
    (tmp_path / "lib.incept").write_text("block from_lib() { relu }\n", encoding="utf-8")
    (tmp_path / "brief.incept").write_text(code, encoding="utf-8")
    spec = inceptgen.load(tmp_path / "brief.incept")
    assert set(spec.checked.outputs) == {"main", "aux1"}


@pytest.mark.parametrize(
    "header",
    ["model m", "model m()", "model m(input = 3x8x8)", "model m(\n  input = 3x8x8,\n  classes = 2,\n)"],
)
def test_model_header_forms(header: str) -> None:
    module = parse(header + "\nstage s { relu }\n")
    assert isinstance(module.items[0], sx.ModelDecl)


# ----------------------------------------------------------------------------- layers

# (statement, op, positional, out, [(option key, value or None)], explicit name)
LAYERS = [
    ("conv 3x3 -> 64", "conv", (3, 3), 64, [], None),
    ("conv 1x7 -> 192", "conv", (1, 7), 192, [], None),
    ("conv 3 -> 8", "conv", 3, 8, [], None),
    ("conv 3x3 -> c * 2", "conv", (3, 3), "c * 2", [], None),
    ("conv 3x3 -> 64 stride 2 pad valid", "conv", (3, 3), 64, [("stride", 2), ("pad", "valid")], None),
    ("conv 3x3 -> 64 pad 1x2", "conv", (3, 3), 64, [("pad", (1, 2))], None),
    ("conv 3x3 -> 64 pad 0x1x0x1", "conv", (3, 3), 64, [("pad", (0, 1, 0, 1))], None),
    ("conv 3x3 -> 64 dilation 2 groups 4", "conv", (3, 3), 64, [("dilation", 2), ("groups", 4)], None),
    ("conv 1x1 -> 8 bn relu nobias", "conv", (1, 1), 8, [("bn", None), ("relu", None), ("nobias", None)], None),
    ("conv 1x1 -> 8 eps 1e-5 momentum 0.9", "conv", (1, 1), 8, [("eps", 1e-5), ("momentum", 0.9)], None),
    ("conv 1x1 -> 8 relu as proj", "conv", (1, 1), 8, [("relu", None)], "proj"),
    ("conv 1x1 -> in.channels linear", "conv", (1, 1), "in.channels", [("linear", None)], None),
    ("maxpool 3x3 stride 2 ceil", "maxpool", (3, 3), None, [("stride", 2), ("ceil", None)], None),
    (
        "avgpool 3x3 stride 1 pad 1 count_pad",
        "avgpool",
        (3, 3),
        None,
        [("stride", 1), ("pad", 1), ("count_pad", None)],
        None,
    ),
    ("maxpool kernel 2 stride 2", "maxpool", None, None, [("kernel", 2), ("stride", 2)], None),
    ("global_avgpool", "global_avgpool", None, None, [], None),
    ("dropout 0.4", "dropout", 0.4, None, [], None),
    ("linear -> classes relu", "linear", None, "classes", [("relu", None)], None),
    ("flatten as flat", "flatten", None, None, [], "flat"),
    ("identity", "identity", None, None, [], None),
    ("relu6", "relu6", None, None, [], None),
]


def _shown(e: ex.Expr | None):
    if e is None:
        return None
    if isinstance(e, ex.Num | ex.Size):
        return ex.evaluate(e, {})
    if isinstance(e, ex.Ref) and e.name in ("same", "valid"):
        return e.name
    return ex.render(e)


@pytest.mark.parametrize(("text", "op", "positional", "out", "options", "name"), LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_statement(text, op, positional, out, options, name) -> None:
    (layer,) = only_stage_body(text)
    assert isinstance(layer, sx.Layer)
    assert layer.op == op
    assert _shown(layer.positional) == positional
    assert _shown(layer.out) == out
    assert [(o.key, _shown(o.value)) for o in layer.options] == options
    assert layer.name == name


# ----------------------------------------------------------------------------- structure


def test_concat_branches_nesting_and_names() -> None:
    (concat,) = only_stage_body(
        "concat as mixed {\n"
        "  branch { conv 1x1 -> 8 }\n"
        "  branch tower { conv 1x1 -> 8; concat { branch { conv 1x3 -> 8 } branch { conv 3x1 -> 8 } } }\n"
        "}"
    )
    assert isinstance(concat, sx.Concat) and concat.name == "mixed"
    first, tower = concat.body
    assert isinstance(first, sx.Branch) and first.name is None
    assert tower.name == "tower"
    inner = tower.body[1]
    assert isinstance(inner, sx.Concat) and [type(b) for b in inner.body] == [sx.Branch, sx.Branch]


def test_residual_repeat_call_and_local_defaults() -> None:
    body = only_stage_body(
        "defaults { conv: relu }\n"
        "residual scale { conv 1x1 -> 32 }\n"
        "residual { relu }\n"
        "residual 0.1 as res { relu }\n"
        "repeat 3 { block35(scale = 0.17) }\n"
        "repeat n as tower { relu }\n"
        "inception(64, 96, c3 = 128) as inception_3a\n"
        "f()"
    )
    defaults, res1, res2, res3, rep1, rep2, call, bare = body
    assert isinstance(defaults, sx.Defaults)
    assert isinstance(res1.scale, ex.Ref) and res1.scale.name == "scale"
    assert res2.scale is None and res3.name == "res"
    assert ex.evaluate(rep1.count, {}) == 3 and isinstance(rep1.body[0], sx.Call)
    assert rep2.name == "tower"
    assert call.block == "inception" and call.name == "inception_3a"
    assert [(a.name, ex.evaluate(a.value, {})) for a in call.args] == [(None, 64), (None, 96), ("c3", 128)]
    assert bare.block == "f" and bare.args == ()


# ----------------------------------------------------------------------------- separators, comments, whitespace

SEPARATED = [
    ("newlines", "stage s {\n  conv 1x1 -> 8\n  relu\n  relu\n}\n"),
    ("semicolons", "stage s { conv 1x1 -> 8; relu; relu }\n"),
    ("trailing semicolon", "stage s { conv 1x1 -> 8; relu; relu; }\n"),
    (
        "blank lines and comments",
        "\n# a comment\n\nstage s {   # after a brace\n\n  conv 1x1 -> 8  # trailing\n"
        "  # own line\n  relu;relu\n\n}\n\n",
    ),
    ("brace on the last line", "stage s {\n  conv 1x1 -> 8\n  relu\n  relu }"),
    ("no final newline", "stage s { conv 1x1 -> 8; relu; relu }"),
    ("tabs", "stage\ts\t{\n\tconv\t1x1\t->\t8\n\trelu\n\trelu\n}\n"),
    ("form feed", "stage s {\f conv 1x1 -> 8\f; relu; relu }\n"),
]


@pytest.mark.parametrize("text", [t for _, t in SEPARATED], ids=[n for n, _ in SEPARATED])
def test_statement_separators(text: str) -> None:
    stage = parse(M + text).items[1]
    assert [s.op for s in stage.body] == ["conv", "relu", "relu"]


def test_compound_statements_need_no_separator() -> None:
    body = only_stage_body("concat { branch { relu } branch { relu } } relu; residual { relu } repeat 2 { relu } relu")
    assert [type(s) for s in body] == [sx.Concat, sx.Layer, sx.Residual, sx.Repeat, sx.Layer]


def test_comment_may_hold_anything() -> None:
    module = parse('# { } ; -> 3x3 "unterminated ñ\n' + M + "stage s { relu }  # }}}\n")
    assert len(module.items) == 2


def test_crlf_and_lone_cr_are_line_breaks() -> None:
    text = (M + "stage s {\n  conv 1x1 -> 8\n  relu\n}\n").replace("\n", "\r\n")
    assert parse(text).items[1].body[1].span.line == 4
    assert decode(text.encode(), "f") == text.replace("\r\n", "\n")
    assert decode(b"model m\rstage s { relu }", "f") == "model m\nstage s { relu }"


def test_bom_is_dropped_and_positions_are_unchanged() -> None:
    data = "\ufeff".encode() + (M + "stage s { convv 1x1 -> 8 }\n").encode()
    text = decode(data, "f.incept")
    assert not text.startswith("\ufeff")
    with pytest.raises(SpecNameError) as info:
        inceptgen.load(text)
    assert (info.value.span.line, info.value.span.column) == (2, 11)


def test_file_with_bom_crlf_and_tabs_loads(tmp_path: Path) -> None:
    spec = tmp_path / "windows.incept"
    text = "# saved by Notepad\nmodel m(input = 3x8x8)\nstage s {\n\tconv 3x3 -> 4\tstride 2\n}\n"
    spec.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert inceptgen.load(spec).checked.outputs["main"] == (4, 4, 4)


def test_tab_counts_as_one_column() -> None:
    with pytest.raises(SpecNameError) as info:
        inceptgen.load(M + "stage s {\n\t\tconvv 1x1 -> 8\n}\n")
    assert (info.value.span.line, info.value.span.column) == (3, 3)


def test_non_ascii_in_comments_only() -> None:
    parse("# Größe: 3×3 — ok\n" + M + "stage s { relu }\n")
    with pytest.raises(SpecSyntaxError) as info:
        parse(M + "stage s { conv 3×3 -> 8 }\n")
    assert (info.value.span.line, info.value.span.column) == (2, 17)


# ----------------------------------------------------------------------------- positions


def _covered(text: str, span) -> str:
    """The text a span covers (1-based columns, end exclusive)."""
    lines = text.split("\n")
    if span.line == span.end_line:
        return lines[span.line - 1][span.column - 1 : span.end_column - 1]
    first, last = lines[span.line - 1][span.column - 1 :], lines[span.end_line - 1][: span.end_column - 1]
    return "\n".join([first, *lines[span.line : span.end_line - 1], last])


def _item(module: sx.Module):
    return module.items[0]


def _statement(module: sx.Module):
    return module.items[0].body[0]


def _value(module: sx.Module):
    return module.items[0].params[0].default


# (case, spec text, the node to look at, the text its span covers)
SPANS = [
    ("import", 'import "lib.incept"', _item, 'import "lib.incept"'),
    ("model", "model m(a = 1)", _item, "model m(a = 1)"),
    ("model without params", "model m", _item, "model m"),
    ("variant", "variant b1(a = 2)", _item, "variant b1(a = 2)"),
    ("defaults", "defaults { conv: bn }", _item, "defaults { conv: bn }"),
    ("block", "block b(c) { relu }", _item, "block b(c) { relu }"),
    ("stage", "stage s {\n  relu\n}", _item, "stage s {\n  relu\n}"),
    ("head", "head { relu }", _item, "head { relu }"),
    ("aux", "aux a after s { relu }", _item, "aux a after s { relu }"),
    ("layer", "stage s { conv 3x3 -> 8 stride 2 as c1 }", _statement, "conv 3x3 -> 8 stride 2 as c1"),
    ("option", "stage s { conv 3x3 -> 8 stride 2 }", lambda m: _statement(m).options[0], "stride 2"),
    ("call", "stage s { b(8) as x }", _statement, "b(8) as x"),
    ("concat", "stage s { concat { branch { relu } } }", _statement, "concat { branch { relu } }"),
    ("branch", "stage s { concat { branch b1 { relu } } }", lambda m: _statement(m).body[0], "branch b1 { relu }"),
    ("residual", "stage s { residual 0.2 { relu } }", _statement, "residual 0.2 { relu }"),
    (
        "shortcut",
        "stage s { residual { relu; shortcut { relu } } }",
        lambda m: _statement(m).body[1],
        "shortcut { relu }",
    ),
    ("gate", "stage s { gate { relu } }", _statement, "gate { relu }"),
    ("repeat", "stage s { repeat 2 index i { relu } }", _statement, "repeat 2 index i { relu }"),
    ("if else", "stage s { if a { relu } else { relu } }", _statement, "if a { relu } else { relu }"),
    ("else if", "stage s { if a { relu } else if b { relu } }", lambda m: _statement(m).otherwise[0], "if b { relu }"),
    ("negation", "model m(v = -a)", _value, "-a"),
    ("not", "model m(v = not a)", _value, "not a"),
    ("true", "model m(v = true)", _value, "true"),
    ("list", "model m(v = [1, 2,])", _value, "[1, 2,]"),
    ("function", "model m(v = max(a, 2))", _value, "max(a, 2)"),
    ("parenthesised operand", "model m(v = (a + b) * c)", _value, "(a + b) * c"),
    ("inside the parentheses", "model m(v = (a + b) * c)", lambda m: _value(m).left, "a + b"),
    ("parenthesised alone", "model m(v = (a))", _value, "a"),
]


@pytest.mark.parametrize(("text", "node", "covered"), [c[1:] for c in SPANS], ids=[c[0] for c in SPANS])
def test_a_construct_spans_from_its_first_token_to_its_last(text: str, node, covered: str) -> None:
    assert _covered(text, node(parse(text)).span) == covered


def test_nesting_too_deep_is_reported_at_the_construct_from_its_first_token() -> None:
    text = M + "stage s { " + "residual { " * 3 + "relu" + " }" * 3 + " }\n"
    with pytest.raises(SpecLimitError) as info:
        parse(text, limits=Limits(max_depth=2))
    assert _covered(text, info.value.span) == "residual { relu }"


# ----------------------------------------------------------------------------- decode

# (bytes, byte offset the message must name)
UNDECODABLE = [
    (b"model m\xff(input = 3x8x8)", 7),
    (b"\xc3", 0),  # truncated two-byte sequence
    (b"# caf\xc3\xa9\n\xe9t\xe9", 8),  # valid UTF-8, then Latin-1
    (b"\xef\xbb\xbfmodel m\x80", 10),  # offsets count the BOM's bytes too
]


@pytest.mark.parametrize(("data", "offset"), UNDECODABLE)
def test_decode_rejects_invalid_utf8_with_offset(data: bytes, offset: int) -> None:
    with pytest.raises(SourceError) as info:
        decode(data, "bad.incept")
    assert f"byte offset {offset}" in info.value.message
    assert "bad.incept" in info.value.message
    assert info.value.hint


@pytest.mark.parametrize(("data", "offset"), [(b"\x00", 0), (b"model m\x00", 7), (b"ok\xff\x00", 3)])
def test_decode_rejects_nul_with_offset(data: bytes, offset: int) -> None:
    with pytest.raises(SourceError) as info:
        decode(data, "bin.incept")
    assert f"byte offset {offset}" in info.value.message


def test_decode_size_limit() -> None:
    decode(b"#" * 100, "f", Limits(max_file_bytes=100))
    with pytest.raises(SourceError) as info:
        decode(b"#" * 101, "f", Limits(max_file_bytes=100))
    assert "more than the limit of 100 bytes" in info.value.message


def test_loading_a_binary_file_fails_cleanly(tmp_path: Path) -> None:
    spec = tmp_path / "model.incept"
    spec.write_bytes(b"PK\x03\x04\x00\x00")
    with pytest.raises(SourceError):
        inceptgen.load(spec)


# ----------------------------------------------------------------------------- syntax errors

# (text after the model line, error class, line, column, text found at that position or None)
SYNTAX_ERRORS = [
    ("missing channels", "stage s { conv 3x3 -> }", SpecSyntaxError, 2, 23, "}"),
    ("missing value", "stage s { conv 3x3 -> 8 stride }", SpecSyntaxError, 2, 32, "}"),
    ("stray character", "stage s { conv 3x3 -> 8 $ }", SpecSyntaxError, 2, 25, "$"),
    ("two layers on a line", "stage s { conv 1x1 -> 8 conv 3x3 -> 8 }", SpecSyntaxError, 2, 25, "conv"),
    ("unknown valued option", "stage s { conv 1x1 -> 8 strid 2 }", SpecNameError, 2, 25, "strid"),
    ("flag given a value", "stage s { conv 1x1 -> 8 relu 2 }", SpecNameError, 2, 25, "relu"),
    ("defaults typo", "defaults { conv: strid 2 }\nstage s { relu }", SpecNameError, 2, 18, "strid"),
    ("unclosed brace", "stage s {\n  conv 1x1 -> 8\n", SpecSyntaxError, 3, 16, None),
    ("unclosed paren", "block b(c { relu }", SpecSyntaxError, 2, 11, "{"),
    ("extra closing brace", "stage s { relu }\n}", SpecSyntaxError, 3, 1, "}"),
    ("arithmetic on a kernel", "stage s { conv 3x3 * 2 -> 8 }", SpecSyntaxError, 2, 20, "*"),
    ("stage without name", "stage { relu }", SpecSyntaxError, 2, 7, "{"),
    ("block without parens", "block b { relu }", SpecSyntaxError, 2, 9, "{"),
    ("aux without after", "stage s { relu }\naux a s { relu }", SpecSyntaxError, 3, 7, "s"),
    ("unterminated string", 'import "lib.incept\nstage s { relu }', SpecSyntaxError, 2, 8, '"'),
    ("layer at top level", "conv 3x3 -> 8", SpecSyntaxError, 2, 1, "conv"),
    ("empty defaults rule", "defaults { conv: }", SpecSyntaxError, 2, 18, "}"),
    ("named arg without value", "stage s { b(c = ) }", SpecSyntaxError, 2, 17, ")"),
    ("size with spaces", "stage s { conv 3 x 3 -> 8 }", SpecNameError, 2, 18, "x"),
    ("kernel as a bare name", "block b(k) { conv k -> 8 }", SpecSyntaxError, 2, 19, "k ->"),
    ("block named as a keyword", "block shortcut() { relu }\nstage s { shortcut() }", SpecSyntaxError, 3, 19, "()"),
]


@pytest.mark.parametrize(
    ("text", "error", "line", "column", "at"), [c[1:] for c in SYNTAX_ERRORS], ids=[c[0] for c in SYNTAX_ERRORS]
)
def test_syntax_error_position(text: str, error, line: int, column: int, at: str | None) -> None:
    full = M + text
    with pytest.raises(error) as info:
        parse(full, "bad.incept")
    span = info.value.span
    assert (span.file, span.line, span.column) == ("bad.incept", line, column)
    if at is not None:  # the table itself is right: that is what sits at (line, column)
        assert full.split("\n")[line - 1][column - 1 :].startswith(at)
    assert info.value.hint


def test_end_of_file_error_points_after_the_last_character() -> None:
    with pytest.raises(SpecSyntaxError) as info:
        parse(M + "stage s {\n  conv 1x1 -> 8   \n\n\n")
    err = info.value
    assert "end of file" in err.message
    assert (err.span.line, err.span.column) == (3, 16)


def test_syntax_error_hint_lists_expected_tokens_readably() -> None:
    with pytest.raises(SpecSyntaxError) as info:
        parse(M + "stage s { conv 3x3 -> }")
    hint = info.value.hint
    assert "a size like 3x3" in hint and "__ANON" not in hint and "anon" not in hint


# ----------------------------------------------------------------------------- --set values


@pytest.mark.parametrize(
    ("text", "value"), [("10", 10), ("0.5", 0.5), ("3x64x64", (3, 64, 64)), ("2 * 8", 16), ("-1", -1), ('"x"', "x")]
)
def test_parse_expr_for_set_values(text: str, value) -> None:
    assert ex.evaluate(parse_expr(text), {}) == value


@pytest.mark.parametrize("text", ["", "3x", "1 +", "a b", "{}", "x)"])
def test_parse_expr_rejects_junk(text: str) -> None:
    with pytest.raises((SpecSyntaxError, SpecNameError)):
        parse_expr(text)


# ----------------------------------------------------------------------------- the language reference

_FENCE = re.compile(r"^```incept[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_TOP_LEVEL = ("model", "import", "block", "defaults", "stage", "head", "aux")


def _doc_blocks() -> list[tuple[int, str]]:
    """(line of the first code line, code) of every ```incept block; none if the file is missing."""
    text = DOCS.read_text(encoding="utf-8") if DOCS.is_file() else ""
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in _FENCE.finditer(text)]


def _first_word(code: str) -> str:
    for line in code.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped.split()[0].split("(")[0]
    return ""


def _complete(code: str) -> bool:
    return _first_word(code) == "model"


def test_language_reference_has_checked_examples() -> None:
    blocks = _doc_blocks()
    assert sum(_complete(code) for _, code in blocks) >= 15, "docs/language.md lost its complete examples"


@pytest.mark.parametrize(("line", "code"), [b for b in _doc_blocks() if _complete(b[1])], ids=lambda v: str(v))
def test_every_complete_spec_in_the_reference_checks(line: int, code: str) -> None:
    """A block that starts with `model` is a whole spec: it must parse, lower and shape-check."""
    try:
        spec = inceptgen.load(code + "\n")
    except inceptgen.InceptgenError as err:
        pytest.fail(f"docs/language.md line {line + (err.span.line - 1 if err.span else 0)}: {err} ({err.hint})")
    expected = re.search(r"#\s*expect:\s*(\d[\d,]*) parameters", code)
    if expected:  # a block may state its parameter count; keep it true
        assert spec.checked.total_params == int(expected.group(1).replace(",", ""))
    shape = re.search(r"#\s*expect:.*?output (\d+(?:x\d+)*)", code)
    if shape:
        assert "x".join(map(str, spec.checked.outputs["main"])) == shape.group(1)


@pytest.mark.parametrize(
    ("line", "code"),
    [b for b in _doc_blocks() if _first_word(b[1]) in _TOP_LEVEL and not _complete(b[1])],
    ids=lambda v: str(v),
)
def test_every_top_level_fragment_in_the_reference_parses(line: int, code: str) -> None:
    """Fragments made of whole items (a block, an import, defaults) must at least be grammatical."""
    try:
        parse(code + "\n", "docs/language.md")
    except inceptgen.InceptgenError as err:
        pytest.fail(f"docs/language.md line {line + (err.span.line - 1 if err.span else 0)}: {err}")


@pytest.mark.parametrize(
    ("text", "line", "owner", "opened"),
    [
        ("model m(input = 3x8x8)\nstage s3 {\n  conv 3x3 -> 8\nstage s4 { relu }\nhead { relu }\n", 4, "stage s3", 2),
        ("model m(input = 3x8x8)\nblock b() {\n  concat {\n    branch { relu }\n}\nhead { relu }\n", 6, "block b()", 2),
        ("model m(input = 3x8x8)\nstage s {\n  relu\n", 3, "stage s", 2),
    ],
    ids=["next stage", "nested body", "end of file"],
)
def test_a_missing_closing_brace_names_the_body_left_open(text: str, line: int, owner: str, opened: int) -> None:
    # 0.1 reported "unexpected '{'" at the next `head {`, without naming the body left open.
    with pytest.raises(SpecSyntaxError) as info:
        parse(text)
    assert info.value.span.line == line
    assert f"the '{{' of `{owner}` (line {opened}) is never closed" in info.value.message
    assert "'}'" in info.value.hint
