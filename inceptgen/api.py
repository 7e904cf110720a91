"""The Python API: `inceptgen.load(...)` and the `Spec` it returns."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inceptgen import expr as ex
from inceptgen.check import Checked, check
from inceptgen.errors import InceptgenError
from inceptgen.limits import Limits
from inceptgen.loader import Loader
from inceptgen.lower import lower
from inceptgen.parse import parse_expr
from inceptgen.stdlib import resolve_spec_path, stdlib_path
from inceptgen.targets import TARGET_NAMES

__all__ = ["Spec", "load", "parse_overrides", "TARGET_NAMES"]


class Spec:
    """A parsed, lowered and checked spec, ready to summarise, compile or build."""

    def __init__(
        self,
        checked: Checked,
        source_name: str,
        overrides: Mapping[str, ex.Value] | None = None,
        limits: Limits = Limits(),
    ) -> None:
        self.checked = checked
        self.source_name = source_name
        self.overrides = dict(overrides or {})
        self.limits = limits

    def with_variant(self, name: str | None) -> Spec:
        """The same spec checked as variant `name` (None: no variant), with the same overrides.

        Raises:
            InceptgenError: the variant is unknown or does not check; the hint names it.
        """
        try:
            checked = check(self.model, self.overrides, self.limits, name)
        except InceptgenError as exc:
            if name is not None and exc.hint is None:
                exc.hint = f"in variant {name!r} (inceptgen check --variant {name})"
            raise
        return Spec(checked, self.source_name, self.overrides, self.limits)

    @property
    def model(self):
        return self.checked.model

    @property
    def warnings(self):
        return self.checked.model.warnings

    def summary(self) -> dict[str, Any]:
        """Per-node shapes, parameters and MACs with totals (the `summary --format json` document)."""
        from inceptgen.summary import summary_dict

        return summary_dict(self.checked)

    @functools.cache  # noqa: B019 - a Spec is immutable; caching per instance is the point
    def source(self, target: str, optimize: bool = False) -> str:
        """The generated Python module for `target` (see `inceptgen.targets`)."""
        from inceptgen.emit import emit

        return emit(self.checked, target, source_name=self.source_name, optimize=optimize)

    def to_torch(self, optimize: bool = False):
        """A live `torch.nn.Module`, built by executing the generated source."""
        from inceptgen.runtime.build import build_model

        return build_model(self.source("torch", optimize), "torch", self.model.name)

    def to_keras(self, optimize: bool = False, aux_outputs: bool = False, reference: Any = None):
        """A live `keras.Model`, built by executing the generated source.

        Args:
            optimize: build from the `--optimize` source (for inference).
            aux_outputs: also output the auxiliary heads (for training), as [main, aux...].
            reference: with `optimize`, a plain build of this spec whose weights the model
                takes (batch-norms folded, fused convs stacked; see the generated `load_reference`).
        """
        from inceptgen.runtime.build import build_model, load_module

        extra = {"aux_outputs": True} if aux_outputs and self.model.auxes else {}
        model = build_model(self.source("keras", optimize), "keras", self.model.name, **extra)
        if reference is not None:
            if not optimize:
                raise InceptgenError("to_keras(reference=...) gives a plain build's weights to optimize=True")
            load_module(self.source("keras", True), "keras").load_reference(model, reference)
        return model


def parse_overrides(pairs: list[str] | Mapping[str, object]) -> dict[str, ex.Value]:
    """`["classes=10", "input=3x64x64"]` (or a mapping) -> parameter values."""
    if isinstance(pairs, Mapping):
        return {k: _coerce(k, v) for k, v in pairs.items()}
    values: dict[str, ex.Value] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise InceptgenError(f"--set expects name=value, got {pair!r}")
        if not text.strip():
            raise InceptgenError(f"--set {name.strip()}= has no value", hint=f"for example --set {name.strip()}=10")
        values[name.strip()] = ex.evaluate(parse_expr(text.strip()), {})
    return values


def _coerce(name: str, value: object) -> ex.Value:
    if isinstance(value, list | tuple):
        return tuple(int(v) for v in value)
    if isinstance(value, str):
        return ex.evaluate(parse_expr(value), {})
    if not isinstance(value, bool | int | float):
        raise InceptgenError(f"parameter {name}: unsupported value {value!r}", hint="give a number, bool, size or str")
    return value


def load(
    path_or_text: str | Path,
    limits: Limits = Limits(),
    overrides: Mapping[str, object] | None = None,
    variant: str | None = None,
    **params: object,
) -> Spec:
    """Parse, lower and check a spec.

    Args:
        path_or_text: a `.incept` file, `@name` for a stdlib spec, or spec text itself.
        limits: safety caps.
        overrides: model parameter values by name; the way to set a parameter that is
            itself named `limits`, `overrides` or `variant`.
        variant: one of the spec's `variant`s; its values come before `overrides`.
        **params: model parameter values, e.g. `classes=10, input=(3, 32, 32)`.

    Returns:
        The checked `Spec`.

    Raises:
        InceptgenError: the spec is wrong (with file, line and column).
    """
    loader = Loader(limits, stdlib_path)
    text_given = isinstance(path_or_text, str) and ("\n" in path_or_text or "{" in path_or_text)
    if text_given:
        file, module = "<spec>", loader.load_text(str(path_or_text), "<spec>")
    else:
        path = resolve_spec_path(str(path_or_text))
        file, module = str(path), loader.load_path(path)
    model = lower(module, loader)
    values = parse_overrides({**(overrides or {}), **params})
    return Spec(check(model, values, limits, variant), file, values, limits)
