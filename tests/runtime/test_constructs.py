"""The covering set of specs that the slow paths (ONNX, the other Keras backends) run."""

from __future__ import annotations

import inceptgen
from inceptgen.stdlib import list_specs
from tests.runtime.constructs import TRAPS, constructs, covering, covering_specs, covering_stdlib


def test_the_covering_specs_use_every_construct_of_the_library() -> None:
    chosen = covering_stdlib(list_specs())
    every = set().union(*(constructs(inceptgen.load(f"@{name}")) for name in list_specs()))
    assert set().union(*(constructs(inceptgen.load(f"@{name}")) for name in chosen)) == every
    assert len(chosen) < len(list_specs())


def test_the_covering_specs_with_the_traps_use_every_construct_and_fewer_layers() -> None:
    refs = [f"@{name}" for name in list_specs()] + [str(path) for path in TRAPS]
    chosen = covering_specs()
    every = set().union(*(constructs(inceptgen.load(ref)) for ref in refs))
    assert set().union(*(constructs(inceptgen.load(ref)) for ref in chosen)) == every
    layers = {ref: len(inceptgen.load(ref).checked.nodes) for ref in refs}
    stdlib_only = covering_stdlib(list_specs())
    assert sum(layers[ref] for ref in chosen) < sum(layers[f"@{name}"] for name in stdlib_only)


def test_constructs_tell_apart_what_the_programs_branch_on() -> None:
    plain = "model m(input = 3x16x16)\nstage s { conv 3x3 -> 4 }\nhead { global_avgpool; linear -> 2 }\n"
    same_strided = plain.replace("conv 3x3 -> 4", "conv 3x3 -> 4 stride 2 pad same")
    grouped = plain.replace("conv 3x3 -> 4", "conv 3x3 -> 6 groups 3")
    seen = [constructs(inceptgen.load(text)) for text in (plain, same_strided, grouped)]
    assert ("conv", "pad at stride", "same", "more") in seen[1] - seen[0]
    assert ("conv", "groups", "more") in seen[2] - seen[0]
    # the same layers in other numbers are the same constructs
    wider = plain.replace("-> 4", "-> 40").replace("-> 2", "-> 7")
    assert constructs(inceptgen.load(wider)) == seen[0]


def test_a_spec_with_a_construct_of_its_own_is_always_chosen() -> None:
    shared = (
        "model {name}(input = 3x16x16)\nstage s {{ conv 3x3 -> 4{extra} }}\nhead {{ global_avgpool; linear -> 2 }}\n"
    )
    refs = tuple(shared.format(name=f"m{i}", extra="") for i in range(3)) + (
        shared.format(name="odd", extra="; maxpool 2x2 stride 2"),
    )
    chosen = covering(refs)
    assert refs[-1] in chosen and len(chosen) == 1
