"""The commands that train and score: train, evaluate (see `inceptgen.runtime.training`)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from inceptgen.cli.common import SetOpt, SpecArg, Target, VariantOpt, load_spec
from inceptgen.cli.errors import EXIT_USAGE, guard
from inceptgen.errors import InceptgenError


class Optimizer(StrEnum):
    """The optimisers `train` offers (the same update rule in both frameworks)."""

    sgd = "sgd"
    adamw = "adamw"


class Precision(StrEnum):
    """Training and evaluation precision."""

    fp32 = "32"
    bf16 = "bf16"
    fp16 = "16"


DeviceOpt = Annotated[
    str | None,
    typer.Option("--device", metavar="DEVICE", help="auto (default: a GPU if there is one), cpu, cuda, cuda:N or mps."),
]
PrecisionOpt = Annotated[
    Precision | None,
    typer.Option("--precision", help="32 (default); bf16 or 16: autocast / Keras mixed precision (16 needs a GPU)."),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", min=0, metavar="N", help="Data-loading workers (default 0: in the training process)."),
]


def _given(**options: Any) -> dict[str, Any]:
    """The options the user set: the runtime holds the defaults (and run.json records them)."""
    return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in options.items() if v not in (None, False)}


def train_cmd(
    ctx: typer.Context,
    spec: SpecArg,
    target: Annotated[Target, typer.Option("--target", "-t", help="The framework to train in.")],
    data: Annotated[
        str,
        typer.Option(
            "--data", metavar="PATH", help="CIFAR-10/100 (folder or .tar.gz), an image folder, cifar10 or cifar100."
        ),
    ],
    set_: SetOpt = None,
    variant: VariantOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="RUN_DIR", help="New folder for checkpoint, metrics and source (required unless --resume)."
        ),
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Passes over the training set.")] = 10,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Images per step: the global batch, over all processes.")
    ] = 128,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 0.1,
    limit_train: Annotated[
        int | None, typer.Option("--limit-train", min=1, metavar="N", help="Class-balanced training subset.")
    ] = None,
    limit_test: Annotated[
        int | None, typer.Option("--limit-test", min=1, metavar="N", help="Class-balanced test subset.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds weights, shuffling and augmentation.")] = 0,
    download: Annotated[bool, typer.Option("--download", help="Fetch CIFAR-10/100 when --data names it.")] = False,
    resume: Annotated[
        Path | None, typer.Option("--resume", metavar="RUN_DIR", help="Continue from this run's last finished epoch.")
    ] = None,
    label_smoothing: Annotated[
        float, typer.Option("--label-smoothing", min=0.0, max=1.0, help="Cross-entropy label smoothing, below 1.")
    ] = 0.0,
    optimizer: Annotated[
        Optimizer | None, typer.Option("--optimizer", help="sgd (default; Nesterov momentum) or adamw.")
    ] = None,
    momentum: Annotated[float | None, typer.Option("--momentum", min=0.0, help="SGD momentum (default 0.9).")] = None,
    weight_decay: Annotated[
        float | None, typer.Option("--weight-decay", min=0.0, help="Decoupled weight decay (default 5e-4).")
    ] = None,
    clip_grad_norm: Annotated[
        float | None, typer.Option("--clip-grad-norm", metavar="NORM", help="Clip the global gradient norm.")
    ] = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    workers: WorkersOpt = None,
    channels_last: Annotated[
        bool, typer.Option("--channels-last", help="PyTorch: NHWC memory format for model and inputs.")
    ] = False,
    compile_: Annotated[bool, typer.Option("--compile", help="PyTorch: torch.compile the model.")] = False,
    jit_compile: Annotated[bool, typer.Option("--jit-compile", help="Keras: XLA-compile the train step.")] = False,
    sync_bn: Annotated[bool, typer.Option("--sync-bn", help="PyTorch distributed: SyncBatchNorm.")] = False,
    replicas: Annotated[
        int | None,
        typer.Option("--replicas", min=1, metavar="N", help="Keras: MirroredStrategy over N GPUs (or logical CPUs)."),
    ] = None,
    tensorboard: Annotated[
        bool, typer.Option("--tensorboard", help="Also write TensorBoard event files to RUN_DIR/tensorboard.")
    ] = False,
    nproc_per_node: Annotated[
        int | None,
        typer.Option("--nproc-per-node", min=1, metavar="N", help="PyTorch: N processes on this machine (DDP)."),
    ] = None,
    recipe: Annotated[
        str | None,
        typer.Option(
            "--recipe", metavar="NAME", help="A published training recipe (seed004); options given override it."
        ),
    ] = None,
) -> None:
    """Train SPEC on CIFAR-10/100 or an image folder, and evaluate it after every epoch.

    Example: [bold]inceptgen train @cifar_mini --target torch --data cifar10-mini --epochs 5 --out runs/t[/bold]

    RUN_DIR receives run.json, metrics.jsonl, summary.json, the last and best checkpoints and the
    generated source. Several processes: [bold]torchrun --nproc-per-node 2 -m inceptgen train ...[/bold]
    """
    if out is None and resume is None:
        raise typer.BadParameter("give the run directory to create (or --resume RUN_DIR)", param_hint="'--out'")
    if lr <= 0:
        raise typer.BadParameter(f"must be positive, got {lr}", param_hint="'--lr'")
    if label_smoothing >= 1:
        raise typer.BadParameter(f"must be below 1, got {label_smoothing}", param_hint="'--label-smoothing'")
    if nproc_per_node is not None and nproc_per_node > 1:
        if target is not Target.torch:
            raise typer.BadParameter("is a PyTorch option; Keras uses --replicas", param_hint="'--nproc-per-node'")
        from inceptgen.runtime.training.launch import launch

        raise typer.Exit(launch(sys.argv[1:], nproc_per_node, resume or out))
    with guard(), _quiet_on_other_ranks():
        s = load_spec(spec, set_, variant)
        from inceptgen.runtime.train import train

        options = {
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "limit_train": limit_train,
            "limit_test": limit_test,
            "seed": seed,
            "download": download,
            "resume": resume,
            "label_smoothing": label_smoothing,
        }
        options |= _given(
            optimizer=optimizer,
            momentum=momentum,
            weight_decay=weight_decay,
            clip_grad_norm=clip_grad_norm,
            device=device,
            precision=precision,
            workers=workers,
            channels_last=channels_last,
            compile=compile_,
            jit_compile=jit_compile,
            sync_bn=sync_bn,
            replicas=replicas,
            tensorboard=tensorboard,
        )
        if recipe is not None:  # the recipe's settings, except those given on the command line
            defaults = {k for k in options if getattr(ctx.get_parameter_source(k), "name", "") == "DEFAULT"}
            options = {k: v for k, v in options.items() if k not in defaults - {"resume", "download"}}
            options["recipe"] = recipe
        train(s, target.value, data=data, out=out, **options)  # reports progress and the final accuracy itself


@contextlib.contextmanager
def _quiet_on_other_ranks() -> Iterator[None]:
    """In a distributed run, an error every rank agreed on is printed by rank 0 alone.

    The other ranks wait for rank 0 to exit first (the launcher then stops them): were they
    to exit first, the launcher could stop rank 0 before it has printed the message.
    """
    try:
        yield
    except InceptgenError as err:
        if getattr(err, "all_ranks", False) and os.environ.get("RANK", "0") != "0":
            import time

            time.sleep(60)
            raise typer.Exit(EXIT_USAGE) from None
        raise


def evaluate_cmd(
    spec: SpecArg,
    target: Annotated[Target, typer.Option("--target", "-t", help="The framework of the checkpoint.")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", metavar="FILE", help="model.pt or model.weights.h5.")],
    data: Annotated[
        str, typer.Option("--data", metavar="PATH", help="CIFAR-10/100 (folder or .tar.gz) or image folder.")
    ],
    set_: SetOpt = None,
    variant: VariantOpt = None,
    limit_test: Annotated[
        int | None, typer.Option("--limit-test", min=1, metavar="N", help="Class-balanced test subset.")
    ] = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Score a saved checkpoint of SPEC on the test split (top-1, top-5, loss).

    Example: [bold]inceptgen evaluate @cifar_mini --target torch --checkpoint runs/t/model.pt --data cifar10-mini[/bold]

    Only the test split is read when run.json (the run's normalisation) lies beside the checkpoint.
    """
    with guard():
        if not checkpoint.is_file():
            raise InceptgenError(f"no checkpoint file {str(checkpoint)!r}")
        s = load_spec(spec, set_, variant)
        from inceptgen.runtime.train import evaluate

        options = _given(device=device, precision=precision, workers=workers)
        result = evaluate(s, target.value, checkpoint, data, limit_test, **options)
        extra = ", ".join(f"{k} {v}" for k, v in result.items() if k != "accuracy")
        typer.echo(f"accuracy {result['accuracy']:.4f}" + (f" ({extra})" if extra else ""))
