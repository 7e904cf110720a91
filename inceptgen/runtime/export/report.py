"""What `inceptgen export` writes (its formats) and what it reports, or raises."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inceptgen.errors import InceptgenError

__all__ = ["FORMATS", "ExportError", "ExportMismatchError", "ExportReport"]

#: format -> (file suffix, framework it is built from)
FORMATS: dict[str, tuple[str, str]] = {
    "onnx": (".onnx", "torch"),
    "torch-export": (".pt2", "torch"),
    "keras": (".keras", "keras"),
}


class ExportError(InceptgenError):
    """The export cannot be done as asked (bad arguments, a checkpoint that does not fit, a missing extra)."""


class ExportMismatchError(InceptgenError):
    """The exported file ran, but its outputs differ from the build it came from by more than the tolerance."""


@dataclass(frozen=True)
class ExportReport:
    """What `export_model` wrote and how it was checked.

    Attributes:
        path: the file written.
        format: `onnx`, `torch-export` or `keras`.
        opset: the ONNX opset of the file (None for other formats).
        dynamic_batch: whether the batch dimension is symbolic.
        optimized: built from the `--optimize` source.
        weights: `random` or the checkpoint read.
        checked_with: what ran the file (`onnxruntime 1.20.0`, `torch.export.load`, ...).
        batches: the batch sizes it was run with.
        max_rel: largest absolute output difference over the largest absolute reference output.
        size: bytes written.
        seconds: wall time of the export itself (without the check).
        custom_layers: inceptgen's own Keras layer classes the `.keras` file uses; loading
            it needs them registered, by importing the generated Keras module first.
    """

    path: Path
    format: str
    opset: int | None
    dynamic_batch: bool
    optimized: bool
    weights: str
    checked_with: str
    batches: tuple[int, ...]
    max_rel: float
    size: int
    seconds: float
    custom_layers: tuple[str, ...] = ()

    def line(self) -> str:
        """One line for the terminal."""
        kind = {"onnx": f"ONNX opset {self.opset}", "torch-export": "torch.export program", "keras": "Keras model"}
        batch = "dynamic batch" if self.dynamic_batch else f"batch {self.batches[0]}"
        built = ", optimized" if self.optimized else ""
        needs = ""
        if self.custom_layers:
            needs = (
                f"; it uses inceptgen's {', '.join(self.custom_layers)}: import the module of "
                "`inceptgen compile SPEC --target keras` before loading it"
            )
        return (
            f"wrote {self.path}: {kind[self.format]} ({batch}{built}, weights {self.weights}, "
            f"{self.size / 1e6:.1f} MB, {self.seconds:.1f} s); {self.checked_with} matches the "
            f"{FORMATS[self.format][1]} build to {self.max_rel:.1e} (max relative difference, "
            f"batch {', '.join(map(str, self.batches))}){needs}"
        )
