"""The PyTorch emitter: one `nn.Module` per scope, channels-first."""

from __future__ import annotations

from inceptgen import ir
from inceptgen.emit.base import ScopeView, Stmt, constant, model_class_name
from inceptgen.emit.render import Emitter
from inceptgen.errors import UnsupportedError
from inceptgen.names import Namespace

__all__ = ["TorchEmitter"]

_ACT_CALL = {"relu": "F.relu", "relu6": "F.relu6", "silu": "F.silu", "sigmoid": "torch.sigmoid", "tanh": "torch.tanh"}


class TorchEmitter(Emitter):
    target = "torch"

    def template_values(self) -> dict[str, object]:
        self.helpers: set[str] = set()
        self.lazy = False
        for view in self.views:
            if view.kind == "repeat" and view.uses_in_channels:
                _take_block_in_channels(view)
        # "?" = unknown after a flatten: only a (lazy) linear layer can follow it, in the
        # same scope or in the stage (or aux head) after it.
        flattened: set[str] = set()
        previous = None
        for view in self.views:
            after = self._aux_after(view) if view.kind == "aux" else previous
            start = "?" if view.kind in ("stage", "head", "aux") and after in flattened else "in_channels"
            out = self._prepare(view.stmts, start, view)
            view.values = {"out_channels": "None" if out == "?" else out}  # type: ignore[attr-defined]
            if view.kind in ("stage", "head"):
                previous = view.spec_name
                if out == "?":
                    flattened.add(view.spec_name)
        stages = [v for v in self.views if v.kind in ("stage", "head")]
        auxes = [v for v in self.views if v.kind == "aux"]
        return {
            "header": self.header(),
            "views": self.views,
            "stages": stages,
            "auxes": [(v, self._aux_after(v)) for v in auxes],
            "model_class": model_class_name(self.model),
            "params": self.model_params(),
            "helpers": self.helpers,
            "optimize": self.optimize,
            "lazy": self.lazy,
            "needs_math": any("math." in str(s.values) for v in self.views for s in _flat(v.stmts)),
            "act_call": _ACT_CALL,
            "flat": lambda stmts: [s for s in _flat(stmts) if _has_init(s)],
            "default_value": self.value,
            "annotation": self.annotation,
            "stage_shape": lambda name: " x ".join(map(str, self.checked.node(name).out_shape)),
            "pair": lambda text: text if text.startswith("(") else f"({text}, {text})",
        }

    def _aux_after(self, view: ScopeView) -> str:
        return next(a.after for a in self.model.auxes if a.name == view.spec_name)

    # ------------------------------------------------------------------ channels
    def _prepare(self, stmts: list[Stmt], ch: str, view: ScopeView) -> str:
        """Fill each statement's values; return the channel count expression after them."""
        for stmt in stmts:
            stmt.values["in_ch"] = ch
            ch = self._statement(stmt, ch, view)
        return ch

    def _statement(self, stmt: Stmt, ch: str, view: ScopeView) -> str:
        node = stmt.node
        v = stmt.values
        match node:
            case ir.Conv():
                self.helpers.add("ConvNormAct")
                v.update(self._conv(node, view))
                return v["out_ch"]
            case ir.Linear():
                v.update(
                    out_ch=self.value(node.out, view),
                    bias=node.bias,
                    act=node.act or "linear",
                    bn=self._bn(node.bn, view),
                )
                v["lazy"] = ch == "?"
                self.lazy |= ch == "?"
                if node.bn or node.act:
                    self.helpers.add("LinearNormAct")
                return v["out_ch"]
            case ir.Pool():
                v.update(self._pool(node, view))
                return ch
            case ir.Concat():
                outs = [self._prepare(branch, ch, view) for branch in stmt.branches]
                v["fused"] = self._fuse_siblings(stmt) if self.optimize else []
                return " + ".join(outs) if "?" not in outs else "?"
            case ir.Residual():
                self._prepare(stmt.body, ch, view)
                v["scale"] = self.value(node.scale, view)
                return ch
            case ir.Call():
                callee = self._callee(node)
                v.update(cls=callee.class_name, args=self._args(node, callee, view))
                return f"self.{node.name}.out_channels"
            case ir.Repeat():
                v["count"] = self.value(node.count, view)
                call = node.single_call
                if call is not None:
                    callee = self._callee(call)
                    v.update(cls=callee.class_name, args=self._args(call, callee, view))
                else:
                    assert stmt.scope is not None
                    v.update(cls=stmt.scope.class_name, args=_body_args(stmt.scope, view))
                return f"self.{node.name}[-1].out_channels"
            case ir.Flatten():
                return "?"
            case ir.Dropout():
                v["rate"] = self.value(node.rate, view)
        return ch

    def _fuse_siblings(self, stmt: Stmt) -> list[dict[str, object]]:
        """Group the 1x1 convolutions that open sibling branches into one conv plus a split.

        Inference engines fuse these horizontally: one wide matrix product instead of
        several narrow ones reading the same input.
        """
        groups: dict[str, list[tuple[str, Stmt]]] = {}
        for branch, out in zip(stmt.branches, stmt.branch_outs, strict=True):
            if branch and _fusable(branch[0].node):
                groups.setdefault(branch[0].values["act"], []).append((out, branch[0]))
        fused = []
        for members in groups.values():
            if len(members) < 2:
                continue
            name = f"{stmt.node.name}_fused_1x1" + (f"_{len(fused) + 1}" if fused else "")
            for _, member in members:
                member.values["fused_into"] = name
            first = members[0][1].values
            fused.append({
                "name": name,
                "outs": [out for out, _ in members],
                "sources": tuple(m.node.name for _, m in members),
                "splits": [m.values["out_ch"] for _, m in members],
                "in_ch": first["in_ch"],
                "act": first["act"],
            })  # fmt: skip
        return fused

    def _callee(self, call: ir.Call) -> ScopeView:
        return next(v for v in self.views if v.kind == "block" and v.spec_name == call.block)

    def _args(self, call: ir.Call, callee: ScopeView, view: ScopeView) -> list[str]:
        values = dict(call.args)
        return [f"{py}={self.value(values[spec], view)}" for spec, py, _ in callee.params]

    def _bn(self, bn: ir.BatchNorm | None, view: ScopeView) -> str | None:
        if bn is None:
            return None
        eps, momentum = constant(bn.eps), constant(bn.momentum)
        if eps is None or momentum is None:
            raise UnsupportedError("batch-norm eps and momentum must be constants for torch", bn.eps.span)
        # The spec's momentum is Keras' (weight of the old average); PyTorch's is its complement.
        return f"bn_eps={eps!r}, bn_momentum={round(1 - momentum, 12)!r}" + ("" if bn.scale else ", bn_scale=False")

    def _conv(self, node: ir.Conv, view: ScopeView) -> dict[str, object]:
        kernel, stride, dilation = (constant(e) for e in (node.kernel, node.stride, node.dilation))
        _constant_pad(node)
        return {
            "out_ch": self.value(node.out, view),
            "kernel": self.window_value(node.kernel, view),
            "stride": self.window_value(node.stride, view),
            "dilation": self.value(node.dilation, view),
            "groups": self.value(node.groups, view),
            "padding": _torch_padding(constant(node.pad), kernel, stride, dilation),
            # --optimize folds batch-norm into the conv: a bias takes its place.
            "bias": node.bias or self.optimize,
            "bn": None if self.optimize else self._bn(node.bn, view),
            "sources": (node.name,),
            "act": node.act or "linear",
        }

    def _pool(self, node: ir.Pool, view: ScopeView) -> dict[str, object]:
        kernel, stride = constant(node.kernel), constant(node.stride)
        _constant_pad(node)
        padding = _torch_padding(constant(node.pad), kernel, stride, 1)
        # nn.*Pool2d pads both sides alike: other padding is applied to the input first.
        padded = padding == '"same"' or _asymmetric(padding)
        # Ceil mode may then start a window in the trailing padding: the checker's rule does not.
        trim = node.ceil and _asymmetric(padding)
        if padded:
            self.helpers.add("pad_same")
        if trim:
            self.helpers.add("trim_ceil_windows")
        return {
            "kernel": self.window_value(node.kernel, view),
            "stride": self.window_value(node.stride, view),
            "padding": padding,
            "pad_value": ("-math.inf" if node.kind == "max" else "0.0") if padded else "",
            "ceil": node.ceil,
            "count_pad": node.count_pad,
            # The padding is part of the pooled input: average over the real cells only.
            "mask": padded and node.kind == "avg" and not node.count_pad,
            "trim": trim,
        }


def _take_block_in_channels(view: ScopeView) -> None:
    """Give a repeat body the enclosing block's `in.channels` as a parameter of its own.

    In the spec, `in.channels` inside a repeat means the block's input channels; the
    body's class already has `in_channels`, the input of each copy.
    """
    name = Namespace(set(view.names.values()) | {"in_channels"}).name("block_in_channels")
    view.names["in.channels"] = name
    view.params.append(("in.channels", name, None))


def _body_args(body: ScopeView, view: ScopeView) -> list[str]:
    """Arguments of a repeat body's class: the enclosing scope's values of its parameters."""
    return [py if py == view.names[spec] else f"{py}={view.names[spec]}" for spec, py, _ in body.params]


def _constant_pad(node: ir.Conv | ir.Pool) -> None:
    if constant(node.pad) is None:
        raise UnsupportedError(
            "padding must be a constant (same, valid, N, HxW or TxBxLxR)", node.pad.span or node.span
        )


def _pair(value) -> tuple[int, int] | None:
    if isinstance(value, int):
        return value, value
    return value if isinstance(value, tuple) and len(value) == 2 else None


def _torch_padding(pad, kernel, stride, dilation) -> str:
    """PyTorch padding for a spec's `pad`: static `(ph, pw)`, `(l, r, t, b)` or `"same"` (at run time)."""
    k, s, d = _pair(kernel), _pair(stride), _pair(dilation)
    if pad == "valid":
        return "(0, 0)"
    if pad == "same" or pad is None:
        if k and s == (1, 1) and d and all(((kk - 1) * dd) % 2 == 0 for kk, dd in zip(k, d, strict=True)):
            return repr(tuple((kk - 1) * dd // 2 for kk, dd in zip(k, d, strict=True)))
        return '"same"'
    if isinstance(pad, int):
        return repr((pad, pad))
    if len(pad) == 2:
        return repr(tuple(pad))
    top, bottom, left, right = pad
    if top == bottom and left == right:
        return repr((top, left))
    return repr((left, right, top, bottom))


def _asymmetric(padding: str) -> bool:
    return padding.count(",") == 3


def _fusable(node: ir.Node) -> bool:
    """A 1x1, stride-1, ungrouped conv without padding: a candidate for horizontal fusion."""
    if not isinstance(node, ir.Conv):
        return False
    pad = constant(node.pad)
    return (
        _pair(constant(node.kernel)) == (1, 1)
        and _pair(constant(node.stride)) == (1, 1)
        and constant(node.groups) == 1
        and pad in ("same", "valid", 0, (0, 0), (0, 0, 0, 0))
    )


def _has_init(stmt: Stmt) -> bool:
    """Whether a statement creates a module (or a stored value) in `__init__`."""
    if "fused_into" in stmt.values:
        return False
    if isinstance(stmt.node, ir.Concat):
        return bool(stmt.values["fused"])
    if isinstance(stmt.node, ir.Residual):
        return stmt.values["scale"][0].isalpha()
    return isinstance(stmt.node, ir.Conv | ir.Linear | ir.Pool | ir.Dropout | ir.Call | ir.Repeat)


def _flat(stmts: list[Stmt]):
    for stmt in stmts:
        yield stmt
        for branch in stmt.branches:
            yield from _flat(branch)
        yield from _flat(stmt.body)
