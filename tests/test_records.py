"""`@record` behaves as `@dataclass(frozen=True)` does, for classes of none, one and several fields."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass

import pytest

from inceptgen import expr as ex
from inceptgen import ir
from inceptgen import syntax as sx
from inceptgen.records import record


def _pair(fields: dict[str, object]):
    """The same class twice, once as a record and once as a frozen dataclass."""
    made = []
    for decorate in (record, dataclass(frozen=True)):
        namespace = {"__annotations__": {name: "object" for name in fields}, "__module__": __name__}
        namespace.update({name: default for name, default in fields.items() if default is not dataclasses.MISSING})
        made.append(decorate(type("Point", (), namespace)))
    return made


# (case, fields with their defaults or MISSING, the values to build one with, different values)
SHAPES = [
    ("no fields", {}, (), None),
    ("one field", {"x": dataclasses.MISSING}, (1,), (2,)),
    ("two fields", {"x": dataclasses.MISSING, "y": dataclasses.MISSING}, (1, "a"), (1, "b")),
    ("a default", {"x": dataclasses.MISSING, "y": 0.5}, (1,), (1, 0.25)),
    ("nested tuple", {"x": dataclasses.MISSING, "y": dataclasses.MISSING}, ((1, (2, 3)), None), ((1, (2, 4)), None)),
]


@pytest.mark.parametrize(("fields", "values", "other"), [c[1:] for c in SHAPES], ids=[c[0] for c in SHAPES])
def test_a_record_behaves_as_a_frozen_dataclass(fields, values, other) -> None:
    rec, plain = _pair(fields)
    a, b, reference = rec(*values), rec(*values), plain(*values)
    assert repr(a) == repr(reference)
    assert a == b and hash(a) == hash(b)
    assert a != reference, "records of another class are not equal, as dataclasses are not"
    assert [f.name for f in dataclasses.fields(a)] == [f.name for f in dataclasses.fields(reference)]
    if other is not None:
        different = rec(*other)
        assert a != different
        assert repr(different) == repr(plain(*other))
        assert dataclasses.replace(different, **{f.name: getattr(a, f.name) for f in dataclasses.fields(a)}) == a
        name = next(iter(fields))
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(a, name, 3)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(a, name)


def test_fields_left_out_of_repr_or_comparison_stay_out() -> None:
    made = []
    for decorate in (record, dataclass(frozen=True)):
        namespace = {
            "__annotations__": {"x": "int", "note": "str", "cache": "object"},
            "__module__": __name__,
            "note": dataclasses.field(default="", compare=False),
            "cache": dataclasses.field(default=None, repr=False),
        }
        made.append(decorate(type("Noted", (), namespace)))
    rec, plain = made
    assert repr(rec(1, "a", 5)) == repr(plain(1, "a", 5)) == "Noted(x=1, note='a')"
    assert rec(1, "a") == rec(1, "b") and hash(rec(1, "a")) == hash(rec(1, "b"))
    assert rec(1, "a", 5) != rec(1, "a", 6)


@pytest.mark.parametrize("module", [ex, sx, ir], ids=lambda m: m.__name__)
def test_every_node_class_is_a_record(module) -> None:
    classes = [c for c in vars(module).values() if isinstance(c, type) and dataclasses.is_dataclass(c)]
    assert classes
    for cls in classes:
        assert cls.__eq__ is type(ex.Num(1)).__eq__, f"{cls.__name__} compiles its own __eq__"
        assert cls.__dataclass_params__.frozen, cls.__name__


def test_a_node_survives_pickling_equal() -> None:
    node = sx.Layer("conv", ex.Size((3, 3)), ex.Num(8), (sx.Option("relu", None, None),), "c1", None)
    assert pickle.loads(pickle.dumps(node)) == node
