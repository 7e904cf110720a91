"""Names that reach generated code: identifiers, keywords, members of torch.nn.Module."""

from __future__ import annotations

import pytest

from inceptgen.errors import SpecNameError
from inceptgen.names import KEYWORDS, RESERVED_MEMBERS, check_identifier


def test_every_public_module_member_is_reserved() -> None:
    """A layer named like an nn.Module member (`forward`, `compile`, `to`) would replace it.

    The list is written out (check must not import torch); this compares it with the
    installed torch, so an upgrade that adds a member fails here.
    """
    from torch import nn

    members = {name for name in dir(nn.Module) if not name.startswith("_")}
    assert members - RESERVED_MEMBERS == set()
    assert {"training", "out_channels"} <= RESERVED_MEMBERS


@pytest.mark.parametrize("name", sorted(KEYWORDS))
def test_a_block_cannot_be_named_like_a_word_of_the_language(name: str) -> None:
    with pytest.raises(SpecNameError, match="word of the language"):
        check_identifier(name, None, "block")


@pytest.mark.parametrize("name", ["relu_", "conv2", "Stem", "b35"])
def test_plain_names_pass(name: str) -> None:
    assert check_identifier(name, None, "block") == name


def test_every_name_the_templates_define_is_kept_clear_of() -> None:
    """A block or model named like a generated helper (`lazy_layer_scale` -> `LazyLayerScale`) would replace it."""
    import re
    from pathlib import Path

    from inceptgen.emit.scopes import TARGET_NAMES

    templates = Path(__file__).resolve().parents[1] / "templates"
    defined = {
        match
        for path in templates.rglob("*.j2")
        for match in re.findall(r"^(?:class|def) (\w+)", path.read_text(encoding="utf-8"), re.M)
    }
    assert {"ConvNormAct", "LazyLayerScale", "conv_norm_act"} <= defined  # the pattern finds them
    assert defined - TARGET_NAMES == set()
