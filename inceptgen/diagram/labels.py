"""The text on a diagram's nodes and clusters, as the papers label their figures.

Layer labels come from the checker's evaluated attributes where it gives them
(`conv 3x3 /2`); any attribute it does not give is simply left off, so a new layer
op is labelled with its name and shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["shape_text", "layer_lines", "family", "count_text"]

#: op -> colour family (anything else is `other`)
_FAMILIES = {
    "conv": "conv",
    "linear": "linear",
    "maxpool": "pool",
    "avgpool": "pool",
    "global_avgpool": "pool",
    "global_maxpool": "pool",
    "relu": "act",
    "relu6": "act",
    "silu": "act",
    "sigmoid": "act",
    "tanh": "act",
    "dropout": "reg",
    "flatten": "reg",
    "identity": "reg",
}


def shape_text(shape: Sequence[int]) -> str:
    """`192x28x28` for a feature map, `1000` for a flat vector."""
    return "x".join(str(d) for d in shape)


def count_text(params: int) -> str:
    return f"{params:,} params"


def family(op: str) -> str:
    """The colour family of a layer op."""
    return _FAMILIES.get(op, "other")


def _pair(value: Any, skip: int) -> str | None:
    """`3x3`, `1x7`; None when absent or equal to `skip` in both dimensions."""
    if not isinstance(value, tuple | list) or not value or all(v == skip for v in value):
        return None
    return "x".join(str(v) for v in value)


def _attributes(values: Mapping[str, Any]) -> list[str]:
    parts = []
    if (kernel := _pair(values.get("kernel"), 0)) is not None:
        parts.append(kernel)
    if (stride := _pair(values.get("stride"), 1)) is not None:
        parts.append(f"/{stride.partition('x')[0] if len(set(stride.split('x'))) == 1 else stride}")
    if (dilation := _pair(values.get("dilation"), 1)) is not None:
        parts.append(f"dil {dilation}")
    if isinstance(groups := values.get("groups"), int) and groups > 1:
        parts.append(f"groups {groups}")
    if isinstance(rate := values.get("rate"), int | float) and not isinstance(rate, bool):
        parts.append(f"{rate:g}")
    return parts


def layer_lines(info: Any, params: bool) -> list[str]:
    """`conv 3x3 /2`, the output shape, and the parameters when asked for."""
    values = getattr(info, "values", None)
    head = " ".join([info.op, *_attributes(values if isinstance(values, Mapping) else {})])
    lines = [head, shape_text(info.out_shape)]
    if params and info.params:
        lines.append(count_text(info.params))
    return lines
