"""Hypothesis strategies for random *valid* `.incept` specs (language 0.2), and mutations of real ones.

`valid_specs()` builds a spec statement by statement while tracking the concrete shape
(channels, height, width, or a flat length) that flows through it, so what it draws checks by
construction. Every piece can `run(shape, env, gen)`, raising `InvalidDrawError` when it does
not fit, and `render()` its text. A block used again (other arguments, another input), a
variant and a `--set` override are re-run on their new values before they are written, so
the output shapes of every configuration of the spec are known (`GenSpec.configs`).

What it draws, all of language 0.2:

- every layer keyword of `inceptgen.ops.OPS`, with its options and flags: which options a
  layer has, their defaults, their flags and the kind of value each takes come from the
  vocabulary; `KINDS` says how to draw and check a value of each kind, `SHAPES` is an
  independent model of each layer's shape rule and constraints (groups dividing channels,
  slice bounds, shuffle groups, pool padding at most half the kernel, ceil mode, normalize's
  values, ...). An option value is drawn only if the layer, with the options drawn before it,
  still fits its input under `SHAPES`: each constraint is written once, there. A layer kind
  without a shape model is drawn against the vocabulary's own rule (`Op.infer`) and reported
  as such (see `unmodelled_ops`), so new vocabulary is fuzzed the day it is added;
- concat (of maps, of flat vectors, halving), residual with scale, shortcut (a projection,
  empty, or an `if`) and droppath, gate (squeeze-excitation, spatial, full, flat), repeat
  with `index` (nested, shadowing, count 0), `if` / `else if` / `else` with arms of other
  shapes, block uses (reused with other arguments), `defaults` at file level (anywhere in
  the file, including rules that supply a required option such as `dropout: rate 0.1`) and
  in bodies (scoped as the language scopes them);
- block parameters of every type (int, float, bool, string, size, list) with constant
  defaults, model parameters of every type with defaults computed from earlier ones, a
  parameter without a default (given with `--set`), variants, and `--set` overrides;
- expressions of every form: arithmetic, `//`, `/`, `%`, comparisons, `and`/`or`/`not`,
  conditional expressions, `round`/`ceil`/`floor`/`int`/`min`/`max`/`make_divisible`,
  `in.channels`, repeat indices, strings, sizes and lists. They are written in the spec's
  syntax and evaluated here by Python (which the spec's semantics follow, `round` rounding
  halves up), independently of inceptgen's evaluator.

`mutations()` draws token-level edits (delete, duplicate, swap, replace), random bytes and
truncations of a given text.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import CodeType

from hypothesis import reject
from hypothesis import strategies as st

from inceptgen import expr as ex
from inceptgen.names import RESERVED_MEMBERS, check_identifier
from inceptgen.ops import OPS, LayerContext, valued_options
from inceptgen.ops import OPS as LAYER_OPS

Shape = tuple[int, ...]
Value = int | float | bool | str | tuple
Env = dict[str, object]

#: Largest channel count drawn; keeps models tiny (the differential test builds both frameworks).
MAX_CHANNELS = 24
#: Largest channel count a layer may reach (a block used again with other arguments, a variant).
MAX_REUSED_CHANNELS = 64
#: Largest height or width, and largest flat length, any layer may produce.
MAX_SIZE = 24
MAX_FEATURES = 1024

# Emitter bugs this generator found, all fixed (docs/robustness.md lists them): a name
# read inside a repeat nested in a repeat; `in.channels` inside a repeat body (PyTorch read
# each copy's input); generated names clashing with the module's own (`model s` with
# `stage s`, a model parameter `input_shape`); a stage ending with `flatten` before a
# linear in the next stage; ceil mode over asymmetric padding, and average pooling that
# excludes asymmetric padding (PyTorch).


#: Layers whose every use must see one rank (the checker refuses a map in one use and a flat
#: vector in another: the PyTorch class differs).
RANK_BOUND = frozenset({"bn", "layernorm"})


class InvalidDrawError(Exception):
    """A drawn piece does not fit its input; the generator draws another."""


# ------------------------------------------------------------------------------- draws

# The generator draws about 800 choices per spec. Built per call, `st.sampled_from(a_list)`
# and even `st.integers(lo, hi)` cost more than the draw does (Hypothesis' strategy cache,
# then validating a new strategy). These draw from strategies built once. `pick` draws an
# index, as `st.sampled_from` does, so that it shrinks to the first item the same way; it
# does not cache a strategy per list, since equal tuples such as (1, 0) and (True, False)
# would share one.


@functools.cache
def _integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


_BOOLEANS = st.booleans()


def integer(draw: Callable, lo: int, hi: int) -> int:
    """An integer in [lo, hi]."""
    return draw(_integers(lo, hi))


def coin(draw: Callable) -> bool:
    return draw(_BOOLEANS)


def pick(draw: Callable, items: Sequence[Value]) -> Value:
    """One of `items`; drawing from none rejects the example."""
    if len(items) <= 1:  # as `st.sampled_from`: one item is no choice
        if not items:
            reject()
        return items[0]
    return items[draw(_integers(0, len(items) - 1))]


# ------------------------------------------------------------------------------- names

#: Identifiers that are legal in a spec but collide with names generated code is likely to
#: use (modules, builtins, helpers, locals): the emitters must keep them apart.
_HOSTILE = """x y inputs outputs torch nn F math keras layers ops tf np self_ cls model params
    shape int max min round float len sum range print object Model Sequential build_model
    ConvNormAct pad_same ACTIVATIONS annotations Tensor i j k n h w c out result stem
    head_ super_ features classes_ self_x forward_ Any typing input_shape cond cond1
    make_divisible ceil floor x_nhwc training penalty DropPath Normalize""".split()

#: Words a spec writes bare as option values (`pad same`, `init he_normal`, `end none`): a
#: parameter with such a name could not be read in those places.
_WORDS = {w for op in OPS.values() for opt in op.options.values() for w in opt.kind.words}


def _usable(name: str, *, layer: bool = False) -> bool:
    try:
        check_identifier(name, None, "fuzz")
    except Exception:  # noqa: BLE001 - anything check_identifier refuses is unusable
        return False
    return (
        name not in LAYER_OPS
        and name not in ("input", "classes", "head")
        and name not in _WORDS
        and name not in valued_options()
        and not (layer and name in RESERVED_MEMBERS)
    )


HOSTILE_NAMES = [n for n in _HOSTILE if _usable(n, layer=True)]


class Names:
    """Fresh identifiers: plain (`p3`) or, when drawn, hostile ones not yet used."""

    def __init__(self, draw: Callable, hostile: bool) -> None:
        self.draw = draw
        self.hostile = hostile
        self.used: set[str] = set()
        self.count = 0

    def fresh(self, prefix: str) -> str:
        if self.hostile and integer(self.draw, 0, 3) == 0:
            free = [n for n in HOSTILE_NAMES if n not in self.used]
            if free:
                name = pick(self.draw, free)
                self.used.add(name)
                return name
        self.count += 1
        name = f"{prefix}{self.count}"
        self.used.add(name)
        return name

    def maybe(self, prefix: str, odds: int = 5) -> str | None:
        """A fresh name one time in `odds` (an `as NAME`), else None."""
        return self.fresh(prefix) if integer(self.draw, 0, odds - 1) == 0 else None


# ------------------------------------------------------------------------- values


def typeof(value: object) -> str:
    """int, float, bool, str, size, list or '' (the spec's types, as this generator uses them)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, tuple) and value:
        if all(typeof(v) == "int" and v >= 0 for v in value) and len(value) >= 2:
            return "size"
        if all(typeof(v) in ("int", "float") for v in value):
            return "list"
    return ""


def literal(value: Value) -> str:
    """`value` written in the spec's syntax."""
    kind = typeof(value)
    if kind == "bool":
        return "true" if value else "false"
    if kind == "str":
        return f'"{value}"'
    if kind == "size":
        return "x".join(map(str, value))  # type: ignore[arg-type]
    if kind == "list":
        return "[" + ", ".join(literal(v) for v in value) + "]"  # type: ignore[union-attr]
    if kind == "float":
        return repr(value)
    return str(value)


def _half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """torchvision's `_make_divisible`, as the docs define the spec's function."""
    low = divisor if min_value is None else min_value
    new = max(low, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


_FUNCTIONS = {
    "f_round": _half_up,
    "f_ceil": math.ceil,
    "f_floor": math.floor,
    "f_int": int,
    "f_max": max,
    "f_min": min,
    "f_make_divisible": _make_divisible,
}
_STRING = re.compile(r'"[^"\n]*"')
_SIZE = re.compile(r"(?<![\w.])\d+(?:x\d+)+(?![\w.])")
_WORD = re.compile(r"\b([A-Za-z_]\w*)\b(\s*\()?")
_PY = {"if": "if", "else": "else", "and": "and", "or": "or", "not": "not", "true": "True", "false": "False"}


@functools.lru_cache(maxsize=8192)
def _translated(text: str) -> tuple[CodeType, tuple[str, ...]]:
    """A generated expression as compiled Python, and the string literals it names `__s0`, `__s1`, ..."""
    strings: list[str] = []

    def keep(m: re.Match) -> str:
        strings.append(m.group(0)[1:-1])
        return f" __s{len(strings) - 1} "

    code = _STRING.sub(keep, text).replace("in.channels", " __in_channels ")
    code = _SIZE.sub(lambda m: "(" + ", ".join(m.group(0).split("x")) + ",)", code)

    def word(m: re.Match) -> str:
        name, call = m.group(1), m.group(2)
        if name in _PY:
            return _PY[name] + (call or "")
        if call:
            return f"f_{name}{call}"
        if name.startswith("__"):
            return name
        return "v_" + name

    return compile(_WORD.sub(word, code).strip(), "<generated expression>", "eval"), tuple(strings)


def evaluate(text: str, env: Env) -> Value:
    """Value of a generated expression, computed by Python (spec syntax translated)."""
    code, strings = _translated(text)  # the same texts come back thousands of times per run
    names: dict[str, object] = {"v_" + k: v for k, v in env.items() if k.isidentifier()}
    names["__in_channels"] = env.get("in.channels")
    names.update({f"__s{i}": s for i, s in enumerate(strings)})
    try:
        value = eval(code, {"__builtins__": {}, **_FUNCTIONS}, names)  # noqa: S307
    except (ZeroDivisionError, TypeError, OverflowError, ValueError, NameError, KeyError) as exc:
        raise InvalidDrawError(f"{text}: {exc}") from None
    if isinstance(value, list):
        value = tuple(value)
    if typeof(value) in ("int", "float") and abs(value) > ex.MAX_INT:  # type: ignore[arg-type]
        raise InvalidDrawError(f"{text}: too large")
    return value  # type: ignore[return-value]


# -------------------------------------------------------------------------- kinds of option value

MISSING = object()


@dataclass(frozen=True)
class Alias:
    """A default that copies another option (a pool's stride is its kernel)."""

    key: str


def _int(v: object) -> int:
    if typeof(v) != "int":
        raise InvalidDrawError(f"not an integer: {v!r}")
    return v  # type: ignore[return-value]


def _number(v: object) -> float:
    if typeof(v) not in ("int", "float"):
        raise InvalidDrawError(f"not a number: {v!r}")
    return v  # type: ignore[return-value]


def _check_count(v):
    if _int(v) <= 0:
        raise InvalidDrawError("not positive")
    return v


def _check_index(v):
    if _int(v) < 0:
        raise InvalidDrawError("negative")
    return v


def _check_pair(v):
    pair = (v, v) if typeof(v) == "int" else v
    if not (typeof(pair) == "size" and len(pair) == 2 and min(pair) > 0):  # type: ignore[arg-type]
        raise InvalidDrawError(f"not N or HxW: {v!r}")
    return pair


def _check_pads(v):
    if v in ("same", "valid"):
        return v
    if typeof(v) == "int" and v >= 0:  # type: ignore[operator]
        return (v, v), (v, v)
    if typeof(v) == "size" and len(v) == 2:  # type: ignore[arg-type]
        return (v[0], v[0]), (v[1], v[1])  # type: ignore[index]
    if typeof(v) == "size" and len(v) == 4:  # type: ignore[arg-type]
        return (v[0], v[1]), (v[2], v[3])  # type: ignore[index]
    raise InvalidDrawError(f"not a padding: {v!r}")


def _check_explicit_pads(v):
    if isinstance(v, str):
        raise InvalidDrawError("a word is not an amount")
    return _check_pads(v)


def _range(low: float, high: float, low_open: bool) -> Callable:
    def check(v):
        n = _number(v)
        if not ((low < n) if low_open else (low <= n)) or not n < high:
            raise InvalidDrawError(f"{n} out of range")
        return n

    return check


def _check_flag(v):
    if typeof(v) != "bool":
        raise InvalidDrawError("not a bool")
    return v


def _check_numbers(v):
    items = (v,) if typeof(v) in ("int", "float") else v
    if typeof(items) not in ("list", "size") or not items:
        raise InvalidDrawError("not numbers")
    return tuple(float(x) for x in items)  # type: ignore[union-attr]


@dataclass(frozen=True)
class KindModel:
    """How this generator draws and checks a value of one kind of option.

    Attributes:
        types: the value types an expression of this kind may have.
        check: normalise a value as the language does, or raise InvalidDrawError.
        literals: values to draw from, before any hint.
        words: words written bare (`pad same`), taken as strings.
    """

    types: tuple[str, ...]
    check: Callable[[object], object]
    literals: tuple[Value, ...]
    words: tuple[str, ...] = ()


#: Every kind of option value of the vocabulary, by its description (`Kind.describe`).
KINDS: dict[str, KindModel] = {
    "a positive integer": KindModel(("int",), _check_count, (1, 2, 3, 4)),
    "a non-negative integer": KindModel(("int",), _check_index, (0, 1, 2)),
    "N or HxW": KindModel(("int", "size"), _check_pair, (1, 3, (1, 3), (3, 1), (3, 3), (2, 2))),
    "same, valid, N, HxW or TxBxLxR": KindModel(
        ("int", "size", "str"), _check_pads, ("same", "valid", 0, 1, (1, 0), (0, 1, 0, 1)), ("same", "valid")
    ),
    "N, HxW or TxBxLxR": KindModel(("int", "size"), _check_explicit_pads, (0, 1, (1, 0), (0, 1, 0, 1), (2, 1))),
    "in [0, 1)": KindModel(("int", "float"), _range(0.0, 1.0, False), (0.0, 0.1, 0.25, 0.5)),
    "in (0, 1)": KindModel(("float",), _range(0.0, 1.0, True), (0.001, 1e-05, 0.1, 0.9, 0.99)),
    "positive": KindModel(("int", "float"), _range(0.0, math.inf, True), (0.02, 0.5, 1.0, 2, 1e-06)),
    "a number": KindModel(("int", "float"), _number, (0.5, 1.0, 2, -0.5, 0.01)),
    "a number >= 0": KindModel(("int", "float"), _range(0.0, math.inf, False), (0.0, 0.0001, 0.01)),
    "true or false": KindModel(("bool",), _check_flag, (True, False)),
    "a number or a list of numbers": KindModel(("int", "float", "list"), _check_numbers, (0.5, 1.0, 2.0)),
}


def kind_model(kind) -> KindModel | None:
    """This generator's model of an `inceptgen.ops` Kind, or None if it has none."""
    describe, words = kind.describe, tuple(kind.words)
    if describe.endswith(", or none") and "none" in words:
        base = kind_model(type(kind)(describe[: -len(", or none")], kind.check, tuple(w for w in words if w != "none")))
        if base is None:
            return None

        def check(v, base=base):
            return None if v == "none" else base.check(v)

        return KindModel((*base.types, "str"), check, (*base.literals, "none"), (*base.words, "none"))
    if describe in KINDS:
        return KINDS[describe]
    if words and describe == " | ".join(words):

        def choose(v, words=words):
            if v not in words:
                raise InvalidDrawError(f"not one of {words}")
            return v

        return KindModel(("str",), choose, words, words)
    return None


def constant(expr: object) -> object:
    """The value of a default or flag in the vocabulary (a literal expression)."""
    if isinstance(expr, ex.Num | ex.Bool | ex.Str):
        return expr.value
    raise InvalidDrawError(f"not a constant: {expr!r}")


# ------------------------------------------------------------------------- layer shape models


def _window(n: int, k: int, s: int, d: int, pad: object, ceil: bool) -> int:
    """Output size of one axis (0: the window does not fit), as docs/language.md defines it."""
    eff = (k - 1) * d + 1
    if pad == "same":
        return -(-n // s)
    before, after = (0, 0) if pad == "valid" else pad  # type: ignore[misc]
    span = n + before + after - eff
    if span < 0:
        return 0
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + before:  # no window starts in the trailing padding
        out -= 1
    return out


def _map(shape: Shape) -> Shape:
    if len(shape) != 3:
        raise InvalidDrawError("needs a feature map")
    return shape


def _flat(shape: Shape) -> Shape:
    if len(shape) != 1:
        raise InvalidDrawError("needs a flat input")
    return shape


def _req(v: dict, key: str, partial: bool, neutral: object) -> object:
    """A required option's value; while drawing (`partial`), a neutral stand-in until it is drawn."""
    value = v.get(key, MISSING)
    if value is MISSING:
        if not partial:
            raise InvalidDrawError(f"{key} missing")
        return neutral
    return value


def _spatial(shape: Shape, v: dict, partial: bool, ceil: bool = False) -> tuple[int, int]:
    kernel = _req(v, "kernel", partial, (1, 1))
    stride = v.get("stride", (1, 1))
    stride = kernel if isinstance(stride, Alias) else stride
    dilation = v.get("dilation", (1, 1))
    pads = v["pad"]
    out = []
    for axis, n in enumerate(shape[1:]):
        pad = pads if isinstance(pads, str) else pads[axis]
        size = _window(n, kernel[axis], stride[axis], dilation[axis], pad, ceil)  # type: ignore[index]
        if size <= 0:
            raise InvalidDrawError("window larger than the padded input")
        out.append(size)
    return out[0], out[1]


def _conv(shape, v, partial):
    cin = _map(shape)[0]
    cout = _req(v, "out", partial, None)
    groups = v["groups"]
    if cin % groups or (cout is not None and cout % groups):
        raise InvalidDrawError("groups must divide the channels")
    return (cout or cin, *_spatial(shape, v, partial))


def _dwconv(shape, v, partial):
    cin = _map(shape)[0]
    cout = v["out"] or cin
    if cout % cin:
        raise InvalidDrawError("a depthwise conv's output is a multiple of its input")
    return (cout, *_spatial(shape, v, partial))


def _sepconv(shape, v, partial):
    cin = _map(shape)[0]
    return (_req(v, "out", partial, cin), *_spatial(shape, v, partial))


def _linear(shape, v, partial):
    return (_req(v, "out", partial, _flat(shape)[0]),)


def _pool(kw: str) -> Callable:
    def model(shape, v, partial):
        c = _map(shape)[0]
        kernel, pads, ceil = _req(v, "kernel", partial, (1, 1)), v["pad"], v["ceil"]
        if ceil and (pads == "same" or kw == "avgpool"):
            raise InvalidDrawError("ceil mode: max pooling with explicit padding only")
        if not isinstance(pads, str) and any(p > k // 2 for pair, k in zip(pads, kernel, strict=True) for p in pair):
            raise InvalidDrawError("pool padding more than half the kernel")
        return (c, *_spatial(shape, v, partial, ceil))

    return model


def _global(shape, v, partial):
    c = _map(shape)[0]
    return (c, 1, 1) if v["keepdims"] else (c,)


def _same(shape, v, partial):
    return shape


def _same_map(shape, v, partial):
    return _map(shape)


def _normalize(shape, v, partial):
    mean, variance = v["mean"], v["variance"]
    if not partial and (mean is None) != (variance is None):
        raise InvalidDrawError("normalize: both mean and variance, or neither")
    for values in (mean, variance):
        if values is not None and len(values) not in (1, shape[0]):
            raise InvalidDrawError("normalize: one value, or one per channel")
    if variance is not None and min(variance) <= 0:
        raise InvalidDrawError("normalize: variance must be positive")
    return shape


def _flatten(shape, v, partial):
    return (math.prod(shape),)


def _slice(shape, v, partial):
    c, start = shape[0], v["start"]
    end = c if v["end"] is None else v["end"]
    if not 0 <= start < end <= c:
        raise InvalidDrawError("slice out of the channels")
    return (end - start, *shape[1:])


def _shuffle(shape, v, partial):
    c = _map(shape)[0]
    if c % _req(v, "groups", partial, 1):
        raise InvalidDrawError("shuffle groups must divide the channels")
    return shape


def _zeropad(shape, v, partial):
    c, h, w = _map(shape)
    (top, bottom), (left, right) = _req(v, "pad", partial, ((0, 0), (0, 0)))
    return c, h + top + bottom, w + left + right


#: An independent model of every layer's shape rule: (input shape, option values, partial) -> output.
SHAPES: dict[str, Callable[[Shape, dict, bool], Shape]] = {
    "conv": _conv,
    "dwconv": _dwconv,
    "sepconv": _sepconv,
    "linear": _linear,
    "maxpool": _pool("maxpool"),
    "avgpool": _pool("avgpool"),
    "global_avgpool": _global,
    "global_maxpool": _global,
    "bn": _same,
    "layernorm": _same,
    "layerscale": _same,
    "rescale": _same,
    "normalize": _normalize,
    "lrn": _same_map,
    "dropout": _same,
    "droppath": _same,
    "flatten": _flatten,
    "identity": _same,
    "leaky_relu": _same,
    "softmax": _same,
    "slice": _slice,
    "shuffle": _shuffle,
    "zeropad": _zeropad,
    **dict.fromkeys(("relu", "relu6", "sigmoid", "tanh", "silu", "swish", "gelu", "hardswish", "hardsigmoid"), _same),
}

#: Options that are given together or not at all.
TOGETHER: dict[str, tuple[str, ...]] = {"normalize": ("mean", "variance")}


def unmodelled_ops() -> list[str]:
    """Layer kinds of the vocabulary drawn against the vocabulary's own shape rule (no model here)."""
    return [kw for kw in OPS if kw not in SHAPES]


def _oracle(kw: str) -> Callable[[Shape, dict, bool], Shape]:
    """The vocabulary's own rule, for a layer kind this generator has no model of."""
    from inceptgen.errors import InceptgenError

    op = OPS[kw]

    def model(shape, v, partial):
        values: dict[str, object] = {}
        for key in op.options:
            value = v.get(key, MISSING)
            if value is MISSING:
                km = option_model(kw, key)
                if not partial or km is None:
                    raise InvalidDrawError(f"{key} missing")
                value = km.check(km.literals[0])
            values[key] = value
        for key, value in values.items():
            if isinstance(value, Alias):
                values[key] = values[value.key]
        try:
            return tuple(op.infer(LayerContext(kw, None, shape, values, {})).out_shape)  # type: ignore[arg-type]
        except InceptgenError as exc:
            raise InvalidDrawError(str(exc)) from None

    return model


def shape_model(kw: str) -> Callable[[Shape, dict, bool], Shape]:
    return SHAPES.get(kw) or _oracle(kw)


def bounded(shape: Shape) -> Shape:
    """Refuse shapes outside the generator's size caps (keeps every model small)."""
    if len(shape) == 3:
        c, h, w = shape
        if not (1 <= c <= MAX_REUSED_CHANNELS and 1 <= h <= MAX_SIZE and 1 <= w <= MAX_SIZE):
            raise InvalidDrawError(f"shape {shape} out of bounds")
    elif len(shape) == 1:
        if not 1 <= shape[0] <= MAX_FEATURES:
            raise InvalidDrawError(f"shape {shape} out of bounds")
    else:
        raise InvalidDrawError(f"shape {shape}")
    return shape


_OPTION_MODELS: dict[tuple[str, str], KindModel | None] = {}
_DEFAULTS: dict[str, dict[str, object]] = {}


def option_model(kw: str, key: str) -> KindModel | None:
    if (kw, key) not in _OPTION_MODELS:
        _OPTION_MODELS[kw, key] = kind_model(OPS[kw].options[key].kind)
    return _OPTION_MODELS[kw, key]


def language_defaults(kw: str) -> dict[str, object]:
    """The vocabulary's defaults of a layer kind, normalised (required options absent)."""
    if kw not in _DEFAULTS:
        values: dict[str, object] = {}
        for key, opt in OPS[kw].options.items():
            if opt.default is None:
                continue
            if isinstance(opt.default, str):
                values[key] = Alias(opt.default)
                continue
            km = option_model(kw, key)
            if km is not None:
                values[key] = km.check(constant(opt.default))
        _DEFAULTS[kw] = values
    return _DEFAULTS[kw]


def apply_option(values: dict, kw: str, key: str, text: str | None, env: Env) -> None:
    """Set one written option (`key text`) or flag (`key` alone) in `values`."""
    if text is None:
        target, expr = OPS[kw].flags[key]
        km = option_model(kw, target)
        values[target] = constant(expr) if km is None else km.check(constant(expr))
        return
    km = option_model(kw, key)
    if km is None:
        raise InvalidDrawError(f"{kw} {key}: no model of its kind")
    bare = text in km.words and OPS[kw].options[key].valued  # `pad same`; after `->`, a word is a name
    values[key] = km.check(text if bare else evaluate(text, env))


def layer_values(kw: str, env: Env, opts: list[tuple[str, str | None]]) -> dict[str, object]:
    """The options in force on a layer: the language's, the `defaults` in scope, its own."""
    values = dict(language_defaults(kw))
    for rule_kw, entries in env.get("#defaults", ()):  # type: ignore[attr-defined]
        if rule_kw == kw:
            for key, text in entries:
                apply_option(values, kw, key, text, {})
    for key, text in opts:
        apply_option(values, kw, key, text, env)
    return values


_LITERAL = re.compile(r"\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\d+(?:x\d+)+")

#: Preferred values of some options, by (layer, option): `(input shape, values so far) -> values`.
#: They only make a good draw likely; what is valid is `SHAPES`' business.
HINTS: dict[tuple[str, str], Callable[[Shape, dict], tuple[Value, ...]]] = {
    **{
        (kw, "kernel"): lambda s, v: ((1, 1), (3, 3), (1, 3), (3, 1), (5, 5), (2, 2), 3, 1)
        for kw in ("conv", "dwconv", "sepconv", "maxpool", "avgpool")
    },
    **{
        (kw, "pad"): lambda s, v: ("same", "valid", 0, 1, 2, (1, 0), (0, 1), (0, 1, 0, 1), (1, 0, 0, 1))
        for kw in ("conv", "dwconv", "sepconv", "maxpool", "avgpool")
    },
    **{(kw, "stride"): lambda s, v: (1, 2, (2, 1), (1, 2), 1) for kw in ("conv", "dwconv", "sepconv")},
    **{(kw, "stride"): lambda s, v: (1, 2, 3, (2, 1)) for kw in ("maxpool", "avgpool")},
    **{(kw, "dilation"): lambda s, v: (1, 2) for kw in ("conv", "dwconv", "sepconv")},
    ("conv", "groups"): lambda s, v: tuple(range(1, 9)),
    ("dwconv", "out"): lambda s, v: (s[0], 2 * s[0], 3 * s[0]),
    ("slice", "start"): lambda s, v: tuple(range(0, s[0])),
    ("slice", "end"): lambda s, v: (*range(1, s[0] + 1), "none"),
    ("shuffle", "groups"): lambda s, v: tuple(g for g in range(2, 9) if s[0] % g == 0) or (1,),
    ("zeropad", "pad"): lambda s, v: (0, 1, 2, (1, 0), (0, 1), (0, 1, 0, 1), (2, 1, 0, 3)),
    ("normalize", "mean"): lambda s, v: (0.5, -0.25, tuple(0.1 * (i + 1) for i in range(s[0]))),
    ("normalize", "variance"): lambda s, v: (0.25, 2.0, tuple(0.5 + 0.25 * i for i in range(s[0]))),
    ("lrn", "size"): lambda s, v: (1, 2, 3, 5, 7),
    ("lrn", "alpha"): lambda s, v: (0.0001, 0.001, 0.1),
    ("lrn", "beta"): lambda s, v: (0.5, 0.75, 1.0),
    ("lrn", "offset"): lambda s, v: (1.0, 2.0, 0.5),
    ("leaky_relu", "slope"): lambda s, v: (0.01, 0.2, 0.3),
    ("layerscale", "value"): lambda s, v: (1e-06, 0.5, 1.0, -0.3, 2),
    ("rescale", "factor"): lambda s, v: (0.5, 2, 0.00392156862745098, -1.0),
    ("rescale", "offset"): lambda s, v: (0, -1, 0.5),
    **{(kw, "eps"): lambda s, v: (0.001, 1e-05, 0.01, 1e-06) for kw in ("conv", "dwconv", "sepconv", "linear", "bn")},
    ("layernorm", "eps"): lambda s, v: (1e-05, 1e-06, 0.001),
    **{(kw, "momentum"): lambda s, v: (0.9, 0.99, 0.1, 0.5) for kw in ("conv", "dwconv", "sepconv", "linear", "bn")},
}

#: Values that are valid but make outputs meaningless (NaN or infinite) where both programs agree
#: only by accident: kept out of the draw, by (layer, option).
SANE: dict[tuple[str, str], Callable[[object], bool]] = {
    ("lrn", "offset"): lambda n: n > 0,  # a negative base to a fractional power is NaN
    ("lrn", "alpha"): lambda n: n >= 0,
    ("lrn", "beta"): lambda n: n >= 0,
}

#: How often each layer kind is drawn (any kind not listed: 1).
WEIGHTS: dict[str, float] = {
    "conv": 10, "dwconv": 2, "sepconv": 2, "linear": 6, "maxpool": 2.5, "avgpool": 2.5, "global_avgpool": 0.4,
    "global_maxpool": 0.3, "bn": 1.5, "flatten": 0.3, "zeropad": 0.8, "slice": 1, "shuffle": 1,
    **dict.fromkeys(("relu", "relu6", "sigmoid", "tanh", "silu", "swish", "gelu", "hardswish", "hardsigmoid"), 0.35),
}  # fmt: skip

#: Layer kinds that always change the height and width, or flatten.
_RESHAPING = ("global_avgpool", "global_maxpool", "flatten")


# -------------------------------------------------------------------------- statements


class Stmt:
    #: Layers this statement adds itself (containers: 0; their bodies count on their own).
    layers = 1

    def run(self, shape: Shape, env: Env, gen: Gen) -> Shape:
        raise NotImplementedError

    def render(self, indent: str) -> list[str]:
        raise NotImplementedError

    def children(self) -> Iterator[Stmt]:
        return iter(())

    def walk(self) -> Iterator[Stmt]:
        yield self
        for child in self.children():
            yield from child.walk()


def _as(name: str | None) -> str:
    return f" as {name}" if name else ""


def run_body(body: list[Stmt], shape: Shape, env: Env, gen: Gen) -> Shape:
    """Run a body in a scope of its own (its `defaults` end with it)."""
    env = dict(env)
    for stmt in body:
        shape = stmt.run(shape, env, gen)
    return shape


@dataclass
class Layer(Stmt):
    """One layer statement: `op [positional] [-> out] options... [as name]`."""

    op: str
    opts: list[tuple[str, str | None]]  # (option, text) or (flag, None), in the order written
    positional: bool = False  # the op's positional option is written as a bare value
    name: str | None = None

    def run(self, shape, env, gen):
        if self.op in RANK_BOUND:
            seen = gen.ranks.setdefault(id(self), (self, len(shape)))
            if seen[0] is self and seen[1] != len(shape):
                raise InvalidDrawError(f"{self.op} on maps in one use and flat vectors in another")
        return bounded(shape_model(self.op)(shape, layer_values(self.op, env, self.opts), False))

    def render(self, indent):
        op = OPS[self.op]
        parts, rest = [self.op], []
        arrow = None
        for key, text in self.opts:
            if text is None:
                rest.append(key)
            elif key == op.positional and self.positional:
                parts.append(text)
            elif key == op.arrow:
                arrow = f"-> {text}"
            else:
                rest.append(f"{key} {text}")
        return [indent + " ".join([*parts, *([arrow] if arrow else []), *rest]) + _as(self.name)]


def layer(op: str, *opts: tuple[str, str | None], positional: bool = False, name: str | None = None) -> Layer:
    return Layer(op, list(opts), positional, name)


@dataclass
class Concat(Stmt):
    branches: list[tuple[str | None, list[Stmt]]]
    name: str | None = None
    layers = 0

    def run(self, shape, env, gen):
        outs = [run_body(body, shape, env, gen) for _, body in self.branches]
        if all(len(o) == 1 for o in outs):
            return bounded((sum(o[0] for o in outs),))
        if any(len(o) != 3 for o in outs) or len({o[1:] for o in outs}) > 1:
            raise InvalidDrawError("branches differ")
        return bounded((sum(o[0] for o in outs), *outs[0][1:]))

    def render(self, indent):
        lines = [f"{indent}concat{_as(self.name)} {{"]
        for label, body in self.branches:
            head = f"{indent}  branch {label} {{" if label else f"{indent}  branch {{"
            lines += _block_lines(head, body, indent + "    ", indent + "  ")
        return [*lines, f"{indent}}}"]

    def children(self):
        return (s for _, body in self.branches for s in body)


@dataclass
class Shortcut(Stmt):
    """A residual's `shortcut { ... }` (run by the residual, from its input)."""

    body: list[Stmt]
    layers = 0

    def run(self, shape, env, gen):
        return shape  # not part of the residual body's flow

    def render(self, indent):
        return _block_lines(f"{indent}shortcut {{", self.body, indent + "  ", indent)

    def children(self):
        return iter(self.body)


@dataclass
class Residual(Stmt):
    scale: str | None
    body: list[Stmt]  # may hold one Shortcut, anywhere
    name: str | None = None
    layers = 0

    def run(self, shape, env, gen):
        if self.scale is not None and typeof(evaluate(self.scale, env)) not in ("int", "float"):
            raise InvalidDrawError("residual scale must be a number")
        inner = dict(env)
        out, short = shape, shape
        for stmt in self.body:
            if isinstance(stmt, Shortcut):
                short = run_body(stmt.body, shape, inner, gen)  # the defaults written before it apply
            else:
                out = stmt.run(out, inner, gen)
        if out != short:
            raise InvalidDrawError(f"residual body {out} but shortcut {short}")
        return out

    def render(self, indent):
        scale = f" {self.scale}" if self.scale is not None else ""
        return _block_lines(f"{indent}residual{scale}{_as(self.name)} {{", self.body, indent + "  ", indent)

    def children(self):
        return iter(self.body)


@dataclass
class Gate(Stmt):
    body: list[Stmt]
    name: str | None = None
    layers = 0

    def run(self, shape, env, gen):
        out = run_body(self.body, shape, env, gen)
        if len(out) != len(shape) or any(o not in (i, 1) for o, i in zip(out, shape, strict=True)):
            raise InvalidDrawError(f"gate body {out} does not broadcast to {shape}")
        return shape

    def render(self, indent):
        return _block_lines(f"{indent}gate{_as(self.name)} {{", self.body, indent + "  ", indent)

    def children(self):
        return iter(self.body)


@dataclass
class Repeat(Stmt):
    count: str
    body: list[Stmt]
    index: str | None = None
    name: str | None = None
    layers = 0

    def run(self, shape, env, gen):
        count = evaluate(self.count, env)
        if typeof(count) != "int" or not 0 <= count <= 4:  # type: ignore[operator]
            raise InvalidDrawError(f"repeat count {count!r}")
        for i in range(count):  # type: ignore[arg-type]
            shape = run_body(self.body, shape, {**env, self.index: i} if self.index else env, gen)
        return shape

    def render(self, indent):
        index = f" index {self.index}" if self.index else ""
        head = f"{indent}repeat {self.count}{index}{_as(self.name)} {{"
        return _block_lines(head, self.body, indent + "  ", indent)

    def children(self):
        return iter(self.body)


@dataclass
class If(Stmt):
    arms: list[tuple[str, list[Stmt]]]  # if COND { }, else if COND { } ...
    orelse: list[Stmt] | None = None
    layers = 0

    def run(self, shape, env, gen):
        for cond, body in self.arms:
            value = evaluate(cond, env)
            if typeof(value) != "bool":
                raise InvalidDrawError(f"condition {cond} is not a boolean")
            if value:
                return run_body(body, shape, env, gen)
        return run_body(self.orelse, shape, env, gen) if self.orelse is not None else shape

    def render(self, indent):
        lines: list[str] = []
        for i, (cond, body) in enumerate(self.arms):
            head = f"{indent}if {cond} {{" if i == 0 else f"else if {cond} {{"
            lines = _chain(lines, _block_lines(head, body, indent + "  ", indent))
        if self.orelse is not None:
            lines = _chain(lines, _block_lines("else {", self.orelse, indent + "  ", indent))
        return lines

    def children(self):
        return (s for body in [*(b for _, b in self.arms), self.orelse or []] for s in body)


def _chain(lines: list[str], more: list[str]) -> list[str]:
    """`} else ...` continues the line that closed the previous arm."""
    if not lines:
        return more
    return [*lines[:-1], f"{lines[-1]} {more[0].lstrip()}", *more[1:]]


@dataclass
class Call(Stmt):
    block: str
    args: list[tuple[str | None, str]]
    name: str | None = None
    layers = 0

    def run(self, shape, env, gen):
        return gen.run_block(self.block, [(k, evaluate(v, env)) for k, v in self.args], shape)

    def render(self, indent):
        args = ", ".join(v if k is None else f"{k} = {v}" for k, v in self.args)
        return [f"{indent}{self.block}({args}){_as(self.name)}"]


Rule = tuple[str, tuple[tuple[str, str | None], ...]]  # (layer keyword, ((option, text) or (flag, None), ...))


def render_rule(rule: Rule, comma: bool) -> str:
    kw, entries = rule
    sep = ", " if comma else " "
    return f"{kw}: " + sep.join(key if text is None else f"{key} {text}" for key, text in entries)


@dataclass
class Defaults(Stmt):
    """A `defaults { ... }` statement: its rules reach the statements after it in its body."""

    rules: list[Rule]
    comma: bool = True
    layers = 0

    def run(self, shape, env, gen):
        env["#defaults"] = (*env.get("#defaults", ()), *self.rules)  # type: ignore[misc]
        return shape

    def render(self, indent):
        return [f"{indent}defaults {{ " + "; ".join(render_rule(r, self.comma) for r in self.rules) + " }"]


def _block_lines(head: str, body: list[Stmt], inner: str, indent: str) -> list[str]:
    if not body:
        return [head + " }"]
    if len(body) <= 3 and all(isinstance(s, Layer | Call) for s in body):
        one_line = "; ".join(line.strip() for s in body for line in s.render(""))
        if len(one_line) < 100:
            return [f"{head} {one_line} }}"]
    lines = [head]
    for stmt in body:
        lines += stmt.render(inner)
    return [*lines, f"{indent}}}"]


@dataclass
class Param:
    """A block or model parameter: its name, type, the value drawn, and its default text (None: required)."""

    name: str
    type: str
    value: Value
    default: str | None
    computed: bool = False  # a model parameter whose default reads earlier ones


@dataclass
class Block:
    name: str
    params: list[Param]
    body: list[Stmt]

    def render(self) -> list[str]:
        params = ", ".join(p.name if p.default is None else f"{p.name} = {p.default}" for p in self.params)
        return _block_lines(f"block {self.name}({params}) {{", self.body, "  ", "")


# ------------------------------------------------------------------------------- model


@dataclass
class Config:
    """One way to load a generated spec: a variant, `--set` values (as the CLI takes them), the outputs."""

    variant: str | None
    sets: dict[str, str]
    input: Shape
    outputs: dict[str, Shape]


@dataclass
class GenSpec:
    """A generated spec, its text and what the checker must find.

    `input` and `outputs` are those of `configs[0]`, the spec as written (with the `--set`
    values of any parameter that has no default); the other configurations select a
    variant or override parameters.
    """

    text: str
    input: Shape
    outputs: dict[str, Shape]
    layers: int
    blocks: int = 0
    features: set[str] = field(default_factory=set)
    configs: list[Config] = field(default_factory=list)


@dataclass
class Budget:
    layers: int
    depth: int


def _is_name(key: str) -> bool:
    return key.isidentifier() or key == "in.channels"


#: Values of each parameter type a block or model parameter is drawn with.
_PARAM_VALUES: dict[str, list[Value]] = {
    "float": [0.1, 0.25, 0.5, 0.75, 1.0, 1.5],
    "bool": [True, False],
    "size": [(3, 3), (1, 3), (3, 1), (1, 1), (2, 2), (0, 1, 0, 1), (1, 0)],
    "str": ["same", "valid", "he_normal", "glorot_uniform", "patch", "deep"],
    "list": [(0.5,), (0.25, 0.5, 0.75), (1.0, 2.0)],
}
_ACTS = ["relu", "relu6", "silu", "sigmoid", "tanh", "identity", "gelu", "hardswish", "hardsigmoid"]
_STATEMENTS = {"layer": 10, "concat": 2, "residual": 2, "gate": 1.5, "repeat": 1.5, "if": 1.5, "call": 2.5,
               "defaults": 0.7}  # fmt: skip


class Gen:
    """Draws statements for a concrete input shape; one instance per generated spec."""

    def __init__(self, draw: Callable, hostile: bool, max_layers: int, max_depth: int, strings: bool) -> None:
        self.draw = draw
        self.names = Names(draw, hostile)
        self.blocks: dict[str, Block] = {}
        self.order: list[str] = []
        self.budget = Budget(max_layers, max_depth)
        self.strings = strings
        self.layers = 0
        self.file_rules: tuple[Rule, ...] = ()
        #: The rank each RANK_BOUND layer saw first in this run of the network (`Model.run` resets it).
        self.ranks: dict[int, tuple[Layer, int]] = {}

    def weighted(self, weights: dict[str, float]) -> str:
        """One key of `weights`, drawn in proportion to its weight."""
        keys = sorted(weights)
        total = sum(weights[k] for k in keys)
        point = integer(self.draw, 0, 999) / 1000 * total
        for key in keys:
            point -= weights[key]
            if point < 0:
                return key
        return keys[-1]

    # running --------------------------------------------------------------------
    def scope_env(self, values: Env) -> Env:
        return {**values, "#defaults": self.file_rules}

    def run_block(self, name: str, args: list[tuple[str | None, object]], shape: Shape) -> Shape:
        block = self.blocks[name]
        env: Env = {}
        positional = [v for k, v in args if k is None]
        for param, value in zip(block.params, positional, strict=False):
            env[param.name] = value
        env.update({k: v for k, v in args if k is not None})
        for param in block.params:
            if param.name not in env:
                if param.default is None:
                    raise InvalidDrawError(f"{param.name} not given")
                env[param.name] = evaluate(param.default, {})
        env["in.channels"] = shape[0]
        return run_body(block.body, shape, self.scope_env(env), self)

    # expressions ----------------------------------------------------------------
    def names_of(self, env: Env, *types: str) -> list[str]:
        return [k for k, v in env.items() if _is_name(k) and typeof(v) in types]

    def expr(self, env: Env, typ: str, depth: int = 2) -> str | None:
        """A random expression of type `typ` over the names in `env` (None: none of that type here)."""
        draw = self.draw
        if typ == "int":
            return self.int_tree(env, depth)
        if typ == "float":
            return self.float_tree(env, depth)
        if typ == "bool":
            return self.bool_tree(env, depth)
        if typ == "str" and not self.strings:
            return None
        names = self.names_of(env, typ)
        pool = [literal(v) for v in _PARAM_VALUES.get(typ, [])]
        leaves = names + pool
        if not leaves:
            return None
        a, b = pick(draw, leaves), pick(draw, leaves)
        if coin(draw):
            return a
        return f"({a} if {self.bool_tree(env, 1)} else {b})"

    def int_tree(self, env: Env, depth: int) -> str:
        draw = self.draw
        ints = self.names_of(env, "int")
        if depth <= 0 or integer(draw, 0, 2) == 0:
            if ints and coin(draw):
                return pick(draw, ints)
            return str(integer(draw, 0, 16))
        a, b = self.int_tree(env, depth - 1), self.int_tree(env, depth - 1)
        forms = [f"{a} + {b}", f"({a}) * ({b})", f"({a} + {b}) // 2", f"({a}) - ({b})", f"max({a}, {b})",
                 f"min({a}, {b}, 16)", f"round(({a}) * 0.5)", f"int(({a}) / 2)", f"({a}) % 7 + 1",
                 f"-({a}) + 2 * ({b})", f"ceil(({a}) / 3)", f"floor(({a}) * 0.75)", f"make_divisible({a}, 4)",
                 f"make_divisible(({a}) * 1.5, 2, 1)"]  # fmt: skip
        if integer(draw, 0, 3) == 0:
            forms.append(f"({a} if {self.bool_tree(env, depth - 1)} else {b})")
        floats = self.names_of(env, "float")
        if floats:
            f = pick(draw, floats)
            forms += [f"round(({a}) * {f})", f"ceil({f} * ({a}))", f"make_divisible(({a}) * {f}, 4)"]
        return pick(draw, forms)

    def float_tree(self, env: Env, depth: int) -> str:
        draw = self.draw
        floats = self.names_of(env, "float")
        if depth <= 0 or integer(draw, 0, 2) == 0:
            if floats and coin(draw):
                return pick(draw, floats)
            return literal(pick(draw, [0.1, 0.25, 0.5, 1.5, 2.0]))
        a, b = self.float_tree(env, depth - 1), self.float_tree(env, depth - 1)
        i = self.int_tree(env, 0)
        forms = [f"({a}) * ({b})", f"{a} + {b}", f"({a}) / 2", f"-({a})", f"max({a}, 0.1)", f"min({a}, {b})",
                 f"({i}) / 4", f"({a}) - ({b}) * 0.5"]  # fmt: skip
        if integer(draw, 0, 3) == 0:
            forms.append(f"({a} if {self.bool_tree(env, depth - 1)} else {b})")
        return pick(draw, forms)

    def bool_tree(self, env: Env, depth: int) -> str:
        draw = self.draw
        bools = self.names_of(env, "bool")
        strs = self.names_of(env, "str") if self.strings else []
        if depth <= 0 or integer(draw, 0, 2) == 0:
            choice = integer(draw, 0, 5)
            if bools and choice <= 1:
                return pick(draw, bools)
            if strs and choice == 2:
                word = pick(draw, _PARAM_VALUES["str"])
                return f'{pick(draw, strs)} {pick(draw, ["==", "!="])} "{word}"'
            if choice == 3:
                return pick(draw, ["true", "false"])
            op = pick(draw, ["==", "!=", "<", "<=", ">", ">="])
            return f"{self.int_tree(env, 1)} {op} {self.int_tree(env, 0)}"
        a, b = self.bool_tree(env, depth - 1), self.bool_tree(env, depth - 1)
        return pick(draw, [f"not ({a})", f"({a}) and ({b})", f"({a}) or ({b})"])

    def value_text(
        self,
        env: Env,
        km: KindModel,
        ok: Callable[[object], bool] = lambda n: True,
        hints: tuple[Value, ...] = (),
        bare: bool = True,
    ) -> str:
        """An expression whose value is of kind `km` and, normalised, satisfies `ok` (`bare`: words may be bare)."""
        draw = self.draw

        def good(value: object) -> bool:
            try:
                normal = km.check(value)
            except InvalidDrawError:
                return False
            return ok(normal)

        way = integer(draw, 0, 9)
        if way < 2:
            names = [k for k in self.names_of(env, *km.types) if good(env[k])]
            if names:
                return pick(draw, names)
        if way < 4:
            for _ in range(2):
                text = self.expr(env, pick(draw, km.types))
                if text is None:
                    continue
                try:
                    value = evaluate(text, env)
                except InvalidDrawError:
                    continue
                if typeof(value) in km.types and good(value):
                    return text
        literals = [v for v in (*hints, *hints, *km.literals) if good(v)]
        if not self.strings:
            literals = [v for v in literals if not isinstance(v, str) or (bare and v in km.words)]
        if literals:
            value = pick(draw, literals)
            if bare and isinstance(value, str) and value in km.words and (not self.strings or coin(draw)):
                return value  # a bare word: `pad same`
            return literal(value)
        names = [k for k in self.names_of(env, *km.types) if good(env[k])]
        if names:
            return pick(draw, names)
        raise InvalidDrawError("no value fits")

    def int_text(self, env: Env, lo: int = 1, hi: int = MAX_CHANNELS, exact: int | None = None) -> str:
        """An integer expression in [lo, hi] (or equal to `exact`)."""
        want = (lambda n: n == exact) if exact is not None else (lambda n: lo <= n <= hi)
        pool = (exact,) if exact is not None else (integer(self.draw, lo, hi), integer(self.draw, lo, hi))
        return self.value_text(env, KINDS["a non-negative integer"], want, pool)

    def bool_text(self, env: Env, want: bool) -> str:
        return self.value_text(env, KINDS["true or false"], lambda b: b == want, (want,))

    # layers -----------------------------------------------------------------------
    def draw_layer(self, kw: str, shape: Shape, env: Env, preserve: bool) -> Layer | None:
        """A layer of kind `kw` that fits `shape` (keeping its height and width if `preserve`)."""
        draw = self.draw
        op = OPS[kw]
        model = shape_model(kw)
        values = layer_values(kw, env, [])

        def fits(trial: dict, partial: bool = True) -> bool:
            try:
                out = bounded(model(shape, trial, partial))
            except InvalidDrawError:
                return False
            return not preserve or out[1:] == shape[1:]

        keys: list[str] = []
        if op.arrow and (op.options[op.arrow].default is None or integer(draw, 0, 2) == 0):
            keys.append(op.arrow)
        for key in op.options:
            if key not in keys and values.get(key, MISSING) is MISSING:
                keys.append(key)  # required, and no `defaults` rule gives it
        if op.positional and op.positional not in keys and integer(draw, 0, 3) == 0:
            keys.append(op.positional)
        extra = [k for k, o in op.options.items() if o.valued and k not in keys]
        for key in draw(st.permutations(extra))[: integer(draw, 0, 2)]:
            keys.append(key)
        for key in TOGETHER.get(kw, ()):
            if any(k in keys for k in TOGETHER[kw]) and key not in keys:
                keys.append(key)
        opts: list[tuple[str, str | None]] = []
        for key in keys:
            km = option_model(kw, key)
            if km is None:
                if values.get(key, MISSING) is MISSING:
                    return None
                continue
            sane = SANE.get((kw, key), lambda n: True)
            hints = HINTS[kw, key](shape, values) if (kw, key) in HINTS else ()
            ok = lambda n, key=key, sane=sane: sane(n) and fits({**values, key: n})  # noqa: E731
            text = self.value_text(env, km, ok, hints, bare=op.options[key].valued)
            apply_option(values, kw, key, text, env)
            opts.append((key, text))
        for _ in range(integer(draw, 0, 2) if op.flags else 0):
            word = pick(draw, sorted(op.flags))
            trial = dict(values)
            apply_option(trial, kw, word, None, env)
            if fits(trial):
                values = trial
                opts.append((word, None))
        if not fits(values, partial=False):
            return None
        positional = False
        if op.positional in keys:
            text = dict(opts)[op.positional]
            if text is not None and _LITERAL.fullmatch(text) and integer(draw, 0, 3) > 0:
                positional = True
                opts.sort(key=lambda kt: kt[0] != op.positional)  # the bare value comes first
        return Layer(kw, opts, positional, self.names.maybe("n", 6))

    def _layer(self, shape, env, depth, preserve):
        weights = {}
        for kw in OPS:
            if preserve and kw in _RESHAPING:
                continue
            if len(shape) == 1 and kw in ("conv", "dwconv", "sepconv", "maxpool", "avgpool", "lrn", "shuffle",
                                          "zeropad", "global_avgpool", "global_maxpool"):  # fmt: skip
                continue
            if len(shape) == 3 and kw == "linear":
                continue
            weights[kw] = WEIGHTS.get(kw, 1.0)
        return self.draw_layer(self.weighted(weights), shape, env, preserve)

    # bodies -----------------------------------------------------------------------
    def body(self, shape: Shape, env: Env, depth: int, n: int, *, preserve: bool = False) -> tuple[list[Stmt], Shape]:
        """Up to `n` statements for input `shape`; `preserve`: keep the height and width."""
        env = dict(env)  # a body's `defaults` end with it
        out: list[Stmt] = []
        for _ in range(n):
            if self.layers >= self.budget.layers:
                break
            stmt, shape = self.statement(shape, env, depth, preserve)
            out.append(stmt)
        return out, shape

    def statement(self, shape: Shape, env: Env, depth: int, preserve: bool) -> tuple[Stmt, Shape]:
        """One statement for `shape` (run, so that a `defaults` takes effect in `env`)."""
        kinds = {"layer": _STATEMENTS["layer"]}
        if depth < self.budget.depth:
            kinds.update(_STATEMENTS)
        for _ in range(5):
            kind = self.weighted(kinds)
            saved = self.layers
            try:
                stmt = getattr(self, f"_{kind}")(shape, env, depth, preserve)
                if stmt is None:
                    raise InvalidDrawError(kind)
                new = stmt.run(shape, env, self)
            except InvalidDrawError:
                self.layers = saved
                continue
            if preserve and new[1:] != shape[1:]:
                self.layers = saved
                continue
            self.layers += stmt.layers
            return stmt, new
        self.layers += 1
        return layer(pick(self.draw, _ACTS)), shape

    def _defaults(self, shape, env, depth, preserve):
        return Defaults(self.draw_rules(integer(self.draw, 1, 2), neutral=True), coin(self.draw))

    def draw_rules(self, n: int, neutral: bool) -> list[Rule]:
        """`defaults` rules from the vocabulary: flags and valued options with literal values.

        `neutral` rules keep every shape (a body's `defaults`); others may change shapes or give
        a required option, which every layer drawn after them sees (the file's `defaults`).
        """
        draw = self.draw
        rules: list[Rule] = []
        for _ in range(n):
            kw = self.weighted({k: WEIGHTS.get(k, 1.0) for k, op in OPS.items() if op.options})
            op = OPS[kw]
            entries: list[tuple[str, str | None]] = []
            for _ in range(integer(draw, 1, 3)):
                keys = [k for k, o in op.options.items() if o.valued and option_model(kw, k) is not None]
                safe = [k for k in keys if not neutral or _neutral(kw, k)]
                flags = [f for f in sorted(op.flags) if not neutral or _neutral(kw, op.flags[f][0])]
                if flags and (not safe or coin(draw)):
                    entries.append((pick(draw, flags), None))
                elif safe:
                    key = pick(draw, safe)
                    km = option_model(kw, key)
                    hints = HINTS[kw, key]((8, 8, 8), {}) if (kw, key) in HINTS else ()
                    sane = SANE.get((kw, key), lambda n: True)
                    text = self.value_text({}, km, sane, hints)  # type: ignore[arg-type]
                    entries.append((key, text))
            if entries:
                rules.append((kw, tuple(entries)))
        return rules

    def _concat(self, shape, env, depth, preserve):
        draw = self.draw
        flat = len(shape) == 1
        mode = "flat" if flat else pick(draw, ["keep", "keep", "halve", "pooled"])
        if preserve and mode in ("halve", "pooled"):
            mode = "keep"
        branches: list[tuple[str | None, list[Stmt]]] = []
        for _ in range(integer(draw, 2, 3)):
            label = self.names.maybe("b", 5)
            if mode in ("keep", "flat") and integer(draw, 0, 5) == 0:
                branches.append((label, []))
                continue
            body, out = self.body(shape, env, depth + 1, integer(draw, 1, 2), preserve=not flat)
            if mode == "halve":
                body.insert(integer(draw, 0, len(body)), self._halving())
                self.layers += 1
            elif mode == "pooled" and len(out) == 3:
                body.append(layer(pick(draw, ["global_avgpool", "global_maxpool", "flatten"])))
                self.layers += 1
            branches.append((label, body))
        return Concat(branches, self.names.maybe("n"))

    def _halving(self) -> Stmt:
        """A statement giving ceil(n / 2) from n (whatever came before it kept the size)."""
        draw = self.draw
        out = ("out", str(integer(draw, 1, 12)))
        choice = integer(draw, 0, 3)
        if choice == 0:
            return layer("conv", ("kernel", "3x3"), out, ("stride", "2"), positional=True)
        if choice == 1:
            return layer("maxpool", ("kernel", "3x3"), ("stride", "2"), ("pad", "1"), positional=True)
        if choice == 2:
            return layer("dwconv", ("kernel", "3x3"), ("stride", "2"), ("pad", "same"), positional=True)
        return layer("conv", ("kernel", "1x1"), out, ("stride", "2"), positional=True)

    def _to(self, src: Shape, dst: Shape, env: Env) -> list[Stmt] | None:
        """Statements taking `src` to exactly `dst` (a residual's closing layer, a shortcut's projection)."""
        draw = self.draw
        if len(src) == 1 and len(dst) == 1:
            flags = pick(draw, [(), (("linear", None),), (("bn", None),), (("nobias", None),)])
            return [layer("linear", ("out", self.int_text(env, exact=dst[0])), *flags)]
        if len(src) != 3 or len(dst) != 3:
            return None
        tries = [
            (k, s, p)
            for k in (1, 3)
            for s in ((1, 1), (2, 2), (1, 2), (2, 1), (3, 3))
            for p in ("same", "valid", k // 2)
        ]
        for k, s, p in draw(st.permutations(tries)):
            pads = p if isinstance(p, str) else ((p, p), (p, p))
            sizes = [_window(n, k, ss, 1, pads if isinstance(pads, str) else pads[a], False)
                     for a, (n, ss) in enumerate(zip(src[1:], s, strict=True))]  # fmt: skip
            if tuple(sizes) != dst[1:]:
                continue
            stride = str(s[0]) if s[0] == s[1] else f"{s[0]}x{s[1]}"
            opts: list[tuple[str, str | None]] = [("kernel", f"{k}x{k}")]
            if dst[0] == src[0] and integer(draw, 0, 3) == 0:
                pool = pick(draw, ["maxpool", "avgpool"])
                if p in ("same", "valid") or p <= k // 2:
                    return [layer(pool, *opts, ("stride", stride), ("pad", str(p)), positional=True)]
            flags = pick(draw, [(), (("linear", None),), (("nobias", None), ("bn", None))])
            out = ("out", self.int_text(env, exact=dst[0]))
            return [layer("conv", *opts, out, ("stride", stride), ("pad", str(p)), *flags, positional=True)]
        return None

    def _residual(self, shape, env, depth, preserve):
        draw = self.draw
        free = not preserve and len(shape) == 3 and integer(draw, 0, 2) == 0
        inner = dict(env)
        body, out = self.body(shape, inner, depth + 1, integer(draw, 1, 3), preserve=not free)
        if not free and out != shape:
            closer = self._to(out, shape, env)
            if closer is None:
                return None
            body += closer
            self.layers += len(closer)
            out = shape
        shortcut: list[Stmt] | None = None
        if out != shape:
            shortcut = self._to(shape, out, env)
            if shortcut is None:
                return None
            if integer(draw, 0, 3) == 0:
                shortcut = [If([(self.bool_text(env, True), shortcut)])]
        else:
            choice = integer(draw, 0, 5)
            if choice == 0:
                shortcut = []
            elif choice == 1:
                shortcut = [If([(self.bool_text(env, False), self._to(shape, shape, env) or [])])]
            elif choice == 2:
                shortcut = self._to(shape, shape, env)
        if integer(draw, 0, 4) == 0:
            rate = self.value_text(env, KINDS["in [0, 1)"], hints=(0.1, 0.2))
            body.append(layer("droppath", ("rate", rate), positional=bool(_LITERAL.fullmatch(rate)) and coin(draw)))
        if not _has_work(body):
            return None  # an empty residual body is an error
        if shortcut is not None:
            body.insert(integer(draw, 0, len(body)), Shortcut(shortcut))
        scale = None
        if integer(draw, 0, 2) == 0:
            km = KindModel(("int", "float"), _number, (0.17, 0.5, 1, -0.5, 0.1))
            scale = self.value_text(env, km)
        return Residual(scale, body, self.names.maybe("n"))

    def _gate(self, shape, env, depth, preserve):
        draw = self.draw
        body: list[Stmt] = []
        if len(shape) == 3 and coin(draw):  # squeeze-excitation
            body.append(layer(pick(draw, ["global_avgpool", "global_maxpool"]), ("keepdims", None)))
            squeeze = ("out", self.int_text(env, 1, 8))
            body.append(layer("conv", ("kernel", "1x1"), squeeze, (pick(draw, ["relu", "silu"]), None),
                              positional=True))  # fmt: skip
            out: Shape = (evaluate(squeeze[1], env), 1, 1)  # type: ignore[assignment]
        else:
            body, out = self.body(shape, env, depth + 1, integer(draw, 1, 2), preserve=coin(draw))
            if len(out) != len(shape):
                return None
        if len(shape) == 3 and any(o not in (i, 1) for o, i in zip(out[1:], shape[1:], strict=True)):
            body.append(layer("global_avgpool", ("keepdims", None)))
            out = (out[0], 1, 1)
        if out[0] not in (shape[0], 1) or integer(draw, 0, 3) == 0:
            want = shape[0] if integer(draw, 0, 3) else 1
            squash = pick(draw, ["sigmoid", "hardsigmoid", "tanh", "linear"])
            if len(shape) == 3:
                body.append(layer("conv", ("kernel", "1x1"), ("out", self.int_text(env, exact=want)), (squash, None),
                                  positional=True))  # fmt: skip
            else:
                body.append(layer("linear", ("out", self.int_text(env, exact=want)), (squash, None)))
            self.layers += 1
        elif coin(draw):
            body.append(layer(pick(draw, ["sigmoid", "hardsigmoid"])))
        if not _has_work(body):
            return None  # an empty gate body is an error
        return Gate(body, self.names.maybe("n"))

    def _repeat(self, shape, env, depth, preserve):
        draw = self.draw
        count = self.value_text(env, KINDS["a non-negative integer"], lambda n: n <= 3, (1, 2, 2, 3, 0))
        index = None
        if integer(draw, 0, 2) > 0:
            shadow = [k for k in env if k.isidentifier() and k != "in.channels"]
            index = pick(draw, shadow) if shadow and integer(draw, 0, 5) == 0 else self.names.fresh("i")
        inner = {**env, index: 0} if index else dict(env)
        if self.blocks and coin(draw):
            call = self._call(shape, inner, depth + 1, preserve, reuse_only=True)
            if call is not None:
                return Repeat(count, [call], index, self.names.maybe("n"))
        body, _ = self.body(shape, inner, depth + 1, integer(draw, 1, 2), preserve=preserve)
        if not _has_work(body):
            return None  # an empty repeat body is an error
        return Repeat(count, body, index, self.names.maybe("n"))

    def _if(self, shape, env, depth, preserve):
        draw = self.draw
        arms = []
        for _ in range(integer(draw, 1, 2)):
            cond = self.bool_text(env, coin(draw)) if coin(draw) else self.bool_tree(env, 2)
            body, _ = self.body(shape, env, depth + 1, integer(draw, 0, 2), preserve=preserve)
            arms.append((cond, body))
        orelse = None
        if coin(draw):
            orelse, _ = self.body(shape, env, depth + 1, integer(draw, 0, 2), preserve=preserve)
        return If(arms, orelse)

    # blocks -----------------------------------------------------------------------
    def draw_param(self, prefix: str, types: dict[str, float]) -> Param:
        draw = self.draw
        typ = self.weighted(types)
        if typ == "int":
            value: Value = integer(draw, 1, MAX_CHANNELS) if integer(draw, 0, 3) else integer(draw, 0, 3)
        else:
            value = pick(draw, _PARAM_VALUES[typ])
        return Param(self.names.fresh(prefix), typ, value, None)

    def param_types(self) -> dict[str, float]:
        types = {"int": 6.0, "float": 2.0, "bool": 2.0, "size": 1.0, "list": 0.4}
        if self.strings:
            types["str"] = 1.5
        return types

    def _call(self, shape, env, depth, preserve, reuse_only=False):
        draw = self.draw
        if self.blocks and (reuse_only or coin(draw)):
            name = pick(draw, self.order)
            block = self.blocks[name]
            args = self.args(block, env)
            out = self.run_block(name, [(k, evaluate(v, env)) for k, v in args], shape)
            if preserve and out[1:] != shape[1:]:
                return None
            return Call(name, args, self.names.maybe("n", 4))
        if reuse_only:
            return None
        name = self.names.fresh("blk")
        params = [self.draw_param("p", self.param_types()) for _ in range(integer(draw, 0, 4))]
        for i, param in enumerate(params):  # as in Python, the parameters with a default come last
            if integer(draw, 0, 2) == 0 or any(p.default is not None for p in params[:i]):
                param.default = literal(param.value)
        inner = self.scope_env({**{p.name: p.value for p in params}, "in.channels": shape[0]})
        saved = self.layers
        body, _ = self.body(shape, inner, depth + 1, integer(draw, 1, 4), preserve=preserve)
        if not body:
            return None
        block = Block(name, params, body)
        self.blocks[name] = block
        args = self.args(block, env, first=True)
        try:
            out = self.run_block(name, [(k, evaluate(v, env)) for k, v in args], shape)
            if preserve and out[1:] != shape[1:]:
                raise InvalidDrawError("block changes the size")
        except InvalidDrawError:
            del self.blocks[name]
            self.layers = saved
            return None
        self.order.append(name)
        return Call(name, args, self.names.maybe("n", 4))

    def args(self, block: Block, env: Env, first: bool = False) -> list[tuple[str | None, str]]:
        """Arguments for `block`: at its first use its drawn values (as expressions over `env`), else any."""
        draw = self.draw
        args: list[tuple[str | None, str]] = []
        named = False
        for param in block.params:
            if param.default is not None and coin(draw):
                named = True  # left to the default (at the first use, the value drawn): the later ones by name
                continue
            km = _PARAM_KINDS[param.type]
            if first:
                text = self.value_text(env, km, lambda v, want=param.value: v == want and typeof(v) == typeof(want),
                                       (param.value,))  # fmt: skip
            else:
                hints = (*_PARAM_VALUES.get(param.type, ()), param.value)
                text = self.value_text(env, km, lambda v, t=param.type: typeof(v) == t, hints)
            named = named or integer(draw, 0, 2) == 0
            args.append((param.name if named else None, text))
        if named and len(args) > 1 and coin(draw):
            keyed = [a for a in args if a[0] is not None]
            args = [a for a in args if a[0] is None] + draw(st.permutations(keyed))
        return args


def _has_work(body: list[Stmt]) -> bool:
    """Whether a body holds a statement other than `defaults` (residual, gate and repeat bodies must)."""
    return any(not isinstance(stmt, Defaults | Shortcut) for stmt in body)


def _neutral(kw: str, key: str) -> bool:
    """Whether an option can never change a layer's shape or validity (the only ones a body's defaults set)."""
    kind = OPS[kw].options[key].kind.describe
    return key not in ("kernel", "stride", "pad", "dilation", "groups", "out", "keepdims", "ceil", "start", "end",
                       "mean", "variance") and kind not in ("a positive integer", "N or HxW")  # fmt: skip


def _of_type(typ: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if typeof(value) != typ:
            raise InvalidDrawError(f"not a {typ}: {value!r}")
        return value

    return check


#: The kinds of block and model parameter values (a parameter keeps the type it was drawn with).
_PARAM_KINDS: dict[str, KindModel] = {typ: KindModel((typ,), _of_type(typ), ()) for typ in _PARAM_VALUES}
_PARAM_KINDS["int"] = KindModel(("int",), _of_type("int"), (1, 2, 4, 8))


def _new_value(gen: Gen, param: Param) -> Value:
    """Another value for a model parameter (a variant's, a `--set`)."""
    draw = gen.draw
    if param.name == "input":
        c, h, w = param.value  # type: ignore[misc]
        return (
            pick(draw, [c, c, 1, 3]),
            integer(draw, max(4, h - 2), h + 4),
            integer(draw, max(4, w - 2), w + 4),
        )
    if param.type == "int":
        return integer(draw, max(0, param.value - 3), param.value + 4)  # type: ignore[operator]
    return pick(draw, _PARAM_VALUES[param.type])


def model_env(params: list[Param], variant: dict[str, str] | None, sets: dict[str, str]) -> Env:
    """Model parameter values: `--set` values, else the variant's, else the defaults, in declaration order."""
    env: Env = {}
    for p in params:
        if p.name in sets:
            env[p.name] = evaluate(sets[p.name], {})
        elif variant is not None and p.name in variant:
            env[p.name] = evaluate(variant[p.name], env)
        elif p.default is not None:
            env[p.name] = evaluate(p.default, env)
        else:
            raise InvalidDrawError(f"{p.name} has no value")
    return env


@dataclass
class Model:
    """The top level of a generated spec, which can be run for any model parameter values."""

    params: list[Param]
    stages: list[tuple[str, list[Stmt]]]
    head: list[Stmt]
    auxes: list[tuple[str, str, str | None, list[Stmt]]]

    def run(self, gen: Gen, env: Env) -> tuple[Shape, dict[str, Shape]]:
        shape = env["input"]
        if typeof(shape) != "size" or len(shape) != 3 or min(shape) <= 0:  # type: ignore[arg-type]
            raise InvalidDrawError(f"input {shape!r}")
        shape = bounded(shape)  # type: ignore[arg-type]
        start = shape
        gen.ranks = {}
        scope = gen.scope_env(env)
        stage_out: dict[str, Shape] = {}
        for name, body in self.stages:
            shape = run_body(body, shape, scope, gen)
            stage_out[name] = shape
        outputs = {"main": run_body(self.head, shape, scope, gen)}
        for name, after, _, body in self.auxes:
            outputs[name] = run_body(body, stage_out[after], scope, gen)
        return start, outputs

    def statements(self, gen: Gen) -> Iterator[Stmt]:
        bodies = [b.body for b in gen.blocks.values()] + [b for _, b in self.stages] + [self.head]
        for body in bodies + [b for *_, b in self.auxes]:
            for stmt in body:
                yield from stmt.walk()


def _head(gen: Gen, shape: Shape, env: Env) -> list[Stmt]:
    """A classifier: pool or flatten a map, then flat statements, usually `linear -> classes`."""
    draw = gen.draw
    body: list[Stmt] = []
    if len(shape) == 3:
        choice = integer(draw, 0, 3)
        if choice == 0 and math.prod(shape) <= 512:
            body.append(layer("flatten"))
        elif choice == 1:
            body += [layer(pick(draw, ["global_avgpool", "global_maxpool"]), ("keepdims", None)),
                     layer("flatten")]  # fmt: skip
        else:
            body.append(layer(pick(draw, ["global_avgpool", "global_maxpool"])))
    flat = run_body(body, shape, env, gen)
    more, flat = gen.body(flat, env, 1, integer(draw, 0, 2))
    body += more
    if len(flat) == 1 and integer(draw, 0, 5):
        flags = pick(draw, [(), (), (("bias", None),), (("linear", None),), (("init", "glorot_uniform"),)])
        body.append(layer("linear", ("out", "classes" if integer(draw, 0, 3) else gen.int_text(env)), *flags))
    return body


@st.composite
def valid_specs(
    draw,
    max_layers: int = 30,
    max_depth: int = 3,
    hostile: bool = True,
    aux: bool = True,
    strings: bool = False,
    required: bool = False,
) -> GenSpec:
    """A random spec that checks, with the output shapes the checker must report.

    Args:
        max_layers: layers drawn, repeats and reused blocks counted once.
        max_depth: nesting of blocks, branches and other bodies.
        hostile: sometimes name things like the generated code's own names.
        aux: may add auxiliary heads.
        strings: may write string literals (block and model parameters holding words such as
            `"same"`, conditions comparing them); `tests/test_fmt.py` respaces specs without them.
        required: may declare a model parameter without a default, which every configuration
            then gives with `--set` (`inceptgen.load(gen.text)` alone refuses such a spec).
    """
    gen = Gen(draw, hostile, max_layers, max_depth, strings)
    c, h = integer(draw, 1, 4), integer(draw, 4, 14)
    w = pick(draw, [h, integer(draw, 4, 14)])
    classes = integer(draw, 2, 12)
    params = [Param("classes", "int", classes, str(classes)), Param("input", "size", (c, h, w), literal((c, h, w)))]
    for _ in range(integer(draw, 0, 3)):
        param = gen.draw_param("m", gen.param_types())
        param.default = literal(param.value)
        params.append(param)
    sets: dict[str, str] = {}
    if required and integer(draw, 0, 3) == 0:
        param = gen.draw_param("m", {"int": 3, "float": 1, "bool": 1})
        params.append(param)
        sets[param.name] = literal(param.value)
    params = list(draw(st.permutations(params)))
    env = {p.name: p.value for p in params}
    for _ in range(integer(draw, 0, 2)):  # defaults computed from the parameters before them
        typ = gen.weighted({"int": 3.0, "float": 1.0, "bool": 1.0})
        text = gen.expr(env, typ)
        try:
            value = evaluate(text, env) if text else None
        except InvalidDrawError:
            continue
        if typeof(value) == typ and (typ != "int" or 0 <= value <= MAX_CHANNELS):  # type: ignore[operator]
            param = Param(gen.names.fresh("m"), typ, value, text, computed=True)  # type: ignore[arg-type]
            params.append(param)
            env[param.name] = value
    n_rules = integer(draw, 0, 3)
    gen.file_rules = tuple(gen.draw_rules(n_rules, neutral=integer(draw, 0, 2) > 0))
    # the network, drawn for the default values
    shape: Shape = (c, h, w)
    scope = gen.scope_env(env)
    stages: list[tuple[str, list[Stmt]]] = []
    stage_out: dict[str, Shape] = {}
    for _ in range(integer(draw, 1, 3)):
        if gen.layers >= max_layers and stages:
            break
        body, shape = gen.body(shape, scope, 0, integer(draw, 1, 5))
        if not body:
            body = [layer("identity")]
        name = gen.names.fresh("s")
        stages.append((name, body))
        stage_out[name] = shape
    head = _head(gen, shape, scope) if integer(draw, 0, 4) > 0 else []
    auxes: list[tuple[str, str, str | None, list[Stmt]]] = []
    if aux and len(stages) > 1 and integer(draw, 0, 2) == 0:
        after = pick(draw, [s for s, _ in stages])
        weight = pick(draw, [None, "0.3", "0.5", "0.1 * 2"])
        auxes.append((gen.names.fresh("aux"), after, weight, _head(gen, stage_out[after], scope)))
    model = Model(params, stages, head, auxes)
    base = model_env(params, None, sets)
    try:  # run again from the start: a reused block may now meet a use it did not meet while drawn
        configs = [Config(None, sets, *model.run(gen, base))]
    except InvalidDrawError:
        reject()
    # variants and --set values, each run on the network before it is kept
    variants: list[tuple[str, dict[str, str]]] = []
    for _ in range(integer(draw, 0, 2)):
        values: dict[str, str] = {}
        for param in draw(st.permutations(params))[: integer(draw, 1, 2)]:
            earlier = {p.name: p.value for p in params[: params.index(param)]}
            text = gen.expr(earlier, param.type) if param.name != "input" and integer(draw, 0, 3) == 0 else None
            values[param.name] = text or literal(_new_value(gen, param))
        try:
            config = Config(gen.names.fresh("v"), sets, *model.run(gen, model_env(params, values, sets)))
        except InvalidDrawError:
            continue
        variants.append((config.variant, values))  # type: ignore[arg-type]
        configs.append(config)
    for _ in range(integer(draw, 0, 2)):
        chosen = pick(draw, [None, *(v for v, _ in variants)])
        extra = dict(sets)
        for param in draw(st.permutations(params))[: integer(draw, 1, 2)]:
            extra[param.name] = literal(_new_value(gen, param))
        try:
            variant = dict(variants)[chosen] if chosen else None
            configs.append(Config(chosen, extra, *model.run(gen, model_env(params, variant, extra))))
        except InvalidDrawError:
            continue
    text = _render(gen, model, variants)
    return GenSpec(
        text,
        configs[0].input,
        configs[0].outputs,
        gen.layers,
        len(gen.blocks),
        features(gen, model, variants, configs, text),
        configs,
    )


def _render(gen: Gen, model: Model, variants: list[tuple[str, dict[str, str]]]) -> str:
    draw = gen.draw
    params = [p.name if p.default is None else f"{p.name} = {p.default}" for p in model.params]
    name = gen.names.fresh("net")
    if integer(draw, 0, 3) == 0:
        head = f"model {name}(\n" + "".join(f"  {p},\n" for p in params) + ")"
    else:
        head = f"model {name}({', '.join(params)})"
    ordered: list[list[str]] = [[head]]  # the model, the stages and the head, in this order
    ordered += [_block_lines(f"stage {s} {{", body, "  ", "") for s, body in model.stages]
    if model.head:
        ordered.append(_block_lines("head {", model.head, "  ", ""))
    rules = list(gen.file_rules)
    cut = integer(draw, 0, len(rules))
    defaults = [part for part in (rules[:cut], rules[cut:]) if part]
    rule_items = [[_defaults_item(gen, part)] for part in defaults]  # in this order
    free: list[list[str]] = [
        [f"variant {v}({', '.join(f'{k} = {t}' for k, t in values.items())})"] for v, values in variants
    ]
    free += [gen.blocks[b].render() for b in gen.order]
    for aux_name, after, weight, body in model.auxes:
        w_text = f" weight {weight}" if weight else ""
        free.append(_block_lines(f"aux {aux_name} after {after}{w_text} {{", body, "  ", ""))
    if integer(draw, 0, 3) == 0:  # any order, the stages (then the head) and the defaults keeping theirs
        items = [("o", i) for i in range(len(ordered))] + [("d", i) for i in range(len(rule_items))]
        items += [("f", i) for i in range(len(free))]
        items = list(draw(st.permutations(items)))
        for group in ("o", "d"):
            slots = [k for k, (g, _) in enumerate(items) if g == group]
            for slot, index in zip(slots, sorted(items[k][1] for k in slots), strict=True):
                items[slot] = (group, index)
        table = {"o": ordered, "d": rule_items, "f": free}
        chunks = [table[g][i] for g, i in items]
    else:
        chunks = [ordered[0], *free[: len(variants)], *rule_items, *free[len(variants) :], *ordered[1:]]
        if model.auxes:  # the aux heads last, as specs usually have them
            chunks = [
                ordered[0],
                *free[: len(variants)],
                *rule_items,
                *free[len(variants) : -1],
                *ordered[1:],
                free[-1],
            ]
    text = "\n\n".join("\n".join(chunk) for chunk in chunks) + "\n"
    if integer(draw, 0, 9) == 0:
        text = "# a generated spec\n" + text.replace("\n\n", "\n  # comment\n")
    return text


def _defaults_item(gen: Gen, rules: list[Rule]) -> str:
    comma = coin(gen.draw)
    return "defaults {\n" + "".join(f"  {render_rule(r, comma)}\n" for r in rules) + "}"


_TEXT_FEATURES = {
    "expr:ceil": r"\bceil\(", "expr:floor": r"\bfloor\(", "expr:make_divisible": r"\bmake_divisible\(",
    "expr:min": r"\bmin\(", "expr:max": r"\bmax\(", "expr:round": r"\bround\(", "expr:int": r"\bint\(",
    "expr:conditional": r"\bif\b[^{}\n]*\belse\b", "expr:and": r"\band\b", "expr:or": r"\bor\b",
    "expr:not": r"\bnot\b", "expr:compare": r"==|!=|<=|>=|(?<!-)>|<", "expr:mod": r"%", "expr:floordiv": r"//",
    "expr:div": r"[^/]/[^/]", "expr:in.channels": r"\bin\.channels\b", "expr:string": r'"', "expr:list": r"\[",
    "expr:size": r"\b\d+x\d+", "expr:bool": r"\b(true|false)\b", "comment": r"#",
}  # fmt: skip


def features(gen: Gen, model: Model, variants: list, configs: list[Config], text: str) -> set[str]:
    """What a generated spec holds: layer kinds, options, flags, constructs, parameter types, expressions."""
    found = {name for name, pattern in _TEXT_FEATURES.items() if re.search(pattern, text)}
    calls: dict[str, int] = {}
    for stmt in model.statements(gen):
        found.add(f"stmt:{type(stmt).__name__.lower()}")
        if isinstance(stmt, Layer):
            found.add(f"layer:{stmt.op}")
            found.update(f"flag:{stmt.op}.{k}" if t is None else f"option:{stmt.op}.{k}" for k, t in stmt.opts)
            found.update(["layer:positional"] if stmt.positional else [])
        elif isinstance(stmt, Concat):
            found.update(["concat:empty branch"] if any(not b for _, b in stmt.branches) else [])
            found.update(["concat:labelled branch"] if any(label for label, _ in stmt.branches) else [])
        elif isinstance(stmt, Residual):
            found.update(["residual:scale"] if stmt.scale is not None else [])
            shortcut = next((s for s in stmt.body if isinstance(s, Shortcut)), None)
            if shortcut is not None:
                found.add("shortcut:empty" if not shortcut.body else "shortcut:" + type(shortcut.body[0]).__name__)
        elif isinstance(stmt, Repeat):
            found.update(["repeat:index"] if stmt.index else [])
            found.update(["repeat:zero"] if stmt.count == "0" else [])
        elif isinstance(stmt, If):
            found.update(["if:else if"] if len(stmt.arms) > 1 else [])
            found.update(["if:else"] if stmt.orelse is not None else [])
        elif isinstance(stmt, Call):
            calls[stmt.block] = calls.get(stmt.block, 0) + 1
    found.update(["block:reused"] if any(n > 1 for n in calls.values()) else [])
    found.update(f"block param:{p.type}" for b in gen.blocks.values() for p in b.params)
    found.update(f"model param:{p.type}" for p in model.params if p.name not in ("input", "classes"))
    found.update(["model param:computed"] if any(p.computed for p in model.params) else [])
    found.update(["model param:required"] if any(p.default is None for p in model.params) else [])
    found.update(["file defaults"] if gen.file_rules else [])
    found.update(["variant"] if variants else [])
    found.update(["--set"] if any(c.sets for c in configs) else [])
    found.update(["aux"] if model.auxes else [])
    found.update(["head"] if model.head else [])
    return found


# --------------------------------------------------------------------------- mutations

#: Tokens: a whole comment, words, numbers and sizes, strings, operators, single punctuation.
_TOKEN = re.compile(r'#[^\n]*|"[^"\n]*"|[A-Za-z_]\w*|\d+(?:\.\d+)?(?:x\d+)*|->|//|\S')


def tokens(text: str) -> list[tuple[int, int]]:
    """(start, end) of every token of `text`."""
    return [m.span() for m in _TOKEN.finditer(text)]


@st.composite
def mutations(draw, text: str, spans: list[tuple[int, int]] | None = None) -> tuple[str, bytes]:
    """One to three edits of `text`; returns (description, mutated bytes)."""
    data = text.encode()
    spans = spans if spans is not None else tokens(text)
    done: list[str] = []
    for _ in range(integer(draw, 1, 3)):
        kind = pick(draw, ["delete", "duplicate", "swap", "replace", "bytes", "truncate", "bytes", "delete"])
        current = data.decode("utf-8", errors="surrogateescape")
        spans = tokens(current) if done else spans
        if not spans:
            kind = "bytes"
        if kind in ("delete", "duplicate", "replace", "swap"):
            i = integer(draw, 0, len(spans) - 1)
            a, b = spans[i]
            piece = current[a:b]
            if kind == "delete":
                current = current[:a] + current[b:]
            elif kind == "duplicate":
                sep = pick(draw, [" ", "", "\n", ";"])
                current = current[:b] + sep + piece + current[b:]
            elif kind == "replace":
                c, d = spans[integer(draw, 0, len(spans) - 1)]
                current = current[:a] + current[c:d] + current[b:]
            else:
                j = integer(draw, 0, len(spans) - 1)
                (a, b), (c, d) = sorted([spans[i], spans[j]])
                if b <= c:
                    current = current[:a] + current[c:d] + current[b:c] + current[a:b] + current[d:]
            data = current.encode("utf-8", errors="surrogateescape")
            done.append(f"{kind} {piece!r}")
        elif kind == "bytes":
            at = integer(draw, 0, len(data))
            junk = draw(
                st.one_of(
                    st.binary(min_size=1, max_size=4),
                    st.sampled_from(
                        [
                            b"{",
                            b"}",
                            b"(",
                            b")",
                            b";",
                            b"\n",
                            b"->",
                            b"x",
                            b"0",
                            b"\xef\xbb\xbf",
                            b"\r",
                            b"\t",
                            b"#",
                            b'"',
                            b"\x00",
                            b"\xff",
                            b"\xc3",
                            b"1e999",
                            b"99999999999999999999",
                            "é".encode(),
                            b"in.channels",
                            b"repeat 999 {",
                        ]
                    ),  # fmt: skip
                )
            )
            data = data[:at] + junk + data[at:]
            done.append(f"insert {junk!r} at {at}")
        else:
            at = integer(draw, 0, len(data))
            data = data[:at]
            done.append(f"truncate at {at}")
    return "; ".join(done), data
