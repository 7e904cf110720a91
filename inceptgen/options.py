"""A layer's arguments from its vocabulary entry: options, flags, the positional value and `->`.

`lower` hands each layer statement here with the `defaults` rules that reach it; the
result maps every option of the layer's `Op` to an expression (defaults included), or
raises an error naming the option at its span, with the options the layer takes.
"""

from __future__ import annotations

import dataclasses

from inceptgen import expr as ex
from inceptgen import syntax as sx
from inceptgen.errors import InceptgenError, SpecArgumentError, SpecNameError
from inceptgen.names import suggest
from inceptgen.ops import OPS, Kind, Op

__all__ = ["apply_option", "layer_args"]


def layer_args(layer: sx.Layer, op: Op, defaults: tuple[sx.Option, ...]) -> dict[str, ex.Expr]:
    """Every option of `op` for this statement: the language's default, then `defaults`, then the layer's own."""
    args: dict[str, ex.Expr | str | None] = {key: opt.default for key, opt in op.options.items()}
    for option in (*defaults, *layer.options):
        apply_option(op, option, args)
    _positional(layer, op, args)
    if op.arrow is not None:
        if layer.out is None and op.options[op.arrow].default is None:
            raise SpecArgumentError(f"{layer.op} needs output channels: '{layer.op} ... -> N'", layer.span)
        args[op.arrow] = layer.out or args[op.arrow]
    elif layer.out is not None:
        raise SpecArgumentError(f"{layer.op} takes no '-> channels'", layer.out.span or layer.span)
    for key, value in args.items():
        if isinstance(value, str):  # a default copied from another option
            args[key] = args[value]
        elif value is None:
            raise SpecArgumentError(f"{layer.op} needs a {key}", layer.span, op.options[key].doc)
    return args  # type: ignore[return-value]


def _positional(layer: sx.Layer, op: Op, args: dict) -> None:
    if layer.positional is None:
        return
    if op.positional is None:
        raise SpecArgumentError(f"{layer.op} takes no positional value", layer.positional.span)
    # `conv 3x3 -> 8 kernel 5`, `dropout 0.2 rate 0.5` (a kernel from `defaults` is overridden)
    if any(o.key == op.positional for o in layer.options):
        raise SpecArgumentError(f"{op.positional} given twice", layer.positional.span)
    args[op.positional] = layer.positional


def apply_option(op: Op, option: sx.Option, args: dict) -> None:
    if option.value is None:
        if option.key in op.flags:
            key, value = op.flags[option.key]
            args[key] = dataclasses.replace(value, span=option.span)
            for implied_key, implied in op.options[key].implies.items():
                args[implied_key] = dataclasses.replace(implied, span=option.span)
            return
        if option.key in op.valued:
            raise SpecArgumentError(f"option {option.key!r} of {op.keyword} needs a value", option.span)
        raise _unknown_option(op, option)
    if option.key not in op.valued:
        raise _unknown_option(op, option)
    value = option.value
    if isinstance(value, ex.Ref) and value.name in op.options[option.key].kind.words:
        value = ex.Str(value.name, value.span)  # a word of the option (`pad same`), not a parameter
    args[option.key] = value
    for key, implied in op.options[option.key].implies.items():
        args[key] = dataclasses.replace(implied, span=option.span)


def _unknown_option(op: Op, option: sx.Option) -> SpecNameError:
    known = sorted({*op.flags, *op.valued})
    what = f"{op.keyword} options: {', '.join(known)}" if known else f"{op.keyword} takes no options"
    hint = suggest(option.key, known) or what
    if option.key in OPS:  # `conv 1x1 -> 8 flatten`: a separator is missing
        hint = f"{option.key!r} is a layer: put a ';' or a line break before it"
    owners = [key for key in op.valued if _accepts_word(op.options[key].kind, option.key)]
    if owners:  # `zeropad same`: a value without its option's name
        hint = f"{option.key!r} is a value of option {owners[0]!r}: write `{owners[0]} {option.key}`"
    return SpecNameError(f"unknown option {option.key!r} for {op.keyword}", option.span, hint)


def _accepts_word(kind: Kind, word: str) -> bool:
    """Whether `word` is a value the option takes (`same` for conv's pad, not for zeropad's)."""
    if word not in kind.words:
        return False
    try:
        kind.check(word, None, "")
    except InceptgenError:
        return False
    return True
