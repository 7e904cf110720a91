"""Sliding-window arithmetic shared by convolutions and poolings."""

from __future__ import annotations

from inceptgen.ops.kinds import Pads

__all__ = ["window", "windows"]


def window(n: int, k: int, s: int, d: int, pad: object, ceil: bool) -> tuple[int, int, int]:
    """Output size and (before, after) padding of one spatial dimension.

    `pad` is "same" (TensorFlow's rule: out = ceil(n / s), the odd extra cell at the
    end), "valid", or a pair (before, after). `ceil` rounds the output up as
    PyTorch's ceil_mode does, never starting a window inside the trailing padding.
    Returns (out, before, after); `after` includes the extra cells ceil mode reads.
    """
    eff = (k - 1) * d + 1
    if pad == "same":
        out = -(-n // s)
        total = max((out - 1) * s + eff - n, 0)
        return out, total // 2, total - total // 2
    before, after = (0, 0) if pad == "valid" else pad  # type: ignore[misc]
    span = n + before + after - eff
    if span < 0:
        return 0, before, after
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + before:
        out -= 1
    return out, before, max(after, (out - 1) * s + eff - n - before)


def windows(
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    pads: str | Pads,
    ceil: bool = False,
) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """`window` over height and width: ((out_h, out_w), (top, bottom, left, right)).

    An output size of 0 means the kernel does not fit its padded input.
    """
    outs: list[int] = []
    padding: list[int] = []
    for axis in range(2):
        axis_pad = pads if isinstance(pads, str) else pads[axis]
        out, before, after = window(size[axis], kernel[axis], stride[axis], dilation[axis], axis_pad, ceil)
        outs.append(out)
        padding += [before, after]
    return (outs[0], outs[1]), (padding[0], padding[1], padding[2], padding[3])
