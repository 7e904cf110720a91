"""The targets inceptgen generates code for, listed once.

The API, the CLI, the emitters, training, conversion, parity and the tests all read
this registry; adding a target means adding one entry here and its emitter package.
Nothing here imports a framework: each entry names the modules that do, and they are
imported only when that target is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from inceptgen.errors import InceptgenError
from inceptgen.records import record

__all__ = ["Target", "TARGETS", "TARGET_NAMES", "target"]


@record
class Target:
    """One framework inceptgen generates code for.

    Attributes:
        name: the `--target` value.
        framework: the name users know it by.
        emitter: `module:Class` of its emitter (see `inceptgen.emit`).
        extra: the pip extra that installs its framework (`pip install 'inceptgen[extra]'`).
        layout: the activation layout of its generated models.
        checkpoint: the file name of a trained model's weights in a run directory.
        optimize: whether its emitter has an `--optimize` build.
        trainer: the module of its training loop (`inceptgen.runtime.training.loop_*`), which
            offers `backend(config)` and `predictor(spec, checkpoint, config)`.
        resume_state: the file name of the state a run resumes from.
        separator: what joins the parts of a node's path in its layer names (Keras' torch
            backend refuses "." in names, and spec names never hold "-").
    """

    name: str
    framework: str
    emitter: str
    extra: str
    layout: str
    checkpoint: str
    optimize: bool
    trainer: str = ""
    resume_state: str = ""
    separator: str = "."

    def trainer_module(self) -> Any:
        """The training loop's module, imported on first use (it imports the framework)."""
        return importlib.import_module(self.trainer)

    def layer_name(self, path: str) -> str:
        """The name of node `path` (dotted, as the checker writes it) in this target's model."""
        return path.replace(".", self.separator)

    def node_path(self, layer_name: str) -> str:
        """The checker's dotted path of a layer named `layer_name` in this target's model."""
        return layer_name.replace(self.separator, ".")

    def emitter_class(self) -> type[Any]:
        """The emitter class, imported on first use."""
        module, _, attr = self.emitter.partition(":")
        return getattr(importlib.import_module(module), attr)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "torch",
            "PyTorch",
            "inceptgen.emit.torch:TorchEmitter",
            "torch",
            "NCHW",
            "model.pt",
            optimize=True,
            trainer="inceptgen.runtime.training.loop_torch",
            resume_state="resume.pt",
        ),
        Target(
            "keras",
            "Keras",
            "inceptgen.emit.keras:KerasEmitter",
            "keras",
            "NHWC",
            "model.weights.h5",
            optimize=True,
            trainer="inceptgen.runtime.training.loop_keras",
            resume_state="resume.npz",
            separator="-",
        ),
    )
}

#: The target names in registry order, for CLI choices and parametrised tests.
TARGET_NAMES: tuple[str, ...] = tuple(TARGETS)


def target(name: str) -> Target:
    """The registered target `name`.

    Raises:
        InceptgenError: no such target (the hint lists those there are).
    """
    try:
        return TARGETS[name]
    except KeyError:
        raise InceptgenError(f"unknown target {name!r}", hint=f"targets: {', '.join(TARGETS)}") from None
