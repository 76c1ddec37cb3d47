"""A formula that passed its check in a child process is not checked again, at the same limit."""

import pytest

from jacviz.gui.mapview import openings
from jacviz.math import maps
from jacviz.math.formula import FormulaError


@pytest.fixture
def checks(monkeypatch):
    """The formulas sent to the child-process check, in order (the check still runs)."""
    sent = []
    check = maps.check_formula

    def counting(text, time_limit=None):
        sent.append(text)
        check(text, time_limit)

    monkeypatch.setattr(maps, "check_formula", counting)
    monkeypatch.setattr(openings, "_remembered", type(openings._remembered)())
    return sent


def test_a_checked_formula_is_shown_again_without_a_new_check(checks, monkeypatch):
    first = openings.checked_formula("x*y + 1/3, y - x")
    again = openings.checked_formula("x*y + 1/3, y - x")
    assert again is first and checks == ["x*y + 1/3, y - x"]
    # A different limit is a different check: what passed under 3 s may not under 0.001 s.
    monkeypatch.setattr(maps, "FORMULA_TIME_LIMIT", maps.FORMULA_TIME_LIMIT / 2)
    openings.checked_formula("x*y + 1/3, y - x")
    assert len(checks) == 2


def test_a_refused_formula_is_checked_each_time(checks):
    for _ in range(2):
        with pytest.raises(FormulaError):
            openings.checked_formula("x +* y, y")
    assert len(checks) == 2


def test_only_the_latest_formulas_are_kept(checks, monkeypatch):
    monkeypatch.setattr(openings, "REMEMBERED_FORMULAS", 2)
    for k in (1, 2, 3):
        openings.checked_formula(f"x + {k}, y")
    openings.checked_formula("x + 3, y")  # kept
    openings.checked_formula("x + 1, y")  # forgotten: checked again
    assert checks == ["x + 1, y", "x + 2, y", "x + 3, y", "x + 1, y"]
