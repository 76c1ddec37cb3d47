"""Plain decimal numbers from user text, and short quotes of that text for messages."""

import pytest

from jacviz.support.text_input import (
    NumberError,
    one_line,
    parse_integer,
    parse_numbers,
    parse_real,
    printable,
    quote,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1.0),
        ("-1.5", -1.5),
        ("+2", 2.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e5", 1e5),
        (" 1e5 ", 1e5),
        ("\t-2.5E-3\n", -2.5e-3),
        ("1e-400", 0.0),  # underflows to zero: a plain decimal, just a small one
        ("0.1000000000000000055511151231257827021181583404541015625", 0.1),
    ],
)
def test_plain_decimal_forms_are_read(text, value):
    assert parse_real(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "1_0",  # Python's digit grouping
        "１",  # full-width digit
        "١٢",  # Arabic-Indic digits
        "inf",
        "-Infinity",
        "nan",
        "NaN",
        "0x10",
        "1e",
        "e5",
        "--1",
        "1,0",
        "",
        "   ",
        "\u00a01",  # a no-break space is not a space between numbers and options
        "1 2",
        "1.5.2",
    ],
)
def test_python_only_spellings_are_refused(text):
    with pytest.raises(NumberError, match="not a plain decimal number"):
        parse_real(text)


def test_numbers_too_large_for_a_double_are_refused():
    with pytest.raises(NumberError, match="too large"):
        parse_real("1e309")
    with pytest.raises(NumberError, match="too large"):
        parse_real("9" * 400)


@pytest.mark.parametrize(("text", "value"), [("12", 12), ("-3", -3), ("+4", 4), (" 5 ", 5)])
def test_whole_numbers_are_read(text, value):
    assert parse_integer(text) == value


@pytest.mark.parametrize("text", ["1.0", "1e3", "１２", "1_000", "0x10", "", "inf", "2 3"])
def test_whole_numbers_refuse_anything_else(text):
    with pytest.raises(NumberError, match="not a whole number"):
        parse_integer(text)


def test_whole_numbers_with_thousands_of_digits_are_refused_at_once():
    with pytest.raises(NumberError, match="too many digits"):
        parse_integer("9" * 5000)


def test_lists_of_numbers():
    assert parse_numbers("1, 2,3e1") == [1.0, 2.0, 30.0]
    assert parse_numbers("4,5", parse_integer) == [4, 5]
    with pytest.raises(NumberError, match="'1_0' is not a plain decimal"):
        parse_numbers("1,1_0")
    with pytest.raises(NumberError, match="empty"):
        parse_numbers("1,,2")
    with pytest.raises(NumberError, match="empty"):
        parse_numbers("")


def test_error_messages_quote_long_input_shortened():
    with pytest.raises(NumberError) as error:
        parse_real("x" * 5000)
    assert len(str(error.value)) < 120 and "…" in str(error.value)


def test_quote_shortens_with_an_ellipsis_and_escapes_what_cannot_be_printed():
    assert quote("abc") == "'abc'"
    long = quote("a" * 1000, 20)
    assert len(long) == 20 and long.endswith("…'") and long.startswith("'aaa")
    assert quote("\udcff.png") == "'\\udcff.png'"  # a non-UTF-8 file name's byte, escaped
    assert quote("a\nb") == "'a\\nb'"
    assert "\n" not in quote("x\n" * 100)
    assert quote(10**400, 10) == "1" + "0" * 8 + "…"
    assert quote(1.5) == "1.5" and quote(None) == "None"
    assert quote(10**5000, 100) == "<an integer of 5001 digits>"
    assert quote([0.5] * 10**6) == "<a list of 1000000 items>"
    assert quote([1, 2]) == "[1, 2]"


def test_printable_keeps_plain_names_and_quotes_the_rest():
    assert printable("points.csv") == "points.csv"
    assert printable("\udcff.csv") == "'\\udcff.csv'"
    assert printable("a\tb") == "'a\\tb'"
    assert len(printable("n" * 300)) == 40


def test_one_line_collapses_and_caps():
    assert one_line("a\nb\r\nc") == "a b  c"
    assert one_line("a\u2028b\tc\x85d") == "a b c d"
    assert one_line("red \x1b[31m \udcff.png σ…") == "red \\x1b[31m \\udcff.png σ…"
    capped = one_line("z" * 10_000, 100)
    assert len(capped) == 100 and capped.endswith("…")
    assert one_line("") == ""
