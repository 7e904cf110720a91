"""The fuzz generator's own helpers: its draws and its independent evaluator of spec expressions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.specgen import evaluate, pick

#: Lists whose items equal items of the others (1 == True == 1.0): a draw must keep them apart.
LOOKALIKES = ([True, False], [1, 0], [1.0, 0.0], [(1, 0), (True, False)], ["same"])


@settings(max_examples=30, derandomize=True, database=None)
@given(st.data())
def test_pick_returns_an_item_of_the_list_itself(data: st.DataObject) -> None:
    for items in LOOKALIKES:
        value = pick(data.draw, items)
        assert any(value is item for item in items), (value, items)


def test_evaluate_reads_each_environment_afresh() -> None:
    # The compiled form of a text is cached; its value must not be.
    assert evaluate("p + 1", {"p": 1}) == 2
    assert evaluate("p + 1", {"p": 5}) == 6
    assert evaluate('s == "a" and in.channels > 2', {"s": "a", "in.channels": 3}) is True
    assert evaluate('s == "a" and in.channels > 2', {"s": "b", "in.channels": 3}) is False
    assert evaluate("3x5", {}) == (3, 5)
