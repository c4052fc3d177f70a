"""What a meter computes, as a pure value: `MeterDefinition` (saved meters and unsaved previews share it).

Semantics (docs/meters.md has the full table):
- A field is a dotted path of object keys into signal `data` (`usage.tokens`). Segments that look like array
  indexes (`0`, `-1`) are refused: PostgreSQL's `#>` would index arrays with them and SQLite's JSON paths would
  not, so the two databases could disagree.
- `=` / `!=` / `in` compare JSON type AND value: the string "12" is not the number 12, `true` is not 1. Numbers
  compare numerically (12 = 12.0). `null` is a value you can compare with.
- `>` `>=` `<` `<=` take a number (matching only numbers) or a string (matching only strings, by Unicode code
  point, i.e. binary UTF-8 order on both databases).
- A missing field never matches a value filter, `!=` included. `exists` is true for a present key, even one
  holding JSON `null`; `not exists` is its negation.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from apps.common.exceptions import DomainError

OPERATIONS = ("count", "sum")
ROUNDINGS = ("up", "down", "nearest")
VALUE_OPS = ("=", "!=")
RANGE_OPS = (">", ">=", "<", "<=")
PRESENCE_OPS = ("exists", "not exists")
OPS = (*VALUE_OPS, *RANGE_OPS, "in", *PRESENCE_OPS)

MAX_FILTERS = 20
MAX_IN_VALUES = 100
MAX_TEXT = 1000
MAX_PATH_DEPTH = 10
_INDEX_LIKE = re.compile(r"^-?\d+$")
_ROUNDING_MODES = {"up": ROUND_CEILING, "down": ROUND_FLOOR, "nearest": ROUND_HALF_UP}


def parse_path(path: Any, *, field: str) -> tuple[str, ...]:
    """`"usage.tokens"` → `("usage", "tokens")`; DomainError naming `field` when it is not a usable path."""
    if not isinstance(path, str) or not path.strip():
        raise DomainError("must be a dotted path into signal data, e.g. usage.tokens", field=field)
    segments = tuple(path.split("."))
    if len(segments) > MAX_PATH_DEPTH:
        raise DomainError(f"must have at most {MAX_PATH_DEPTH} segments", field=field)
    for segment in segments:
        if not segment:
            raise DomainError(f"{path!r} has an empty segment", field=field)
        if '"' in segment or "\\" in segment or "\x00" in segment:
            raise DomainError(f"{path!r}: segments may not contain quotes, backslashes or NUL", field=field)
        if _INDEX_LIKE.match(segment):
            raise DomainError(
                f"{path!r}: segments are object keys; array indexes are not supported", field=field
            )
    return segments


def _json_scalar(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= MAX_TEXT


@dataclass(frozen=True)
class MeterFilter:
    field: str
    op: str
    value: Any = None

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.field.split("."))

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "op": self.op} | (
            {} if self.op in PRESENCE_OPS else {"value": self.value}
        )


@dataclass(frozen=True)
class MeterDefinition:
    event_name: str
    operation: str
    field: str | None = None
    filters: tuple[MeterFilter, ...] = dataclasses.field(default_factory=tuple)
    rounding: str = "up"

    @classmethod
    def from_wire(
        cls,
        *,
        event_name: Any,
        operation: Any,
        field: Any = None,
        filters: Any = None,
        rounding: Any = None,
    ) -> MeterDefinition:
        """Build and validate from request values; DomainError names the wire field (`filters[1].op`)."""
        filters = [] if filters is None else filters
        if not isinstance(filters, list):
            raise DomainError("must be a list of {field, op, value?} objects", field="filters")
        if len(filters) > MAX_FILTERS:
            raise DomainError(f"at most {MAX_FILTERS} filters", field="filters")
        parsed = []
        for index, item in enumerate(filters):
            if not isinstance(item, dict):
                raise DomainError("must be an object {field, op, value?}", field=f"filters[{index}]")
            parsed.append(
                MeterFilter(field=item.get("field"), op=item.get("op"), value=item.get("value", _MISSING))
            )
        definition = cls(
            event_name=event_name,
            operation=operation,
            field=field or None,
            filters=tuple(parsed),
            rounding="up" if rounding is None else rounding,
        )
        definition.validate()
        return definition

    def validate(self) -> None:
        """DomainError naming the wire field of the first problem."""
        if not isinstance(self.event_name, str) or not self.event_name.strip():
            raise DomainError("is required", field="eventName")
        if len(self.event_name) > 255:
            raise DomainError("must be at most 255 characters", field="eventName")
        if self.operation not in OPERATIONS:
            raise DomainError(f"must be one of {', '.join(OPERATIONS)}", field="operation")
        if self.operation == "sum":
            if self.field is None:
                raise DomainError("is required when operation is sum", field="field")
            parse_path(self.field, field="field")
        elif self.field is not None:
            raise DomainError("is only used when operation is sum", field="field")
        if self.rounding not in ROUNDINGS:
            raise DomainError(f"must be one of {', '.join(ROUNDINGS)}", field="rounding")
        for index, item in enumerate(self.filters):
            _validate_filter(item, f"filters[{index}]")

    def matches(self, *, event_name: str, data: Any) -> bool:
        """Whether one signal passes the event name and every filter: the rules the SQL in selectors.py applies,
        evaluated in Python for one signal at a time (rating). tests/rating/test_meter_eval.py runs the same
        table as the SQL."""
        return event_name == self.event_name and all(filter_matches(item, data) for item in self.filters)

    def contribution(self, data: Any) -> Decimal | None:
        """What a matching signal adds: 1 for `count`; the field for `sum` when it is a JSON number, else None
        (not added: the preview's `skipped`)."""
        if self.operation == "count":
            return Decimal(1)
        value = data_at(data, parse_path(self.field, field="field"))
        return Decimal(repr(value)) if _is_number(value) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "event_name": self.event_name,
            "operation": self.operation,
            "field": self.field,
            "filters": [item.to_json() for item in self.filters],
            "rounding": self.rounding,
        }


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
MISSING = _MISSING  # what data_at returns for an absent field


def _validate_filter(item: MeterFilter, name: str) -> None:
    parse_path(item.field, field=f"{name}.field")
    if item.op not in OPS:
        raise DomainError(f"must be one of {', '.join(repr(op) for op in OPS)}", field=f"{name}.op")
    value, where = item.value, f"{name}.value"
    if item.op in PRESENCE_OPS:
        if value is not _MISSING and value is not None:
            raise DomainError(f"takes no value with {item.op!r}", field=where)
        return
    if value is _MISSING:
        raise DomainError(f"is required with {item.op!r}", field=where)
    if item.op in VALUE_OPS:
        if not _json_scalar(value):
            raise DomainError("must be a string, number, boolean or null", field=where)
    elif item.op in RANGE_OPS:
        if isinstance(value, bool) or not isinstance(value, int | float | str) or not _json_scalar(value):
            raise DomainError(f"must be a number or a string with {item.op!r}", field=where)
    else:  # in
        if not isinstance(value, list) or not value:
            raise DomainError("must be a non-empty list with 'in'", field=where)
        if len(value) > MAX_IN_VALUES:
            raise DomainError(f"must have at most {MAX_IN_VALUES} values", field=where)
        for position, element in enumerate(value):
            if not _json_scalar(element):
                raise DomainError("must be a string, number, boolean or null", field=f"{where}[{position}]")


def data_at(data: Any, path: tuple[str, ...]) -> Any:
    """The value at a path of object keys, or `_MISSING` (through a scalar, array or null reaches nothing)."""
    for segment in path:
        if not isinstance(data, dict) or segment not in data:
            return _MISSING
        data = data[segment]
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_equal(a: Any, b: Any) -> bool:
    """JSON type and value: numbers compare numerically, `true` is not 1, `"12"` is not 12."""
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is None or b is None:
        return a is None and b is None
    return isinstance(a, str) and isinstance(b, str) and a == b


_RANGE = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def filter_matches(item: MeterFilter, data: Any) -> bool:
    value = data_at(data, item.path)
    if item.op in PRESENCE_OPS:
        return (value is not _MISSING) == (item.op == "exists")
    if value is _MISSING:
        return False  # a missing field never matches a value filter, `!=` included
    if item.op == "=":
        return _json_equal(value, item.value)
    if item.op == "!=":
        return not _json_equal(value, item.value)
    if item.op == "in":
        return any(_json_equal(value, candidate) for candidate in item.value)
    if _is_number(item.value):
        return _is_number(value) and _RANGE[item.op](value, item.value)
    return isinstance(value, str) and _RANGE[item.op](value, item.value)  # code point order


def round_quantity(value: Decimal, rounding: str) -> int:
    """A whole billable quantity: `up` (ceiling), `down` (floor) or `nearest` (half away from zero)."""
    return int(value.to_integral_value(rounding=_ROUNDING_MODES[rounding]))
