"""The safe expression language of value-metric formulas: a hand-written tokenizer and recursive-descent parser.

`parse(expression)` validates once and returns a `Formula`; `Formula.evaluate(variables)` computes a
`Decimal | bool | str | None`. Nothing here calls `eval`, `compile` or `ast`, and nothing reads attributes of
Python objects: identifiers are looked up in the `variables` dict and nowhere else. docs/value.md ("Formulas")
has the user-facing grammar and semantics; in short:

    ternary    := or_expr ["?" ternary ":" ternary]          (right-associative)
    or_expr    := and_expr {"or" and_expr}                   (short-circuit, three-valued)
    and_expr   := not_expr {"and" not_expr}
    not_expr   := "not" not_expr | comparison
    comparison := additive [("<"|"<="|">"|">="|"=="|"!=") additive]   (not chainable)
    additive   := term {("+"|"-") term}                      (left-associative)
    term       := unary {("*"|"/"|"%") unary}
    unary      := "-" unary | primary
    primary    := NUMBER | STRING | "true" | "false" | "null" | NAME | NAME "(" [args] ")" | "(" ternary ")"

- Numbers are exact `Decimal`s; arithmetic runs in a 50-digit context (half-even), so only division rounds.
- `null` (a missing variable included) propagates through arithmetic, ordering comparisons, `not`, functions
  other than `coalesce`, and as the condition of `?:`: a signal without the field delivers no value.
- Division or remainder by zero is `null`, not an error (same reason). Type mistakes (`"a" + 1`, `1 and true`)
  raise `FormulaError` naming the operator's position.
- Limits: `MAX_LENGTH` characters, `MAX_TOKENS` tokens, `MAX_DEPTH` levels of nesting; all refused before any
  deep recursion can happen.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from typing import Any

from apps.common.exceptions import DomainError

MAX_LENGTH = 2000
MAX_TOKENS = 500
MAX_DEPTH = 32
PRECISION = 50
MAX_ROUND_DIGITS = 20

CONTEXT = Context(
    prec=PRECISION, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)

# Seconds per duration unit (contract §3.12 `Unit.durationUnit`; the quickstart's `time_saved_unit` values).
DURATION_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}

Value = Decimal | bool | str | None


class FormulaError(DomainError):
    """A formula that cannot be parsed, or a value it cannot compute (`position` is 1-based, or None)."""

    def __init__(
        self, message: str, position: int | None = None, *, field: str | None = "formula.expression"
    ):
        text = message if position is None else f"{message} (at position {position})"
        super().__init__(text, code="INVALID_FORMULA", field=field)
        self.reason = message
        self.position = position


# ---------------------------------------------------------------------------------------------------- tokens

KEYWORDS = frozenset({"true", "false", "null", "and", "or", "not"})
_OPERATORS = ("<=", ">=", "==", "!=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ",", "?", ":")
_HINTS = {
    "&&": "use 'and'",
    "||": "use 'or'",
    "!": "use 'not' (or '!=')",
    "=": "use '==' to compare",
    ".": "formulas have no attributes or dotted paths; name a data field as a variable",
    "_": "names start with a letter",
    "[": "formulas have no indexing",
    "]": "formulas have no indexing",
    "^": "there is no power operator",
    "**": "there is no power operator",
}
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_SPACE = re.compile(r"[ \t\r\n]+")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "number" | "string" | "name" | "keyword" | "op" | "end"
    text: str
    position: int  # 1-based
    value: Any = None


def tokenize(expression: str) -> list[Token]:
    """The tokens of `expression`, ending with an "end" token; FormulaError on the first bad character."""
    if not isinstance(expression, str):
        raise FormulaError("the expression must be a string")
    if len(expression) > MAX_LENGTH:
        raise FormulaError(f"the expression is longer than {MAX_LENGTH} characters")
    tokens: list[Token] = []
    i, n = 0, len(expression)
    while i < n:
        if m := _SPACE.match(expression, i):
            i = m.end()
            continue
        if len(tokens) >= MAX_TOKENS:
            raise FormulaError(f"the expression has more than {MAX_TOKENS} tokens", i + 1)
        char = expression[i]
        if m := _NUMBER.match(expression, i):
            end = m.end()
            if end < n and (expression[end] == "." or expression[end].isalpha() or expression[end] == "_"):
                raise FormulaError(f"malformed number {expression[i : end + 1]!r}", i + 1)
            tokens.append(Token("number", m.group(), i + 1, Decimal(m.group())))
            i = end
        elif m := _NAME.match(expression, i):
            word = m.group()
            tokens.append(Token("keyword" if word in KEYWORDS else "name", word, i + 1))
            i = m.end()
        elif char in "\"'":
            i = _string(expression, i, tokens)
        else:
            two = expression[i : i + 2]
            op = two if two in _OPERATORS else char if char in _OPERATORS else None
            if op is None:
                bad = two if two in _HINTS else char
                hint = _HINTS.get(bad)
                raise FormulaError(f"unexpected {bad!r}" + (f": {hint}" if hint else ""), i + 1)
            if op == "*" and two == "**":
                raise FormulaError(f"unexpected '**': {_HINTS['**']}", i + 1)
            tokens.append(Token("op", op, i + 1))
            i += len(op)
    tokens.append(Token("end", "", n + 1))
    return tokens


def _string(expression: str, start: int, tokens: list[Token]) -> int:
    """Read the string literal opening at `start`; `\\` escapes only a quote or a backslash."""
    quote = expression[start]
    chars: list[str] = []
    i = start + 1
    while i < len(expression):
        char = expression[i]
        if char == quote:
            tokens.append(Token("string", expression[start : i + 1], start + 1, "".join(chars)))
            return i + 1
        if char == "\\":
            following = expression[i + 1 : i + 2]
            if following not in ("\\", "'", '"'):
                raise FormulaError("a backslash in a string may only escape a quote or a backslash", i + 1)
            chars.append(following)
            i += 2
            continue
        chars.append(char)
        i += 1
    raise FormulaError("unterminated string", start + 1)


# ---------------------------------------------------------------------------------------------------- tree


@dataclass(frozen=True, slots=True)
class Literal:
    value: Value
    position: int


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    position: int


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" | "not"
    operand: Node
    position: int


@dataclass(frozen=True, slots=True)
class Chain:
    """`first op1 x1 op2 x2 …` for a left-associative level (+ -, * / %), evaluated in a loop."""

    first: Node
    rest: tuple[tuple[str, int, Node], ...]  # (op, position, operand)
    position: int


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Node
    right: Node
    position: int


@dataclass(frozen=True, slots=True)
class Logical:
    op: str  # "and" | "or"
    operands: tuple[Node, ...]
    position: int


@dataclass(frozen=True, slots=True)
class Conditional:
    condition: Node
    then: Node
    otherwise: Node
    position: int


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Node, ...]
    position: int


Node = Literal | Variable | Unary | Chain | Compare | Logical | Conditional | Call

# name -> (min args, max args or None)
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1),
    "coalesce": (1, None),
    "max": (1, None),
    "min": (1, None),
    "round": (1, 2),
}
_FUNCTION_HINTS = {"if": "use 'condition ? then : otherwise'"}
_COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!="})


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.variables: dict[str, None] = {}  # insertion-ordered set

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at(self, *texts: str) -> bool:
        return self.token.kind in ("op", "keyword") and self.token.text in texts

    def expect(self, text: str) -> Token:
        if not self.at(text):
            raise FormulaError(f"expected {text!r}, found {_describe(self.token)}", self.token.position)
        return self.advance()

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FormulaError(
                f"the expression is nested more than {MAX_DEPTH} levels deep", self.token.position
            )

    def parse(self) -> Node:
        node = self.ternary()
        if self.token.kind != "end":
            raise FormulaError(f"expected an operator, found {_describe(self.token)}", self.token.position)
        return node

    def ternary(self) -> Node:
        self.nest()
        condition = self.or_expr()
        if self.at("?"):
            position = self.advance().position
            then = self.ternary()
            self.expect(":")
            otherwise = self.ternary()
            condition = Conditional(condition, then, otherwise, position)
        self.depth -= 1
        return condition

    def or_expr(self) -> Node:
        return self._logical("or", self.and_expr)

    def and_expr(self) -> Node:
        return self._logical("and", self.not_expr)

    def _logical(self, op: str, operand: Callable[[], Node]) -> Node:
        first = operand()
        if not self.at(op):
            return first
        position = self.token.position
        operands = [first]
        while self.at(op):
            self.advance()
            operands.append(operand())
        return Logical(op, tuple(operands), position)

    def not_expr(self) -> Node:
        if self.at("not"):
            position = self.advance().position
            self.nest()
            node = Unary("not", self.not_expr(), position)
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        left = self.additive()
        if not self.at(*_COMPARISONS):
            return left
        token = self.advance()
        right = self.additive()
        if self.at(*_COMPARISONS):
            raise FormulaError(
                "comparisons cannot be chained; combine them with 'and' (a < b and b < c)",
                self.token.position,
            )
        return Compare(token.text, left, right, token.position)

    def additive(self) -> Node:
        return self._chain(("+", "-"), self.term)

    def term(self) -> Node:
        return self._chain(("*", "/", "%"), self.unary)

    def _chain(self, ops: tuple[str, ...], operand: Callable[[], Node]) -> Node:
        first = operand()
        rest: list[tuple[str, int, Node]] = []
        while self.at(*ops):
            token = self.advance()
            rest.append((token.text, token.position, operand()))
        return Chain(first, tuple(rest), first.position) if rest else first

    def unary(self) -> Node:
        if self.at("-"):
            position = self.advance().position
            self.nest()
            node = Unary("-", self.unary(), position)
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Node:
        token = self.advance()
        if token.kind in ("number", "string"):
            return Literal(token.value, token.position)
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            return Literal({"true": True, "false": False, "null": None}[token.text], token.position)
        if token.kind == "name":
            if self.at("("):
                return self.call(token)
            if token.text in FUNCTIONS:
                raise FormulaError(f"{token.text} is a function; call it as {token.text}(…)", token.position)
            self.variables.setdefault(token.text, None)
            return Variable(token.text, token.position)
        if token.kind == "op" and token.text == "(":
            node = self.ternary()
            self.expect(")")
            return node
        raise FormulaError(f"expected a value, found {_describe(token)}", token.position)

    def call(self, name: Token) -> Node:
        if name.text not in FUNCTIONS:
            hint = _FUNCTION_HINTS.get(name.text, "functions are " + ", ".join(sorted(FUNCTIONS)))
            raise FormulaError(f"unknown function {name.text!r}: {hint}", name.position)
        self.expect("(")
        args: list[Node] = []
        if not self.at(")"):
            args.append(self.ternary())
            while self.at(","):
                self.advance()
                args.append(self.ternary())
        self.expect(")")
        low, high = FUNCTIONS[name.text]
        if len(args) < low or (high is not None and len(args) > high):
            wanted = f"{low}" if low == high else f"{low} to {high}" if high else f"at least {low}"
            raise FormulaError(
                f"{name.text}() takes {wanted} argument{'' if wanted == '1' else 's'}, got {len(args)}",
                name.position,
            )
        return Call(name.text, tuple(args), name.position)


def _describe(token: Token) -> str:
    return "the end of the expression" if token.kind == "end" else repr(token.text)


# ---------------------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Formula:
    """A parsed, validated expression. `variables` are the names it reads, in order of first use."""

    expression: str
    tree: Node = field(repr=False)
    variables: tuple[str, ...]

    def evaluate(self, variables: dict[str, Any] | None = None) -> Value:
        """The formula's value for these variables (missing ones are null); FormulaError on a type mistake."""
        values = {
            name: _coerce(name, variables[name]) for name in self.variables if name in (variables or {})
        }
        return _Evaluator(values).eval(self.tree)


def parse(expression: str) -> Formula:
    """Validate `expression` once; FormulaError (with a 1-based position) if it is not a formula."""
    parser = _Parser(tokenize(expression))
    tree = parser.parse()
    return Formula(expression=expression, tree=tree, variables=tuple(parser.variables))


def evaluate(expression: str, variables: dict[str, Any] | None = None) -> Value:
    return parse(expression).evaluate(variables)


def duration_to_seconds(amount: Any, unit: Any) -> Decimal | None:
    """`(3, "minutes")` → `Decimal(180)`: how a duration field and its `_unit` field become one variable.

    None when either is missing; FormulaError (field=None) for an unknown unit or a non-number amount."""
    if amount is None or unit is None:
        return None
    value = _coerce("amount", amount)
    if not isinstance(value, Decimal):
        raise FormulaError("a duration must be a number", field=None)
    if unit not in DURATION_SECONDS:
        raise FormulaError(
            f"unknown duration unit {unit!r}; use one of {', '.join(DURATION_SECONDS)}", field=None
        )
    return CONTEXT.multiply(value, Decimal(DURATION_SECONDS[unit]))


def _coerce(name: str, value: Any) -> Value:
    """A variable's Python value (decoded JSON) as a formula value: numbers become exact Decimals."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FormulaError(f"variable {name!r} is not a finite number", field=None)
        return Decimal(repr(value))  # 0.1 → Decimal("0.1"), not the binary expansion
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise FormulaError(f"variable {name!r} is not a finite number", field=None)
        return value
    raise FormulaError(
        f"variable {name!r} holds {_kind(value)}; formulas take numbers, strings, booleans or null",
        field=None,
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, Decimal)


class _Evaluator:
    def __init__(self, values: dict[str, Value]):
        self.values = values

    def eval(self, node: Node) -> Value:
        try:
            return self._eval(node)
        except (Overflow, InvalidOperation) as exc:  # pragma: no cover - guarded case by case below
            raise FormulaError("a number is too large to compute", node.position, field=None) from exc

    def _eval(self, node: Node) -> Value:
        match node:
            case Literal(value=value):
                return value
            case Variable(name=name):
                return self.values.get(name)
            case Unary(op="-", operand=operand, position=position):
                value = self._eval(operand)
                if value is None:
                    return None
                if not _is_number(value):
                    raise FormulaError(f"'-' needs a number, got {_kind(value)}", position, field=None)
                return CONTEXT.minus(value)
            case Unary(op="not", operand=operand, position=position):
                value = self._eval(operand)
                if value is None:
                    return None
                if not isinstance(value, bool):
                    raise FormulaError(f"'not' needs a boolean, got {_kind(value)}", position, field=None)
                return not value
            case Chain(first=first, rest=rest):
                result = self._eval(first)
                for op, position, operand in rest:
                    result = _arithmetic(op, result, self._eval(operand), position)
                return result
            case Compare(op=op, left=left, right=right, position=position):
                return _compare(op, self._eval(left), self._eval(right), position)
            case Logical():
                return self._logical(node)
            case Conditional(condition=condition, then=then, otherwise=otherwise, position=position):
                test = self._eval(condition)
                if test is None:
                    return None
                if not isinstance(test, bool):
                    raise FormulaError(
                        f"the condition before '?' is {_kind(test)}, not a boolean", position, field=None
                    )
                return self._eval(then if test else otherwise)
            case Call():
                return self._call(node)
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover

    def _logical(self, node: Logical) -> Value:
        # Kleene logic: `false and x` is false and `true or x` is true without evaluating x; null otherwise wins
        # over the non-deciding value (`null and true` is null).
        deciding = node.op == "or"
        saw_null = False
        for operand in node.operands:
            value = self._eval(operand)
            if value is None:
                saw_null = True
            elif not isinstance(value, bool):
                raise FormulaError(
                    f"'{node.op}' needs booleans, got {_kind(value)}", node.position, field=None
                )
            elif value is deciding:
                return deciding
        return None if saw_null else not deciding

    def _call(self, node: Call) -> Value:
        if node.name == "coalesce":
            for arg in node.args:
                if (value := self._eval(arg)) is not None:
                    return value
            return None
        args = [self._eval(arg) for arg in node.args]
        for arg in args:
            if arg is not None and not _is_number(arg):
                raise FormulaError(
                    f"{node.name}() needs numbers, got {_kind(arg)}", node.position, field=None
                )
        if any(arg is None for arg in args):
            return None
        if node.name == "abs":
            return CONTEXT.abs(args[0])
        if node.name == "min":
            return min(args)
        if node.name == "max":
            return max(args)
        return _round(args[0], args[1] if len(args) > 1 else Decimal(0), node.position)


def _arithmetic(op: str, left: Value, right: Value, position: int) -> Value:
    if not all(value is None or _is_number(value) for value in (left, right)):
        raise FormulaError(
            f"'{op}' needs numbers, got {_kind(left)} and {_kind(right)}", position, field=None
        )
    if left is None or right is None:
        return None
    try:
        if op == "+":
            return CONTEXT.add(left, right)
        if op == "-":
            return CONTEXT.subtract(left, right)
        if op == "*":
            return CONTEXT.multiply(left, right)
        if right == 0:
            return None
        if op == "/":
            return CONTEXT.divide(left, right)
        return CONTEXT.remainder(left, right)
    except (InvalidOperation, Overflow) as exc:
        raise FormulaError(f"'{op}' gives a number too large to compute", position, field=None) from exc


def _compare(op: str, left: Value, right: Value, position: int) -> Value:
    if op in ("==", "!="):
        # Total and type-strict: 1 == "1" is false, true == 1 is false, null == null is true.
        same = type(left) is type(right) and left == right
        return same if op == "==" else not same
    if left is None or right is None:
        return None
    comparable = (_is_number(left) and _is_number(right)) or (
        isinstance(left, str) and isinstance(right, str)
    )
    if not comparable:
        raise FormulaError(f"'{op}' cannot compare {_kind(left)} with {_kind(right)}", position, field=None)
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


def _round(value: Decimal, digits: Decimal, position: int) -> Decimal:
    """Half away from zero to `digits` decimal places (negative: to tens, hundreds…)."""
    if digits != digits.to_integral_value() or abs(digits) > MAX_ROUND_DIGITS:
        raise FormulaError(
            f"round() takes a whole number of digits between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS}",
            position,
            field=None,
        )
    places = int(digits)
    if value.as_tuple().exponent >= -places and places >= 0:
        return value  # already has no more than `places` decimals
    context = Context(
        prec=max(1, value.adjusted() + places + 2), rounding=ROUND_HALF_UP, traps=[InvalidOperation]
    )
    try:
        result = value.quantize(Decimal(1).scaleb(-places), context=context)
        if places < 0:  # 12E+2 → 1200
            result = result.quantize(Decimal(1), context=Context(prec=max(1, result.adjusted() + 2)))
        return result
    except InvalidOperation as exc:  # pragma: no cover - the precision above always suffices
        raise FormulaError("round() gives a number too large to compute", position, field=None) from exc
