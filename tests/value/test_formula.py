"""The value-metric formula language (apps/value/formula.py): pure Python, no database."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.common.exceptions import DomainError
from apps.value.formula import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_TOKENS,
    PRECISION,
    FormulaError,
    duration_to_seconds,
    evaluate,
    parse,
    tokenize,
)

D = Decimal


# ------------------------------------------------------------------------------------------- the quickstart


QUICKSTART = {
    "model": "gpt-4o",
    "tokens": 350,
    "time_saved": 3,
    "time_saved_unit": "minutes",
    "money_saved": 1500,
}


def test_quickstart_duration_is_normalised_to_seconds_outside_the_formula():
    seconds = duration_to_seconds(QUICKSTART["time_saved"], QUICKSTART["time_saved_unit"])
    assert seconds == D(180)
    assert evaluate("time_saved", {"time_saved": seconds}) == D(180)
    assert evaluate("time_saved / 60", {"time_saved": seconds}) == D(3)


@pytest.mark.parametrize(
    ("amount", "unit", "seconds"),
    [(1, "seconds", D(1)), (2.5, "minutes", D(150)), (D("0.5"), "hours", D(1800)), (1, "days", D(86400))],
)
def test_duration_units(amount, unit, seconds):
    assert duration_to_seconds(amount, unit) == seconds


def test_duration_missing_parts_is_null_and_bad_parts_are_errors():
    assert duration_to_seconds(None, "minutes") is None
    assert duration_to_seconds(3, None) is None
    with pytest.raises(FormulaError, match="unknown duration unit 'weeks'"):
        duration_to_seconds(3, "weeks")
    with pytest.raises(FormulaError, match="must be a number"):
        duration_to_seconds("3", "minutes")


def test_quickstart_conditional_money_saved():
    formula = parse("money_saved > 0 ? money_saved : 0")
    assert formula.variables == ("money_saved",)
    assert formula.evaluate(QUICKSTART) == D(1500)
    assert formula.evaluate({"money_saved": -20}) == D(0)
    assert formula.evaluate({}) is None  # a signal without the field delivers no value
    assert parse("coalesce(money_saved, 0)").evaluate({}) == D(0)


def test_variables_in_order_of_first_use_without_functions_or_keywords():
    formula = parse("round(b * a, 2) + coalesce(c, a) > 0 and not flag ? 'x' : null")
    assert formula.variables == ("b", "a", "c", "flag")
    assert parse("1 + 2").variables == ()


# ------------------------------------------------------------------------------------------- semantics


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # literals
        ("42", D(42)),
        ("0.10", D("0.10")),
        ('"a\\"b"', 'a"b'),
        ("'a\\\\b'", "a\\b"),
        ("true", True),
        ("false", False),
        ("null", None),
        # precedence and associativity
        ("1 + 2 * 3", D(7)),
        ("(1 + 2) * 3", D(9)),
        ("10 - 4 - 3", D(3)),
        ("100 / 10 / 5", D(2)),
        ("2 * 3 % 4", D(2)),
        ("2 * (3 % 4)", D(6)),
        ("7 % 4 * 2", D(6)),
        ("-2 * -3", D(6)),
        ("- - 2", D(2)),
        ("-2 + 5", D(3)),
        ("1 + 2 < 4", True),
        ("not 1 < 2", False),
        ("not true or true", True),
        ("not (true or true)", False),
        ("true or false and false", True),
        ("(true or false) and false", False),
        ("false ? 1 : true ? 2 : 3", D(2)),
        ("true ? false ? 1 : 2 : 3", D(2)),
        ("1 > 0 and 2 > 1 ? 'both' : 'no'", "both"),
        # exact decimal arithmetic
        ("0.1 + 0.2", D("0.3")),
        ("1 / 3 * 3", D("0." + "9" * PRECISION)),  # division rounds to PRECISION digits
        ("-7 % 3", D(-1)),  # sign of the left operand, like Decimal
        ("7 % -3", D(1)),
        # division by zero is null
        ("1 / 0", None),
        ("1 % 0", None),
        ("(1 / 0) + 1", None),
        # comparisons
        ("2 == 2.0", True),
        ("1 == '1'", False),
        ("true == 1", False),
        ("null == null", True),
        ("null != 0", True),
        ("'b' > 'a'", True),
        ("'B' < 'a'", True),
        ("null < 1", None),
        # three-valued logic
        ("null and false", False),
        ("null and true", None),
        ("null or true", True),
        ("null or false", None),
        ("not null", None),
        ("null ? 1 : 2", None),
        ("-null", None),
        # functions
        ("min(3, 1, 2)", D(1)),
        ("max(3, 1, 2)", D(3)),
        ("min(1, null)", None),
        ("abs(-2.5)", D("2.5")),
        ("round(2.5)", D(3)),
        ("round(-2.5)", D(-3)),
        ("round(2.345, 2)", D("2.35")),
        ("round(1234.5, -2)", D(1200)),
        ("round(2, 2)", D(2)),
        ("round(9.995, 2)", D("10.00")),
        ("coalesce(null, null, 'x', 1)", "x"),
        ("coalesce(null)", None),
        ("coalesce(1, 1 + 'never evaluated')", D(1)),
        ("false and 1 + 'never evaluated'", False),
        ("true or 'never' + 1", True),
        ("true ? 1 : 'never' + 1", D(1)),
    ],
)
def test_semantics(expression, expected):
    result = evaluate(expression)
    assert result == expected
    assert type(result) is type(expected)


def test_round_results_keep_the_asked_places():
    assert str(evaluate("round(10 / 3, 2)")) == "3.33"
    assert str(evaluate("round(1234.5, -2)")) == "1200"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, D(3)),
        (2.5, D("2.5")),
        (0.1, D("0.1")),
        (D("1.25"), D("1.25")),
        (True, True),
        ("s", "s"),
        (None, None),
    ],
)
def test_variable_values_are_coerced(value, expected):
    result = evaluate("x", {"x": value})
    assert result == expected
    assert type(result) is type(expected)


def test_missing_variable_is_null_and_unused_variables_are_ignored():
    assert evaluate("x + 1", {"y": [1, 2]}) is None  # y is never read, so its type does not matter


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1], "variable 'x' holds a list"),
        ({"a": 1}, "variable 'x' holds an object"),
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        (D("NaN"), "not a finite number"),
        (object(), "variable 'x' holds object"),
    ],
)
def test_unusable_variable_values(value, message):
    with pytest.raises(FormulaError, match=message):
        evaluate("x", {"x": value})


# ------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("expression", "message", "position"),
    [
        ("", "expected a value, found the end of the expression", 1),
        ("1 +", "expected a value, found the end", 4),
        ("(1 + 2", "expected ')', found the end", 7),
        ("1 + 2)", "expected an operator, found ')'", 6),
        ("1 2", "expected an operator, found '2'", 3),
        ("'it''s'", "expected an operator, found", 5),
        ("a < b < c", "comparisons cannot be chained", 7),
        ("1 < 2 == true", "comparisons cannot be chained", 7),
        ("1.", "malformed number '1.'", 1),
        ("1.2.3", "malformed number '1.2.'", 1),
        ("1e3", "malformed number '1e'", 1),
        ("12abc", "malformed number '12a'", 1),
        (".5", "unexpected '.'", 1),
        ("'abc", "unterminated string", 1),
        ("'a\\nb'", "backslash in a string may only escape", 3),
        ("a && b", "unexpected '&&': use 'and'", 3),
        ("a || b", "unexpected '||': use 'or'", 3),
        ("!a", "unexpected '!': use 'not'", 1),
        ("a = 1", "unexpected '=': use '==' to compare", 3),
        ("2 ** 3", "there is no power operator", 3),
        ("2 ^ 3", "there is no power operator", 3),
        ("a[0]", "no indexing", 2),
        ("data.time_saved", "no attributes or dotted paths", 5),
        ("x ? 1", "expected ':', found the end", 6),
        ("x ? 1 : ", "expected a value", 9),
        ("eval('1')", "unknown function 'eval'", 1),
        ("if(a, 1, 2)", "unknown function 'if': use 'condition ? then : otherwise'", 1),
        ("min", "min is a function", 1),
        ("min()", "min() takes at least 1 argument", 1),
        ("abs(1, 2)", "abs() takes 1 argument, got 2", 1),
        ("round(1, 2, 3)", "round() takes 1 to 2 arguments, got 3", 1),
        ("min(1,)", "expected a value, found ')'", 7),
        ("True", None, None),  # an identifier, not a keyword: parses (the API refuses undeclared variables)
        ("a @ b", "unexpected '@'", 3),
        ("a\u00e9", "unexpected 'é'", 2),
    ],
)
def test_syntax_errors_name_the_position(expression, message, position):
    if message is None:
        assert parse(expression).variables == (expression,)
        return
    with pytest.raises(FormulaError) as info:
        parse(expression)
    assert message in info.value.reason
    assert info.value.position == position
    assert f"(at position {position})" in info.value.message
    assert info.value.code == "INVALID_FORMULA"
    assert info.value.field == "formula.expression"
    assert isinstance(info.value, DomainError)  # the API maps it to a 400 envelope


@pytest.mark.parametrize(
    ("expression", "variables", "message", "position"),
    [
        ("'a' + 1", {}, "'+' needs numbers, got a string and a number", 5),
        ("1 - true", {}, "'-' needs numbers, got a number and a boolean", 3),
        ("x * 2", {"x": "3"}, "'*' needs numbers, got a string and a number", 3),
        ("null + 'a'", {}, "'+' needs numbers, got null and a string", 6),
        ("-'a'", {}, "'-' needs a number, got a string", 1),
        ("not 1", {}, "'not' needs a boolean, got a number", 1),
        ("1 and true", {}, "'and' needs booleans, got a number", 3),
        ("false or 'yes'", {}, "'or' needs booleans, got a string", 7),
        ("1 ? 2 : 3", {}, "the condition before '?' is a number, not a boolean", 3),
        ("1 < 'a'", {}, "'<' cannot compare a number with a string", 3),
        ("true >= false", {}, "'>=' cannot compare a boolean with a boolean", 6),
        ("abs('a')", {}, "abs() needs numbers, got a string", 1),
        ("max(1, true)", {}, "max() needs numbers, got a boolean", 1),
        ("round(1, 0.5)", {}, "whole number of digits", 1),
        ("round(1, 21)", {}, "between -20 and 20", 1),
        ("1" + "0" * 60 + " % 7", {}, "'%' gives a number too large to compute", 63),
    ],
)
def test_evaluation_type_errors(expression, variables, message, position):
    formula = parse(expression)  # parses fine: types are only known at evaluation
    with pytest.raises(FormulaError) as info:
        formula.evaluate(variables)
    assert message in info.value.reason
    assert info.value.position == position
    assert info.value.field is None  # a data problem, not a wire field


def test_non_string_expression_is_refused():
    with pytest.raises(FormulaError, match="must be a string"):
        parse(42)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- safety & limits


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os')",
        "().__class__",
        "().__class__.__bases__[0].__subclasses__()",
        "x.__class__",
        "open('/etc/passwd')",
        "exec('1')",
        "__builtins__",
        "_",
        "lambda: 1",
        "[c for c in ()]",
        "{}",
        "a; b",
        "`id`",
        "getattr(x, 'y')",
        "import os",
    ],
)
def test_no_python_is_reachable(expression):
    with pytest.raises(FormulaError):
        parse(expression).evaluate({"x": 1, "a": 1, "b": 1, "lambda": 1})


def test_names_are_only_looked_up_in_the_variables():
    # A name that would be a Python builtin is just a (missing) variable.
    assert evaluate("len") is None
    assert evaluate("print", {"print": 3}) == D(3)


def test_length_limit_is_checked_first_and_fast():
    started = time.monotonic()
    with pytest.raises(FormulaError, match=f"longer than {MAX_LENGTH}"):
        parse("(" * 1_000_000)
    assert time.monotonic() - started < 0.5
    parse("1" * MAX_LENGTH)


def test_token_limit():
    at_limit = "-" + " + ".join(["1"] * (MAX_TOKENS // 2))
    assert len(tokenize(at_limit)) == MAX_TOKENS + 1  # plus the end token
    assert evaluate(at_limit) == D(MAX_TOKENS // 2 - 2)
    with pytest.raises(FormulaError, match=f"more than {MAX_TOKENS} tokens"):
        parse(at_limit + " + 1")


@pytest.mark.parametrize(
    ("opening", "closing"),
    [("(", ")"), ("-", ""), ("not ", ""), ("abs(", ")"), ("true ? ", " : 0"), ("coalesce(null, ", ")")],
)
def test_nesting_limit_refuses_without_recursion_error(opening, closing):
    def nested(depth):
        return opening * depth + "1" + closing * depth

    parse(nested(MAX_DEPTH - 1))  # the top level counts as one
    with pytest.raises(FormulaError, match=f"nested more than {MAX_DEPTH} levels deep"):
        parse(nested(MAX_DEPTH))
    with pytest.raises(FormulaError):
        parse(nested(300))  # far below the recursion limit's reach, and still just a FormulaError


def test_deepest_formula_parses_and_evaluates_on_a_crowded_stack():
    expression = "(" * (MAX_DEPTH - 2) + "-x" + ")" * (MAX_DEPTH - 2)  # the top level and '-' count too

    def at_depth(n):
        return at_depth(n - 1) if n else parse(expression).evaluate({"x": 1})

    limit = sys.getrecursionlimit()
    assert at_depth(limit - 600) == D(-1)  # leaves the formula fewer than 600 frames


def test_long_flat_chains_do_not_recurse():
    expression = " - ".join(["x"] * 250)
    assert evaluate(expression, {"x": 1}) == D(1 - 249)
    assert evaluate(" or ".join(["false"] * 150 + ["true"])) is True


# ------------------------------------------------------------------------------------------- property tests


@dataclass(frozen=True)
class Num:
    value: Decimal


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Neg:
    operand: object


@dataclass(frozen=True)
class Bin:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Fn:
    name: str
    args: tuple


VALUES = {"a": D("2.5"), "b": D(-3), "c": D(0), "d": D("0.001")}
PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "%": 2}

literals = st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False, allow_infinity=False).map(
    lambda d: Num(abs(d))  # literals are unsigned; negatives come from Neg
)
leaves = st.one_of(literals, st.sampled_from(sorted(VALUES)).map(Var))


def _extend(children):
    return st.one_of(
        st.builds(Bin, st.sampled_from(sorted(PRECEDENCE)), children, children),
        st.builds(Neg, children),
        st.builds(Fn, st.sampled_from(["min", "max"]), st.lists(children, min_size=1, max_size=3).map(tuple)),
        st.builds(Fn, st.just("abs"), st.tuples(children)),
        st.builds(lambda x, n: Fn("round", (x, Num(D(n)))), children, st.integers(0, 4)),
    )


trees = st.recursive(leaves, _extend, max_leaves=12)


class Undefined(Exception):
    pass


def direct(tree) -> Decimal | None:
    """The tree's value by plain Decimal arithmetic (None when a division by zero happens on the way)."""
    match tree:
        case Num(value=value):
            return value
        case Var(name=name):
            return VALUES[name]
        case Neg(operand=operand):
            value = direct(operand)
            return None if value is None else -value
        case Fn(name=name, args=args):
            values = [direct(arg) for arg in args]
            if any(v is None for v in values):
                return None
            if name == "abs":
                return abs(values[0])
            if name == "round":
                return values[0].quantize(D(1).scaleb(-int(values[1])), rounding="ROUND_HALF_UP")
            return min(values) if name == "min" else max(values)
        case Bin(op=op, left=left, right=right):
            x, y = direct(left), direct(right)
            if x is None or y is None:
                return None
            if op in "/%" and y == 0:
                return None
            if op == "+":
                return x + y
            if op == "-":
                return x - y
            if op == "*":
                return x * y
            return x / y if op == "/" else x % y
    raise AssertionError(tree)


def render_full(tree) -> str:
    """Every operation parenthesised."""
    match tree:
        case Num(value=value):
            return format(value, "f")
        case Var(name=name):
            return name
        case Neg(operand=operand):
            return f"(-{render_full(operand)})"
        case Fn(name=name, args=args):
            return f"{name}({', '.join(render_full(a) for a in args)})"
        case Bin(op=op, left=left, right=right):
            return f"({render_full(left)} {op} {render_full(right)})"
    raise AssertionError(tree)


def render_minimal(tree, spaces: bool = True) -> str:
    """Only the parentheses precedence and left-associativity require."""
    match tree:
        case Num() | Var() | Fn():
            if isinstance(tree, Fn):
                return f"{tree.name}({','.join(render_minimal(a, spaces) for a in tree.args)})"
            return render_full(tree)
        case Neg(operand=operand):
            inner = render_minimal(operand, spaces)
            return f"-{inner}" if isinstance(operand, Num | Var | Fn | Neg) else f"-({inner})"
        case Bin(op=op, left=left, right=right):
            mine = PRECEDENCE[op]
            left_text = render_minimal(left, spaces)
            if isinstance(left, Bin) and PRECEDENCE[left.op] < mine:
                left_text = f"({left_text})"
            right_text = render_minimal(right, spaces)
            if isinstance(right, Bin) and PRECEDENCE[right.op] <= mine:
                right_text = f"({right_text})"
            gap = " " if spaces else ""
            return f"{left_text}{gap}{op}{gap}{right_text}"
    raise AssertionError(tree)


def _expected(tree):
    with localcontext(prec=PRECISION) as context:
        context.traps[InvalidOperation] = True
        context.traps[DivisionByZero] = True
        try:
            return direct(tree)
        except InvalidOperation:
            return Undefined


@settings(max_examples=400, deadline=None)
@given(trees, st.booleans())
def test_evaluation_agrees_with_decimal_arithmetic(tree, spaces):
    expected = _expected(tree)
    for text in (render_full(tree), render_minimal(tree, spaces)):
        formula = parse(text)
        if expected is Undefined:
            with pytest.raises(FormulaError):
                formula.evaluate(VALUES)
        else:
            assert formula.evaluate(VALUES) == expected, text
        assert set(formula.variables) <= set(VALUES)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_formula_error(text):
    error = None
    try:
        parse(text).evaluate({})
    except FormulaError as exc:
        error = exc
    if error is not None:
        assert error.position is None or 1 <= error.position <= len(text) + 1


alphabet = st.sampled_from([*"0123456789.+-*/%()<>=!?:, ", "and", "or", "not", "x", "null", "min", "'s'"])


@settings(max_examples=300, deadline=None)
@given(st.lists(alphabet, max_size=30).map(" ".join))
def test_token_soup_never_crashes(text):
    try:
        result = parse(text).evaluate({"x": D(2)})
    except FormulaError:
        return
    assert result is None or isinstance(result, Decimal | bool | str)
