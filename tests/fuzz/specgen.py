"""Hypothesis strategies for random *valid* `.incept` specs, and mutations of real ones.

`valid_specs()` builds a spec statement by statement while tracking the concrete shape
(channels, height, width) that flows through it, so what it draws checks by construction:
every layer is chosen to fit the shape it receives, concat branches follow one spatial
plan (keep the size, or halve it once), residual bodies keep the shape and end with
`conv 1x1 -> in.channels`, and a block used again (with other arguments, at another
size) is re-run on its new input before the use is written. `GenSpec.outputs` holds
the output shapes the checker must find.

The pieces are a small mirror of the language: each statement can `run(shape, env)`
(raising `InvalidDrawError` when it does not fit) and `render()` its text. Expressions are
written in the spec's own syntax, which for the operators used here is Python's, and
are evaluated by Python with `round` as the spec's half-up rounding.

`mutations()` draws token-level edits (delete, duplicate, swap, replace), random
bytes and truncations of a given text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import strategies as st

from inceptgen.check import window
from inceptgen.names import RESERVED_MEMBERS, check_identifier
from inceptgen.ops import OPS as LAYER_OPS

Shape = tuple[int, ...]
Env = dict[str, float]

#: Largest channel count drawn; keeps models tiny (parity builds both frameworks).
MAX_CHANNELS = 24

# Emitter bugs this generator found, all fixed (docs/robustness.md lists them): a name
# read inside a repeat nested in a repeat; `in.channels` inside a repeat body (PyTorch read
# each copy's input); generated names clashing with the module's own (`model s` with
# `stage s`, a model parameter `input_shape`); a stage ending with `flatten` before a
# linear in the next stage; ceil mode over asymmetric padding, and average pooling that
# excludes asymmetric padding (PyTorch).

#: Top-level `defaults` bodies a spec may start with.
FILE_DEFAULTS = [
    "",
    "conv: bn, relu",
    "conv: relu\n  avgpool: count_pad",
    "conv: nobias, bn, relu, eps 1e-3, momentum 0.99",
    "linear: bias",
]

#: Largest channel count a block may reach when used again with other arguments.
MAX_REUSED_CHANNELS = 64


class InvalidDrawError(Exception):
    """A drawn piece does not fit its input; the generator draws another."""


# ------------------------------------------------------------------------------- names

#: Identifiers that are legal in a spec but collide with names generated code is likely to
#: use (modules, builtins, helpers, locals): the emitters must keep them apart.
_HOSTILE = """x y inputs outputs torch nn F math keras layers ops tf np self_ cls model params
    shape int max min round float len sum range print object Model Sequential build_model
    ConvNormAct pad_same ACTIVATIONS annotations Tensor i j k n h w c out result stem
    head_ super_ features classes_ self_x forward_ Any typing input_shape""".split()


def _usable(name: str, *, layer: bool = False) -> bool:
    try:
        check_identifier(name, None, "fuzz")
    except Exception:  # noqa: BLE001 - anything check_identifier refuses is unusable
        return False
    return (
        name not in LAYER_OPS and name not in ("input", "classes", "head") and not (layer and name in RESERVED_MEMBERS)
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
        if self.hostile and self.draw(st.integers(0, 3)) == 0:
            free = [n for n in HOSTILE_NAMES if n not in self.used]
            if free:
                name = self.draw(st.sampled_from(free))
                self.used.add(name)
                return name
        self.count += 1
        name = f"{prefix}{self.count}"
        self.used.add(name)
        return name


# ------------------------------------------------------------------------- expressions


def _half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def evaluate(text: str, env: Env) -> float:
    """Value of a generated expression (spec syntax = Python syntax for what is generated)."""
    # Names become `v_NAME`, so that a parameter called `max` or `round` stays a value.
    names = {"v_" + k.replace(".", "_"): v for k, v in env.items()}
    code = _NAME.sub(lambda m: "v_" + m.group(1), text.replace("in.channels", "in_channels"))
    return eval(code, {"__builtins__": {}, "max": max, "min": min, "round": _half_up, "int": int}, names)  # noqa: S307


#: A name that is not a function call.
_NAME = re.compile(r"\b([A-Za-z_]\w*)\b(?!\s*\()")


def _tree(draw: Callable, ints: list[str], floats: list[str], depth: int) -> str:
    if depth <= 0 or draw(st.integers(0, 2)) == 0:
        if ints and draw(st.booleans()):
            return draw(st.sampled_from(ints))
        return str(draw(st.integers(1, 16)))
    a = _tree(draw, ints, floats, depth - 1)
    b = _tree(draw, ints, floats, depth - 1)
    forms = [
        f"{a} + {b}",
        f"({a}) * ({b})",
        f"({a} + {b}) // 2",
        f"({a}) - ({b})",
        f"max({a}, {b})",
        f"min({a}, {b}, 16)",
        f"round(({a}) * 0.5)",
        f"int(({a}) / 2)",
        f"({a}) % 7 + 1",
        f"-({a}) + 2 * ({b})",
    ]
    if floats:
        forms.append(f"round(({a}) * {draw(st.sampled_from(floats))})")
    return draw(st.sampled_from(forms))


def int_expr(draw: Callable, env: Env, lo: int = 1, hi: int = MAX_CHANNELS) -> str:
    """An expression over the names in `env` whose value is an integer in [lo, hi]."""
    ints = [k for k, v in env.items() if isinstance(v, int)]
    floats = [k for k, v in env.items() if isinstance(v, float)]
    for _ in range(3):
        text = _tree(draw, ints, floats, draw(st.integers(0, 2)))
        try:
            value = evaluate(text, env)
        except ZeroDivisionError:
            continue
        if isinstance(value, int) and lo <= value <= hi:
            return text
    return str(draw(st.integers(lo, hi)))


def _int(text: str, env: Env, what: str) -> int:
    try:
        value = evaluate(text, env)
    except (ZeroDivisionError, NameError, TypeError) as exc:
        raise InvalidDrawError(f"{what}: {exc}") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value <= 0:
        raise InvalidDrawError(f"{what} = {value!r}")
    return value


# -------------------------------------------------------------------------- statements


def _pads(pad: object) -> tuple[object, object]:
    """Per axis: "same", "valid" or (before, after)."""
    if pad in ("same", "valid"):
        return pad, pad
    if isinstance(pad, int):
        return (pad, pad), (pad, pad)
    if len(pad) == 2:  # type: ignore[arg-type]
        return (pad[0], pad[0]), (pad[1], pad[1])  # type: ignore[index]
    t, b, l, r = pad  # type: ignore[misc]  # noqa: E741
    return (t, b), (l, r)


def _pad_text(pad: object) -> str:
    if isinstance(pad, str):
        return pad
    if isinstance(pad, int):
        return str(pad)
    return "x".join(map(str, pad))  # type: ignore[arg-type]


def _spatial(shape: Shape, k, s, d, pad, ceil: bool) -> tuple[int, int]:
    if len(shape) != 3:
        raise InvalidDrawError("needs a feature map")
    out = []
    for n, kk, ss, dd, pp in zip(shape[1:], k, s, d, _pads(pad), strict=True):
        o, _, _ = window(n, kk, ss, dd, pp, ceil)
        if o <= 0:
            raise InvalidDrawError("window larger than the padded input")
        out.append(o)
    return out[0], out[1]


class Stmt:
    layers = 1

    def run(self, shape: Shape, env: Env, gen: Gen) -> Shape:
        raise NotImplementedError

    def render(self, indent: str) -> list[str]:
        raise NotImplementedError


def _as(name: str | None) -> str:
    return f" as {name}" if name else ""


@dataclass
class Conv(Stmt):
    kernel: tuple[int, int]
    out: str
    stride: tuple[int, int] = (1, 1)
    pad: object = "same"
    dilation: int = 1
    groups: int = 1
    options: str = ""
    kernel_option: str = ""  # "option": `kernel 3x3`; "int": `conv 3 -> ...`
    name: str | None = None

    def run(self, shape, env, gen):
        if len(shape) != 3:
            raise InvalidDrawError("conv needs a map")
        cout = _int(self.out, env, "channels")
        if cout > MAX_REUSED_CHANNELS:
            raise InvalidDrawError("too wide")
        if shape[0] % self.groups or cout % self.groups:
            raise InvalidDrawError("groups")
        h, w = _spatial(shape, self.kernel, self.stride, (self.dilation,) * 2, self.pad, False)
        return cout, h, w

    def render(self, indent):
        square = self.kernel[0] == self.kernel[1]
        k = str(self.kernel[0]) if square and self.kernel_option == "int" else "x".join(map(str, self.kernel))
        head = f"conv -> {self.out} kernel {k}" if self.kernel_option == "option" else f"conv {k} -> {self.out}"
        parts = [head]
        if self.stride != (1, 1):
            parts.append(
                "stride "
                + (str(self.stride[0]) if self.stride[0] == self.stride[1] else "x".join(map(str, self.stride)))
            )
        if self.pad != "same":
            parts.append(f"pad {_pad_text(self.pad)}")
        if self.dilation != 1:
            parts.append(f"dilation {self.dilation}")
        if self.groups != 1:
            parts.append(f"groups {self.groups}")
        if self.options:
            parts.append(self.options)
        return [indent + " ".join(parts) + _as(self.name)]


@dataclass
class Pool(Stmt):
    kind: str
    kernel: tuple[int, int]
    stride: tuple[int, int] | None = None
    pad: object = "valid"
    ceil: bool = False
    count_pad: bool | None = None
    name: str | None = None

    def run(self, shape, env, gen):
        stride = self.stride or self.kernel
        if isinstance(self.pad, tuple | int) and any(
            p > k // 2 for pp, k in zip(_pads(self.pad), self.kernel, strict=True) for p in pp
        ):
            raise InvalidDrawError("pool pad more than half the kernel")
        h, w = _spatial(shape, self.kernel, stride, (1, 1), self.pad, self.ceil)
        return shape[0], h, w

    def render(self, indent):
        parts = [f"{self.kind}pool {'x'.join(map(str, self.kernel))}"]
        if self.stride is not None:
            parts.append("stride " + "x".join(map(str, self.stride)))
        if self.pad != "valid":
            parts.append(f"pad {_pad_text(self.pad)}")
        if self.ceil:
            parts.append("ceil")
        if self.count_pad is not None:
            parts.append("count_pad" if self.count_pad else "exclude_pad")
        return [indent + " ".join(parts) + _as(self.name)]


@dataclass
class Simple(Stmt):
    """relu, identity, dropout 0.2, ... (shape unchanged)."""

    text: str
    name: str | None = None

    def run(self, shape, env, gen):
        return shape

    def render(self, indent):
        return [indent + self.text + _as(self.name)]


@dataclass
class Flat(Stmt):
    """global_avgpool, global_maxpool, flatten, linear -> N (the head's statements)."""

    op: str
    out: str | None = None
    options: str = ""

    def run(self, shape, env, gen):
        if self.op in ("global_avgpool", "global_maxpool"):
            if len(shape) != 3:
                raise InvalidDrawError("global pool needs a map")
            return (shape[0],)
        if self.op == "flatten":
            return (math.prod(shape),)
        if len(shape) != 1:
            raise InvalidDrawError("linear needs a flat input")
        return (_int(self.out or "1", env, "features"),)

    def render(self, indent):
        text = self.op if self.out is None else f"{self.op} -> {self.out}"
        return [indent + (f"{text} {self.options}" if self.options else text)]


@dataclass
class Concat(Stmt):
    branches: list[tuple[str | None, list[Stmt]]]
    name: str | None = None
    layers = 0

    def run(self, shape, env, gen):
        outs = [gen.run_body(body, shape, env) for _, body in self.branches]
        if any(len(o) != 3 for o in outs) or len({o[1:] for o in outs}) > 1:
            raise InvalidDrawError("branches differ")
        return sum(o[0] for o in outs), *outs[0][1:]

    def render(self, indent):
        lines = [f"{indent}concat{_as(self.name)} {{"]
        for label, body in self.branches:
            head = f"{indent}  branch {label} {{" if label else f"{indent}  branch {{"
            lines += _block_lines(head, body, indent + "    ", indent + "  ")
        return [*lines, f"{indent}}}"]


@dataclass
class Residual(Stmt):
    scale: str | None
    body: list[Stmt]
    name: str | None = None
    layers = 0

    def run(self, shape, env, gen):
        if self.scale is not None:
            try:
                evaluate(self.scale, env)
            except (NameError, ZeroDivisionError) as exc:
                raise InvalidDrawError(str(exc)) from None
        if gen.run_body(self.body, shape, env) != shape:
            raise InvalidDrawError("residual body changes the shape")
        return shape

    def render(self, indent):
        scale = f" {self.scale}" if self.scale is not None else ""
        return _block_lines(f"{indent}residual{scale}{_as(self.name)} {{", self.body, indent + "  ", indent)


@dataclass
class Repeat(Stmt):
    count: str
    body: list[Stmt]
    name: str | None = None
    layers = 0

    def run(self, shape, env, gen):
        for _ in range(_int(self.count, env, "repeat count")):
            shape = gen.run_body(self.body, shape, env)
        return shape

    def render(self, indent):
        return _block_lines(f"{indent}repeat {self.count}{_as(self.name)} {{", self.body, indent + "  ", indent)


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


@dataclass
class Defaults(Stmt):
    """A block-local `defaults { ... }` with shape-neutral options only."""

    text: str
    layers = 0

    def run(self, shape, env, gen):
        return shape

    def render(self, indent):
        return [f"{indent}defaults {{ {self.text} }}"]


def _block_lines(head: str, body: list[Stmt], inner: str, indent: str) -> list[str]:
    if not body:
        return [head + " }"]
    if len(body) <= 3 and all(isinstance(s, Simple | Conv | Pool | Call) for s in body):
        one_line = "; ".join(line.strip() for s in body for line in s.render(""))
        if len(one_line) < 100:
            return [f"{head} {one_line} }}"]
    lines = [head]
    for stmt in body:
        lines += stmt.render(inner)
    return [*lines, f"{indent}}}"]


@dataclass
class Block:
    name: str
    params: list[tuple[str, object | None]]  # (name, default or None)
    body: list[Stmt]

    def render(self) -> list[str]:
        params = ", ".join(p if d is None else f"{p} = {d}" for p, d in self.params)
        return _block_lines(f"block {self.name}({params}) {{", self.body, "  ", "")


# ------------------------------------------------------------------------------- model


@dataclass
class GenSpec:
    """A generated spec, its text and what the checker must find."""

    text: str
    input: Shape
    outputs: dict[str, Shape]
    layers: int
    blocks: int = 0
    features: set[str] = field(default_factory=set)


@dataclass
class Budget:
    layers: int
    depth: int


_CONV_FLAGS = ["", "relu", "bn", "bn relu", "nobias bn relu", "linear", "relu6", "silu", "tanh", "sigmoid",
               "noscale relu", "eps 0.001 momentum 0.9", "bn nobias", "eps 1e-5 relu", "bias nobn"]  # fmt: skip
_ACTS = ["relu", "relu6", "silu", "sigmoid", "tanh", "identity"]


class Gen:
    """Draws statements for a concrete input shape; one instance per generated spec."""

    def __init__(self, draw: Callable, hostile: bool, max_layers: int, max_depth: int) -> None:
        self.draw = draw
        self.names = Names(draw, hostile)
        self.blocks: dict[str, Block] = {}
        self.order: list[str] = []
        self.budget = Budget(max_layers, max_depth)
        self.features: set[str] = set()
        self.layers = 0

    # running --------------------------------------------------------------------
    def run_body(self, body: list[Stmt], shape: Shape, env: Env) -> Shape:
        for stmt in body:
            shape = stmt.run(shape, env, self)
        return shape

    def run_block(self, name: str, args: list[tuple[str | None, object]], shape: Shape) -> Shape:
        block = self.blocks[name]
        env: Env = {}
        positional = [v for k, v in args if k is None]
        for (pname, _), value in zip(block.params, positional, strict=False):
            env[pname] = value
        env.update({k: v for k, v in args if k is not None})
        for pname, default in block.params:
            env.setdefault(pname, default)  # type: ignore[arg-type]
        env["in.channels"] = shape[0]
        return self.run_body(block.body, shape, env)

    # drawing --------------------------------------------------------------------
    def body(self, shape: Shape, env: Env, depth: int, n: int, *, preserve: bool = False) -> tuple[list[Stmt], Shape]:
        """Up to `n` statements for input `shape`; `preserve`: keep the height and width."""
        out: list[Stmt] = []
        for _ in range(n):
            if self.layers >= self.budget.layers:
                break
            stmt, new = self.statement(shape, env, depth, preserve)
            out.append(stmt)
            shape = new
        return out, shape

    def statement(self, shape: Shape, env: Env, depth: int, preserve: bool) -> tuple[Stmt, Shape]:
        draw = self.draw
        kinds = ["conv"] * 4 + ["pool"] * 2 + ["simple"]
        if depth < self.budget.depth:
            kinds += ["concat", "concat", "residual", "repeat", "call", "call"]
        if "in.channels" in env:
            kinds.append("defaults")
        for _ in range(4):
            kind = draw(st.sampled_from(kinds))
            stmt = getattr(self, f"_{kind}")(shape, env, depth, preserve)
            if stmt is None:
                continue
            try:
                new = stmt.run(shape, env, self)
            except InvalidDrawError:
                continue
            if preserve and new[1:] != shape[1:]:
                continue
            self.layers += stmt.layers
            self.features.add(kind)
            return stmt, new
        self.layers += 1
        return Simple(draw(st.sampled_from(_ACTS))), shape

    def _simple(self, shape, env, depth, preserve):
        draw = self.draw
        choice = draw(st.integers(0, 3))
        if choice == 0:
            rate = draw(st.sampled_from(["0.0", "0.1", "0.25", "0.5"]))
            return Simple(f"dropout rate {rate}" if draw(st.booleans()) else f"dropout {rate}")
        name = self.names.fresh("n") if draw(st.integers(0, 4)) == 0 else None
        return Simple(draw(st.sampled_from(_ACTS)), name)

    def _channels(self, env: Env) -> str:
        return int_expr(self.draw, env)

    def _conv(self, shape, env, depth, preserve):
        draw = self.draw
        kernel = draw(st.sampled_from([(1, 1), (3, 3), (1, 3), (3, 1), (5, 5), (2, 2), (1, 5), (3, 3)]))
        stride = (1, 1) if preserve else draw(st.sampled_from([(1, 1), (1, 1), (2, 2), (1, 2)]))
        pads: list[object] = ["same", "same"]
        if not preserve:
            pads += ["valid", draw(st.integers(0, 2)), (draw(st.integers(0, 2)), draw(st.integers(0, 2)))]
            pads.append(tuple(draw(st.integers(0, 2)) for _ in range(4)))
        elif kernel[0] % 2 and kernel[1] % 2:
            pads.append((kernel[0] // 2, kernel[1] // 2) if kernel[0] != kernel[1] else kernel[0] // 2)
        pad = draw(st.sampled_from(pads))
        dilation = 2 if kernel != (1, 1) and stride == (1, 1) and draw(st.integers(0, 5)) == 0 else 1
        out = self._channels(env)
        groups = 1
        if draw(st.integers(0, 5)) == 0:
            cout = _int(out, env, "channels")
            common = [g for g in (2, 3, 4) if shape[0] % g == 0 and cout % g == 0]
            groups = draw(st.sampled_from(common)) if common else 1
        options = draw(st.sampled_from(_CONV_FLAGS))
        name = self.names.fresh("n") if draw(st.integers(0, 5)) == 0 else None
        if dilation != 1:
            self.features.add("dilation")
        if groups != 1:
            self.features.add("groups")
        form = draw(st.sampled_from(["", "", "", "", "option", "int"]))
        return Conv(kernel, out, stride, pad, dilation, groups, options, form, name)

    def _pool(self, shape, env, depth, preserve):
        draw = self.draw
        kind = draw(st.sampled_from(["max", "avg"]))
        kernel = draw(st.sampled_from([(3, 3), (2, 2), (3, 3), (1, 3), (5, 5)]))
        if preserve:
            if kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
                kernel = (3, 3)
            stride = (1, 1)
            pad = draw(st.sampled_from(["same", (kernel[0] // 2, kernel[1] // 2)]))
            pad = kernel[0] // 2 if isinstance(pad, tuple) and pad[0] == pad[1] else pad
        else:
            stride = draw(st.sampled_from([None, (1, 1), (2, 2), (2, 1)]))
            half = (kernel[0] // 2, kernel[1] // 2)
            pad = draw(st.sampled_from(["valid", "same", half, (0, half[1]), (half[0], 0, 0, half[1]), min(half)]))
        ceil = kind == "max" and pad != "same" and not preserve and draw(st.integers(0, 2)) == 0
        count_pad = draw(st.sampled_from([None, True, False])) if kind == "avg" else None
        if ceil:
            self.features.add("ceil")
        self.features.add(f"{kind}pool pad {type(pad).__name__}")
        return Pool(kind, kernel, stride, pad, ceil, count_pad)

    def _concat(self, shape, env, depth, preserve):
        draw = self.draw
        halve = not preserve and draw(st.booleans())
        n = draw(st.integers(2, 4))
        branches: list[tuple[str | None, list[Stmt]]] = []
        for _ in range(n):
            label = self.names.fresh("b") if draw(st.integers(0, 4)) == 0 else None
            if not halve and draw(st.integers(0, 6)) == 0:
                branches.append((label, []))
                continue
            body, out = self.body(shape, env, depth + 1, draw(st.integers(1, 3)), preserve=True)
            if halve:
                down = self._halving(out)
                position = draw(st.integers(0, len(body)))
                body.insert(position, down)
                self.layers += 1
            branches.append((label, body))
        self.features.add("concat halve" if halve else "concat")
        return Concat(branches, self.names.fresh("n") if draw(st.integers(0, 5)) == 0 else None)

    def _halving(self, shape: Shape) -> Stmt:
        """A statement giving ceil(n / 2) from n (whatever came before it kept the size)."""
        draw = self.draw
        choice = draw(st.integers(0, 2))
        if choice == 0:
            return Conv(
                (3, 3), str(draw(st.integers(1, 12))), (2, 2), "same", options=draw(st.sampled_from(_CONV_FLAGS))
            )
        if choice == 1:
            return Pool("max", (3, 3), (2, 2), 1)
        return Conv((1, 1), str(draw(st.integers(1, 12))), (2, 2), "same")

    def _residual(self, shape, env, depth, preserve):
        draw = self.draw
        if len(shape) != 3:
            return None
        body, _ = self.body(shape, env, depth + 1, draw(st.integers(0, 3)), preserve=True)
        target = "in.channels" if "in.channels" in env else str(shape[0])
        if "in.channels" in env and draw(st.integers(0, 4)) == 0:
            target = "in.channels * 1"
        body.append(Conv((1, 1), target, options=draw(st.sampled_from(["linear", "linear nobias", "", "bn"]))))
        self.layers += 1
        floats = [k for k, v in env.items() if isinstance(v, float)]
        scale = draw(st.sampled_from([None, "0.17", "0.5", "1", "0.1 * 2", *floats]))
        return Residual(scale, body, self.names.fresh("n") if draw(st.integers(0, 5)) == 0 else None)

    def _repeat(self, shape, env, depth, preserve):
        draw = self.draw
        ints = [k for k, v in env.items() if isinstance(v, int) and 1 <= v <= 3 and k != "in.channels"]
        count = draw(st.sampled_from(["1", "2", "3", *ints]))
        if self.blocks and draw(st.booleans()):
            call = self._call(shape, env, depth + 1, preserve=True, reuse_only=True)
            if call is not None:
                return Repeat(count, [call], self.names.fresh("n") if draw(st.integers(0, 5)) == 0 else None)
        body, _ = self.body(shape, env, depth + 1, draw(st.integers(1, 2)), preserve=True)
        if not any(not isinstance(stmt, Defaults) for stmt in body):
            return None  # an empty repeat body is an error
        return Repeat(count, body, self.names.fresh("n") if draw(st.integers(0, 5)) == 0 else None)

    def _defaults(self, shape, env, depth, preserve):
        rule = self.draw(st.sampled_from(["conv: bn", "conv: relu", "conv: nobias, bn", "conv: eps 0.01 momentum 0.9",
                                          "avgpool: count_pad", "linear: relu", "conv: silu"]))  # fmt: skip
        return Defaults(rule)

    def _call(self, shape, env, depth, preserve, reuse_only=False):
        draw = self.draw
        if len(shape) != 3:
            return None
        if self.blocks and (reuse_only or draw(st.booleans())):
            name = draw(st.sampled_from(self.order))
            block = self.blocks[name]
            args = self._args(block, env)
            try:
                out = self.run_block(name, [(k, evaluate(v, env)) for k, v in args], shape)
            except InvalidDrawError:
                return None
            if preserve and out[1:] != shape[1:]:
                return None
            self.features.add("block reuse")
            return Call(name, args, self.names.fresh("n") if draw(st.integers(0, 4)) == 0 else None)
        if reuse_only:
            return None
        # a new block, drawn for this input
        name = self.names.fresh("blk")
        nparams = draw(st.integers(0, 3))
        params: list[tuple[str, object | None]] = []
        values: Env = {}
        for _ in range(nparams):
            pname = self.names.fresh("p")
            is_float = draw(st.integers(0, 4)) == 0
            value: float = draw(st.sampled_from([0.1, 0.2, 0.5])) if is_float else draw(st.integers(1, MAX_CHANNELS))
            default = value if draw(st.integers(0, 2)) == 0 else None
            if default is None and any(d is not None for _, d in params):
                default = value  # as in Python, required parameters come first
            params.append((pname, default))
            values[pname] = value
        inner_env: Env = {**values, "in.channels": shape[0]}
        saved = self.layers
        body, _ = self.body(shape, inner_env, depth + 1, draw(st.integers(1, 4)), preserve=preserve)
        block = Block(name, params, body)
        self.blocks[name] = block
        args = self._args(block, env, values)
        try:
            out = self.run_block(name, [(k, evaluate(v, env)) for k, v in args], shape)
            if preserve and out[1:] != shape[1:]:
                raise InvalidDrawError("block changes the size")
        except InvalidDrawError:
            del self.blocks[name]
            self.layers = saved
            return None
        self.order.append(name)
        self.features.add("block")
        return Call(name, args, self.names.fresh("n") if draw(st.integers(0, 4)) == 0 else None)

    def _args(self, block: Block, env: Env, values: Env | None = None) -> list[tuple[str | None, str]]:
        """Arguments for `block`: the drawn `values` as literals, or expressions over `env`."""
        draw = self.draw
        args: list[tuple[str | None, str]] = []
        named = False
        for pname, default in block.params:
            if values is not None and pname in values and default is not None and draw(st.booleans()):
                named = True  # left to the default (which equals the value): later ones by name
                continue
            if values is not None and pname in values:
                text = repr(values[pname])
            elif isinstance(default, float):
                text = draw(st.sampled_from(["0.1", "0.3", "1.0"]))
            else:
                text = int_expr(draw, env)
            named = named or draw(st.integers(0, 2)) == 0
            args.append((pname if named else None, text))
        return args


@st.composite
def valid_specs(draw, max_layers: int = 30, max_depth: int = 3, hostile: bool = True, aux: bool = True) -> GenSpec:
    """A random spec that checks, with the output shapes the checker must report."""
    gen = Gen(draw, hostile, max_layers, max_depth)
    c = draw(st.integers(1, 4))
    h = draw(st.integers(4, 14))
    w = draw(st.sampled_from([h, draw(st.integers(4, 14))]))
    classes = draw(st.integers(2, 12))
    env: Env = {"classes": classes}
    params = [f"classes = {classes}", f"input = {c}x{h}x{w}"]
    for _ in range(draw(st.integers(0, 2))):
        name = gen.names.fresh("m")
        value: float = draw(st.integers(1, 16)) if draw(st.integers(0, 3)) else draw(st.sampled_from([0.5, 1.0, 1.5]))
        env[name] = value
        params.append(f"{name} = {value!r}")
    params = draw(st.permutations(params))
    model_name = gen.names.fresh("net")
    lines = [f"model {model_name}({', '.join(params)})"]
    defaults = draw(st.sampled_from(FILE_DEFAULTS))
    shape: Shape = (c, h, w)
    stages: list[tuple[str, list[Stmt]]] = []
    stage_out: dict[str, Shape] = {}
    for _ in range(draw(st.integers(1, 3))):
        if gen.layers >= max_layers and stages:
            break
        name = gen.names.fresh("s")
        body, shape = gen.body(shape, env, 0, draw(st.integers(1, 5)))
        stages.append((name, body))
        stage_out[name] = shape
    outputs: dict[str, Shape] = {}
    head: list[Stmt] = []
    if draw(st.integers(0, 4)) > 0:
        head, shape = _head(draw, shape, env)
    outputs["main"] = shape
    auxes: list[tuple[str, str, str | None, list[Stmt]]] = []
    if aux and len(stages) > 1 and draw(st.integers(0, 2)) == 0:
        after = draw(st.sampled_from([s for s, _ in stages]))
        body, out = _head(draw, stage_out[after], env)
        aux_name = gen.names.fresh("aux")
        weight = draw(st.sampled_from([None, "0.3", "0.5"]))
        auxes.append((aux_name, after, weight, body))
        outputs[aux_name] = out
        gen.features.add("aux")
    # text
    if defaults:
        lines += ["", f"defaults {{\n  {defaults}\n}}"]
    for block_name in gen.order:
        lines += ["", *gen.blocks[block_name].render()]
    for name, body in stages:
        lines += ["", *_block_lines(f"stage {name} {{", body, "  ", "")]
    if head:
        lines += ["", *_block_lines("head {", head, "  ", "")]
    for name, after, weight, body in auxes:
        w_text = f" weight {weight}" if weight else ""
        lines += ["", *_block_lines(f"aux {name} after {after}{w_text} {{", body, "  ", "")]
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 9)) == 0:
        text = "# a generated spec\n" + text.replace("\n\n", "\n  # comment\n")
    return GenSpec(text, (c, h, w), outputs, gen.layers, len(gen.blocks), gen.features)


def _head(draw: Callable, shape: Shape, env: Env) -> tuple[list[Stmt], Shape]:
    body: list[Stmt] = []
    if len(shape) == 3:
        flatten = shape[0] * shape[1] * shape[2] <= 512 and draw(st.integers(0, 2)) == 0
        body.append(Flat("flatten") if flatten else Flat(draw(st.sampled_from(["global_avgpool", "global_maxpool"]))))
    if draw(st.booleans()):
        body.append(Simple(f"dropout {draw(st.sampled_from(['0.2', '0.5']))}"))
    if draw(st.booleans()):
        hidden = int_expr(draw, {k: v for k, v in env.items()})
        body.append(Flat("linear", hidden, draw(st.sampled_from(["", "relu", "bn relu", "nobias", "noscale"]))))
    if draw(st.integers(0, 5)):
        body.append(Flat("linear", "classes", draw(st.sampled_from(["", "", "bias", "linear"]))))
    for stmt in body:
        shape = stmt.run(shape, env, None)  # type: ignore[arg-type]
    return body, shape


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
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "replace", "bytes", "truncate", "bytes", "delete"]))
        current = data.decode("utf-8", errors="surrogateescape")
        spans = tokens(current) if done else spans
        if not spans:
            kind = "bytes"
        if kind in ("delete", "duplicate", "replace", "swap"):
            i = draw(st.integers(0, len(spans) - 1))
            a, b = spans[i]
            piece = current[a:b]
            if kind == "delete":
                current = current[:a] + current[b:]
            elif kind == "duplicate":
                sep = draw(st.sampled_from([" ", "", "\n", ";"]))
                current = current[:b] + sep + piece + current[b:]
            elif kind == "replace":
                c, d = spans[draw(st.integers(0, len(spans) - 1))]
                current = current[:a] + current[c:d] + current[b:]
            else:
                j = draw(st.integers(0, len(spans) - 1))
                (a, b), (c, d) = sorted([spans[i], spans[j]])
                if b <= c:
                    current = current[:a] + current[c:d] + current[b:c] + current[a:b] + current[d:]
            data = current.encode("utf-8", errors="surrogateescape")
            done.append(f"{kind} {piece!r}")
        elif kind == "bytes":
            at = draw(st.integers(0, len(data)))
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
            at = draw(st.integers(0, len(data)))
            data = data[:at]
            done.append(f"truncate at {at}")
    return "; ".join(done), data
