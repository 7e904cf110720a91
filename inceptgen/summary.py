"""The `summary` command's content: per-node shapes, parameters and MACs, with totals."""

from __future__ import annotations

from typing import Any

from inceptgen.check import Checked

__all__ = ["summary_dict"]


def summary_dict(checked: Checked) -> dict[str, Any]:
    """The JSON document of `inceptgen summary --format json`.

    `total_params` and `trainable_params` follow PyTorch (batch-norm running statistics
    are buffers, not parameters); `keras_params` is what Keras' `count_params()` reports.
    """
    return {
        "model": checked.model.name,
        "input_shape": list(checked.input_shape),
        "params": {k: v for k, v in checked.env.items() if k != "input"},
        "outputs": {name: list(shape) for name, shape in checked.outputs.items()},
        "total_params": checked.total_params,
        "trainable_params": checked.trainable_params,
        "keras_params": checked.keras_params,
        "macs": checked.macs,
        "nodes": [
            {
                "path": n.path,
                "op": n.op,
                "out_shape": list(n.out_shape),
                "params": n.params,
                "macs": n.macs,
                "depth": n.depth,
            }
            for n in checked.nodes
        ],
    }
