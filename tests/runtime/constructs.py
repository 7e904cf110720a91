"""The constructs a spec uses, and a few specs that between them use every one.

Exporting every stdlib spec, or building each on every Keras backend, repeats the same layers
dozens of times: 31 specs are a handful of layer kinds in different numbers. The slow paths
run the specs this module picks instead, from the stdlib and the trap specs of
tests/fixtures/parity (small models written around one construct each, so they stand in for
most of the large ones), and a new construct in any spec pulls that spec in.

A construct is a node kind (`conv`, `residual`, `gate`, ...) or one setting of one kind with
its numbers abstracted to what changes the program: a strided conv, a grouped one, `same`
padding at a stride, an asymmetric pad, average pooling that counts the padding, a non-zero
L2 penalty, an activation, per-channel normalisation constants.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import inceptgen
from inceptgen.stdlib import list_specs

#: the parity trap specs, each a small model around one construct that once went wrong
TRAPS = tuple(sorted((Path(__file__).parent.parent / "fixtures" / "parity").glob("*.incept")))

Construct = tuple[Any, ...]


def _abstract(key: str, value: Any) -> Any:
    """What of a setting's value the generated programs branch on."""
    if value is None or isinstance(value, bool | str):
        return value
    if key == "pads":
        top, bottom, left, right = value
        return "none" if not any(value) else "symmetric" if (top, left) == (bottom, right) else "asymmetric"
    if key == "kernel":
        return "1x1" if value == (1, 1) else "square" if value[0] == value[1] else "rectangular"
    if key in ("stride", "dilation"):
        return "one" if value == (1, 1) else "more"
    if key == "groups":
        return "one" if value == 1 else "more"
    if isinstance(value, tuple):
        return "explicit" if key == "pad" else "per-channel" if len(value) > 1 else "scalar"
    return "zero" if value == 0 else "one" if value == 1 else "negative" if value < 0 else "other"


def constructs(spec: inceptgen.Spec) -> frozenset[Construct]:
    """Every construct `spec` uses (see the module's docstring)."""
    found: set[Construct] = {("aux head",)} if spec.model.auxes else set()
    for node in spec.checked.nodes:
        kind = node.op.split(":")[0].split(" ")[0]  # "block:stem" and "repeat x4" are one kind each
        settings = {key: _abstract(key, value) for key, value in node.values.items()}
        found.add((kind,))
        found.update((kind, key, value) for key, value in settings.items())
        if "pad" in settings and "stride" in settings:  # "same" at a stride pads by the input's size
            found.add((kind, "pad at stride", settings["pad"], settings["stride"]))
    return frozenset(found)


@cache
def covering(refs: tuple[str, ...]) -> tuple[str, ...]:
    """Few of `refs` that between them use every construct any of them uses, the larger ones left out.

    From all of them, the largest (by node count, which sets build and export time) are dropped
    one by one while the rest still use every construct.
    """
    specs = {ref: inceptgen.load(ref) for ref in refs}
    used = {ref: constructs(spec) for ref, spec in specs.items()}
    chosen = list(refs)
    for ref in sorted(refs, key=lambda ref: -len(specs[ref].checked.nodes)):
        others = set().union(*(used[other] for other in chosen if other != ref))
        if used[ref] <= others:
            chosen.remove(ref)
    return tuple(sorted(chosen))


def covering_stdlib(names: Iterable[str]) -> list[str]:
    """`covering` over stdlib spec names, by name."""
    return [ref.removeprefix("@") for ref in covering(tuple(f"@{name}" for name in names))]


def covering_specs() -> list[str]:
    """`covering` over every stdlib spec (as `@name`) and every trap spec (as its path)."""
    return list(covering(tuple(f"@{name}" for name in list_specs()) + tuple(str(path) for path in TRAPS)))


def spec_id(ref: str) -> str:
    """A short test id for a spec reference: the stdlib name or the trap file's stem."""
    return ref.removeprefix("@") if ref.startswith("@") else Path(ref).stem
