"""Spec arithmetic: parsing precedence, evaluation, errors, and rendering back to Python."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inceptgen import expr as ex
from inceptgen.errors import SpecArgumentError, SpecLimitError, SpecNameError
from inceptgen.parse import parse_expr

ENV = {"c": 64, "w": 0.5, "n": 7, "in.channels": 192, "in.height": 35, "in.width": 17}


def value(text: str, env=ENV) -> ex.Value:
    return ex.evaluate(parse_expr(text), env)


# (expression, value): precedence, associativity and the meaning of each operator.
EVALUATION = [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 4 - 3", 3),  # left-associative
    ("10 - (4 - 3)", 9),
    ("2 * 3 % 4", 2),  # same level as *, left to right: (2 * 3) % 4
    ("100 // 4 // 3", 8),
    ("100 // (4 // 3)", 100),
    ("c // 4", 16),
    ("c * 2 + 1", 129),
    ("c / 2", 32.0),
    ("7 // 2", 3),
    ("-7 // 2", -4),  # floor division rounds towards minus infinity, as in Python
    ("7 % 3", 1),
    ("-7 % 3", 2),
    ("7 / 2", 3.5),
    ("-c + 1", -63),
    ("-(c + 1)", -65),
    ("- - 3", 3),
    ("2 - -3", 5),
    ("n * w", 3.5),
    ("int(n * w)", 3),
    ("round(n * w)", 4),
    ("max(c, n, 100)", 100),
    ("min(c, n)", 7),
    ("max(c // 4, 8)", 16),
    ("in.channels // 2", 96),
    ("in.height * in.width", 595),
    ("1.5e2", 150.0),
    (".5", 0.5),
    ("3x224x224", (3, 224, 224)),
    ('"same"', "same"),
]


@pytest.mark.parametrize(("text", "expected"), EVALUATION, ids=[t for t, _ in EVALUATION])
def test_evaluate(text: str, expected: ex.Value) -> None:
    result = value(text)
    assert result == expected
    assert type(result) is type(expected)


# round() is half-up (towards +inf at .5), unlike Python's banker's rounding.
ROUNDING = [(0.5, 1), (1.5, 2), (2.5, 3), (3.5, 4), (-0.5, 0), (-1.5, -1), (-2.5, -2), (2.49, 2), (2.51, 3), (4, 4)]


@pytest.mark.parametrize(("x", "expected"), ROUNDING)
def test_round_is_half_up(x: float, expected: int) -> None:
    assert value("round(x)", {"x": x}) == expected
    # ... and the Python the emitters write for it computes the same.
    assert eval(ex.render(parse_expr("round(x)")), {"math": math, "x": x}) == expected


def test_round_differs_from_python_round() -> None:
    assert round(2.5) == 2  # banker's rounding: the trap the language avoids
    assert value("round(64 * 0.0390625)") == 3  # 2.5 -> 3


# (expression, env, error class, substring of the message): what evaluation refuses.
EVAL_ERRORS = [
    ("c // 0", ENV, SpecArgumentError, "division by zero"),
    ("c / (n - 7)", ENV, SpecArgumentError, "division by zero"),
    ("c % 0", ENV, SpecArgumentError, "division by zero"),
    ("99999999999", ENV, SpecLimitError, "99999999999"),
    ("3x99999999999", ENV, SpecLimitError, "99999999999"),
    ("c * c * c * c * c * c", ENV, SpecLimitError, str(64**6)),
    ("-99999 * 99999", ENV, SpecLimitError, str(-99999 * 99999)),
    ("max(c, 4294967296)", ENV, SpecLimitError, "4294967296"),
    ("1e999", ENV, SpecArgumentError, "inf"),
    ("d + 1", ENV, SpecNameError, "'d'"),
    ("in.depth", ENV, SpecNameError, "in.depth"),
    ("foo(1)", ENV, SpecNameError, "'foo'"),
    ("round(1, 2)", ENV, SpecArgumentError, "round()"),
    ("3x3 * 2", ENV, SpecArgumentError, "(3, 3)"),
    ('"same" + 1', ENV, SpecArgumentError, "'same'"),
    ("-s", {"s": (1, 2)}, SpecArgumentError, "(1, 2)"),
]


@pytest.mark.parametrize(("text", "env", "error", "fragment"), EVAL_ERRORS, ids=[e[0] for e in EVAL_ERRORS])
def test_evaluation_errors(text: str, env, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as info:
        value(text, env)
    assert fragment in info.value.message
    assert info.value.span is not None and info.value.span.line == 1


def test_error_span_is_the_failing_operation() -> None:
    # `model m(v = ...)` wraps the text: column 13 is the first character of the expression.
    with pytest.raises(SpecArgumentError) as info:
        value("1 + c // (n - 7)")
    span = info.value.span
    assert (span.line, span.column) == (1, 17)  # `c // (n - 7)`, not the whole sum
    assert (span.end_line, span.end_column) == (1, 29)


def test_limit_is_inclusive() -> None:
    assert value(str(ex.MAX_INT)) == ex.MAX_INT
    with pytest.raises(SpecLimitError):
        value(str(ex.MAX_INT + 1))
    with pytest.raises(SpecLimitError):
        value(f"{ex.MAX_INT} + 1")


# (expression, rendered Python): the minimum of parentheses, names mapped.
RENDERING = [
    ("1 + 2 * 3", "1 + 2 * 3"),
    ("(1 + 2) * 3", "(1 + 2) * 3"),
    ("10 - (4 - 3)", "10 - (4 - 3)"),
    ("(10 - 4) - 3", "10 - 4 - 3"),
    ("c // (4 * 2)", "c // (4 * 2)"),
    ("c * 2 // 4", "c * 2 // 4"),
    ("-(c + 1)", "-(c + 1)"),
    ("round(c * w)", "math.floor(c * w + 0.5)"),
    ("int(c / 3)", "int(c / 3)"),
    ("max(c, 8)", "max(c, 8)"),
    ("in.channels * 2", "in_channels * 2"),
    ("3x3", "(3, 3)"),
    ('"valid"', "'valid'"),
    ("1e-3", "0.001"),
]


@pytest.mark.parametrize(("text", "python"), RENDERING, ids=[t for t, _ in RENDERING])
def test_render(text: str, python: str) -> None:
    assert ex.render(parse_expr(text), lambda name: name.replace(".", "_")) == python


def test_free_names() -> None:
    assert ex.free_names(parse_expr("round(c * w) + in.channels // n - 3")) == {"c", "w", "n", "in.channels"}
    assert ex.free_names(parse_expr("3x3")) == set()


# Property: for any expression tree, the rendered Python computes what `evaluate` computes.
_LEAVES = st.one_of(
    st.integers(min_value=-50, max_value=50).map(ex.Num),
    st.sampled_from([0.5, 1.5, 2.25, 3.0]).map(ex.Num),
    st.sampled_from(["a", "b"]).map(ex.Ref),
)


def _extend(children):
    return st.one_of(
        st.builds(ex.BinOp, st.sampled_from(["+", "-", "*", "/", "//", "%"]), children, children),
        st.builds(ex.Neg, children),
        st.builds(lambda e: ex.Func("round", (e,)), children),
        st.builds(lambda e: ex.Func("int", (e,)), children),
        st.builds(lambda x, y: ex.Func("max", (x, y)), children, children),
    )


EXPRESSIONS = st.recursive(_LEAVES, _extend, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(EXPRESSIONS, st.integers(-20, 20), st.integers(1, 20))
def test_rendered_python_agrees_with_evaluate(expr: ex.Expr, a: int, b: int) -> None:
    env = {"a": a, "b": b}
    try:
        expected = ex.evaluate(expr, env)
    except (SpecArgumentError, SpecLimitError):
        return  # refused (division by zero, too large): nothing is emitted
    source = ex.render(expr)
    got = eval(source, {"math": math, **env})  # noqa: S307 - the renderer's own output
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12), source


@settings(max_examples=200, deadline=None)
@given(EXPRESSIONS)
def test_rendered_python_parses_back_to_the_same_value(expr: ex.Expr) -> None:
    """Rendering avoids `round`/`int` templates here: the text must be spec syntax too."""
    env = {"a": 3, "b": 5}
    try:
        expected = ex.evaluate(expr, env)
    except (SpecArgumentError, SpecLimitError):
        return
    if any(isinstance(node, ex.Func) for node in ex.walk(expr)):
        return  # `int(math.floor(...))` is Python, not spec syntax
    again = ex.evaluate(parse_expr(ex.render(expr)), env)
    assert again == pytest.approx(expected, rel=1e-12, abs=1e-12)
