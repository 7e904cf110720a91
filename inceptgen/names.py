"""Names that reach generated code: validation, and one unique namespace per file.

Only plain ASCII identifiers ever reach generated source; everything is checked
here, so a spec cannot smuggle code into the output through a name.
"""

from __future__ import annotations

import builtins
import keyword
import re

from inceptgen.errors import Span, SpecNameError

__all__ = ["check_identifier", "class_name", "Namespace", "RESERVED_MEMBERS"]

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

#: Attribute names an `nn.Module` (or a Keras layer) already uses: a layer named
#: `forward` or `training` would break the generated class.
RESERVED_MEMBERS = frozenset(
    """forward training parameters named_parameters modules named_modules children
    named_children buffers state_dict load_state_dict train eval to cuda cpu apply
    register_buffer register_parameter add_module zero_grad requires_grad_ float double
    half type extra_repr out_channels scale call build name weights trainable dtype""".split()
)


def check_identifier(name: str, span: Span | None, what: str) -> str:
    """Refuse a spec name that is not a plain ASCII identifier safe in generated code.

    Raises:
        SpecNameError: with the name received and the rule it breaks.
    """
    if not _IDENT.match(name):
        raise SpecNameError(
            f"{what} name {name!r} is not a plain identifier",
            span,
            "use ASCII letters, digits and '_', starting with a letter",
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise SpecNameError(f"{what} name {name!r} is a Python keyword", span, f"try {name}_")
    if "__" in name:
        raise SpecNameError(f"{what} name {name!r} contains '__'", span, "double underscores are reserved")
    return name


def class_name(name: str) -> str:
    """`inception_a` -> `InceptionA`; `block35` -> `Block35`."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


class Namespace:
    """Hands out unique, valid Python identifiers for one generated file (torch.fx style).

    Keywords and builtins are avoided; collisions get a `_N` suffix.
    """

    def __init__(self, reserved: set[str] | None = None) -> None:
        self._used: set[str] = set(reserved or ())
        self._given: dict[object, str] = {}

    def name(self, wanted: str, key: object | None = None) -> str:
        """A fresh identifier close to `wanted`; the same `key` always gets the same one."""
        if key is not None and key in self._given:
            return self._given[key]
        base = re.sub(r"\W|^(?=\d)", "_", wanted) or "_"
        if keyword.iskeyword(base) or hasattr(builtins, base):
            base += "_"
        candidate, n = base, 1
        while candidate in self._used:
            candidate, n = f"{base}_{n}", n + 1
        self._used.add(candidate)
        if key is not None:
            self._given[key] = candidate
        return candidate
