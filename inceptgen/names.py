"""Names that reach generated code: validation, and one unique namespace per file.

Only plain ASCII identifiers ever reach generated source; everything is checked
here, so a spec cannot smuggle code into the output through a name.
"""

from __future__ import annotations

import builtins
import difflib
import keyword
import re
from collections.abc import Iterable

from inceptgen.errors import Span, SpecNameError

__all__ = ["check_identifier", "class_name", "Namespace", "RESERVED_MEMBERS", "KEYWORDS", "suggest"]

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

#: Attribute names the generated classes cannot give a layer: every public member of
#: `torch.nn.Module` (torch 2.13; `tests/test_names.py` checks the installed version),
#: `training`, and what the generated code itself stores (`out_channels`). A layer
#: named `forward` or `compile` would break the generated class.
RESERVED_MEMBERS = frozenset(
    """T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double
    dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half
    ipu load_state_dict modules mtia named_buffers named_children named_modules named_parameters parameters
    register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
    register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory state_dict to
    to_empty train type xpu zero_grad training out_channels""".split()
)

#: Words of the language that start a statement or are values: no block may be called so
#: (`gate()` would read as a gate), and `true`/`false` name no parameter.
KEYWORDS = frozenset("concat branch residual shortcut gate repeat defaults true false".split())


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
    if name in ("true", "false") or (what == "block" and name in KEYWORDS):
        raise SpecNameError(f"{what} name {name!r} is a word of the language", span, f"try {name}_")
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


def suggest(name: str, known: Iterable[str]) -> str | None:
    """`did you mean 'conv'?` for a name close to known ones, else None."""
    close = difflib.get_close_matches(name, list(known), n=3)
    return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else None
