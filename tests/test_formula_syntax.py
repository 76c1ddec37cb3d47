"""The formula's first stage without sympy, and formula maps parsed on first use.

``count_outputs`` (guards and Python's parser) must refuse exactly as ``parse_formula`` does
whatever it refuses, and count what it accepts as ``parse_formula`` does; a map made from
trusted text (``isolated=False``) parses once, on first use, from any thread, and a text that
does not parse raises the same one-line error at every use. Importing the formula package and
making such a map imports no sympy (checked in a clean process).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from test_formula import ERRORS, FUZZ_HOSTILE

import jacviz.math.maps as maps
from jacviz.math.formula import MAX_OUTPUTS, FormulaError, count_outputs, parse_formula
from jacviz.math.maps import FormulaMap
from jacviz.math.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]

ACCEPTED = [p.formula for p in PRESETS] + [
    "x",
    "(x, y)",
    "x,\n y",
    ", ".join(["x"] * MAX_OUTPUTS),
    "relu(x - 1), sigmoid(y)*tanh(x), hypot(x, y)",
]
SAMPLES = (
    [text for text, _ in ERRORS]
    + FUZZ_HOSTILE
    + [
        "",
        "   ",
        "x,",
        "x, , y",
        ", ".join(["x"] * (MAX_OUTPUTS + 1)),
        "(" * 40 + "x" + ")" * 40,
        "x +* y",
        "foo(x), y",
        "9**9**9**9, y",
        "x" * 3000,
    ]
)


@pytest.mark.parametrize("text", ACCEPTED)
def test_outputs_are_counted_as_the_parser_counts_them(text: str) -> None:
    assert count_outputs(text) == parse_formula(text).output_dim


@pytest.mark.parametrize("text", SAMPLES, ids=[repr(t[:25]) for t in SAMPLES])
def test_the_first_stage_refuses_as_the_parser_does_and_counts_as_it_does(text: str) -> None:
    try:
        counted: int | FormulaError = count_outputs(text)
    except FormulaError as error:
        counted = error
    try:
        parsed: int | FormulaError = parse_formula(text).output_dim
    except FormulaError as error:
        parsed = error
    if isinstance(counted, FormulaError):  # then the parser refuses it, with the same words
        assert isinstance(parsed, FormulaError)
        assert (counted.message, counted.column) == (parsed.message, parsed.column)
    elif isinstance(parsed, int):
        assert counted == parsed


def test_the_first_stage_refuses_syntax_and_output_counts_itself() -> None:
    refused_first = [
        "",
        "x,",
        "x +* y",
        "x # y",
        ", ".join(["x"] * (MAX_OUTPUTS + 1)),
        "(" * 40 + "x" + ")" * 40,
    ]
    for text in refused_first:
        with pytest.raises(FormulaError):
            count_outputs(text)
    with pytest.raises(TypeError):
        count_outputs(b"x, y")  # type: ignore[arg-type]


def test_a_trusted_map_parses_on_first_use_and_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import jacviz.math.formula as formula_package

    calls: list[str] = []
    real = formula_package.parse_formula
    monkeypatch.setattr(formula_package, "parse_formula", lambda t: calls.append(t) or real(t))
    map_ = FormulaMap.from_text("x**2 + y, x*y, sin(x)", isolated=False)
    assert (map_.output_dim, map_.input_dim, map_.name) == (3, 2, "x**2 + y, x*y, sin(x)")
    assert calls == [] and not map_.prepared
    results: list[tuple[np.ndarray, np.ndarray]] = []
    points = np.array([[1.0, 2.0], [-0.5, 0.25]])
    start = threading.Barrier(8)

    def use() -> None:
        start.wait()
        results.append(map_.evaluate_with_jacobian(points))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert calls == ["x**2 + y, x*y, sin(x)"] and map_.prepared and len(results) == 8
    values, jacobian = results[0]
    np.testing.assert_array_equal(values[0], [3.0, 2.0, np.sin(1.0)])
    np.testing.assert_array_equal(jacobian[0], [[2.0, 1.0], [2.0, 1.0], [np.cos(1.0), 0.0]])
    for other in results[1:]:
        np.testing.assert_array_equal(other[0], values)
        np.testing.assert_array_equal(other[1], jacobian)


def test_a_trusted_text_that_does_not_parse_fails_at_every_use_in_one_line() -> None:
    with pytest.raises(FormulaError):
        FormulaMap.from_text("x +* y", isolated=False)  # syntax: at once
    map_ = FormulaMap.from_text("foo(x), y", isolated=False)  # a name: on first use
    assert map_.output_dim == 2
    for use in (map_.prepare, lambda: map_.evaluate([[0.0, 0.0]]), lambda: map_.formula):
        with pytest.raises(FormulaError) as error:
            use()
        assert str(error.value) == "unknown function 'foo' at column 1"  # one line
    assert not map_.prepared


def test_a_checked_map_is_parsed_at_once_and_maps_of_one_text_are_equal() -> None:
    checked = FormulaMap.from_text("x*y, x - y")  # in a child process, then here
    trusted = FormulaMap.from_text("x*y, x - y", isolated=False)
    assert checked.prepared and not trusted.prepared
    assert checked == trusted and hash(checked) == hash(trusted)
    assert checked != FormulaMap.from_text("x*y, x + y", isolated=False)
    assert repr(trusted) == "FormulaMap('x*y, x - y')"
    np.testing.assert_array_equal(
        checked.evaluate_with_jacobian([[2.0, 3.0]])[1],
        trusted.evaluate_with_jacobian([[2.0, 3.0]])[1],
    )
    with pytest.raises(FormulaError, match="unknown function"):
        FormulaMap.from_text("foo(x), y")
    assert maps.FORMULA_TIME_LIMIT > 0


@pytest.mark.timeout(120)
def test_importing_formulas_and_making_a_trusted_map_imports_no_sympy() -> None:
    script = (
        "import sys\n"
        "from jacviz.math.formula import FormulaError, count_outputs, MAX_TEXT_LENGTH\n"
        "from jacviz.math.maps import FormulaMap, require_planar\n"
        "import jacviz.state.view, jacviz.math.grid, jacviz.math.presets\n"
        "m = FormulaMap.from_text('x**2 + y, x*y', isolated=False)\n"
        "require_planar(m)\n"
        "print('sympy' in sys.modules, m.output_dim)\n"
        "m.prepare()\n"
        "print('sympy' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=110
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "2", "True"]
