"""The meter builder's form: what a person types, turned into a `MeterDefinition` (which holds every rule).

Filter rows arrive as parallel lists (`filter_key`, `filter_field`, `filter_op`, `filter_type`, `filter_value`), so
rows can be added and removed in the page without renumbering. A row whose field is blank is ignored. The type
select says how the value box is read (VALUE_TYPES); `in` takes comma-separated values of that type."""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from django import forms

from apps.common.exceptions import DomainError
from apps.meters.definition import OPS, PRESENCE_OPS, MeterDefinition

OPERATION_CHOICES = [("count", "Count matching signals"), ("sum", "Sum a number field")]
ROUNDING_CHOICES = [
    ("up", "Round up (2.1 → 3)"),
    ("down", "Round down (2.9 → 2)"),
    ("nearest", "Round to nearest (2.5 → 3)"),
]
WINDOW_CHOICES = [
    ("1", "Last 24 hours"),
    ("7", "Last 7 days"),
    ("30", "Last 30 days"),
    ("90", "Last 90 days"),
]
OP_LABELS = {
    "=": "=",
    "!=": "≠",
    ">": ">",
    ">=": "≥",
    "<": "<",
    "<=": "≤",
    "in": "is one of",
    "exists": "is present",
    "not exists": "is missing",
}
# How the value box is read, and what the person sees in the type select.
VALUE_TYPES = {
    "string": "Text",
    "number": "Number",
    "boolean": "true / false",
    "null": "null",
}
VALUE_HINTS = {
    "string": "text, compared exactly",
    "number": "e.g. 12 or 2.5",
    "boolean": "true or false",
    "null": "(no value: matches JSON null)",
}
_NUMBER = re.compile(r"^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^-?(?:0|[1-9]\d*)$")


def new_row_key() -> str:
    return secrets.token_hex(4)


@dataclass
class FilterRow:
    key: str
    field: str = ""
    op: str = "="
    type: str = "string"
    value: str = ""
    errors: dict[str, str] = dataclass_field(default_factory=dict)  # "field" / "op" / "value" → message

    @property
    def blank(self) -> bool:
        return not self.field.strip()

    @property
    def takes_value(self) -> bool:
        return self.op not in PRESENCE_OPS and self.type != "null"

    @property
    def error(self) -> str:
        return "; ".join(self.errors.values())

    @classmethod
    def from_filter(cls, item: dict[str, Any]) -> FilterRow:
        """A stored filter ({field, op, value?}) as a row; the type comes from the value's JSON type."""
        op, value = item.get("op", "="), item.get("value")
        values = value if isinstance(value, list) else [value]
        type_ = _value_type(values[0]) if op not in PRESENCE_OPS and values else "string"
        text = ", ".join(_value_text(v) for v in values) if op not in PRESENCE_OPS else ""
        return cls(key=new_row_key(), field=item.get("field", ""), op=op, type=type_, value=text)

    def wire(self) -> dict[str, Any]:
        """`{field, op, value?}` for MeterDefinition; a ValueError names what is wrong with the value box."""
        item: dict[str, Any] = {"field": self.field.strip(), "op": self.op}
        if self.op in PRESENCE_OPS:
            return item
        if self.op == "in":
            parts = [part.strip() for part in self.value.split(",")]
            if self.type == "null":
                item["value"] = [None]
            elif not any(parts):
                raise ValueError("type one or more values, separated by commas")
            else:
                item["value"] = [_parse_value(part, self.type) for part in parts if part != ""]
            return item
        item["value"] = _parse_value(self.value, self.type)
        return item


def sentence(message: str) -> str:
    """A domain message as a sentence beside its input: "is required" → "It is required."."""
    message = message.strip()
    if not message:
        return message
    if message.split()[0] in ("is", "must", "takes", "has"):
        message = f"It {message}"
    message = message[0].upper() + message[1:]
    return message if message[-1] in ".!?" else f"{message}."


def _value_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


def _value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_value(text: str, type_: str) -> Any:
    if type_ == "null":
        return None
    if type_ == "boolean":
        word = text.strip().lower()
        if word not in ("true", "false"):
            raise ValueError("type true or false")
        return word == "true"
    if type_ == "number":
        word = text.strip()
        if not _NUMBER.match(word):
            raise ValueError(
                f"“{word}” is not a number: type e.g. 12 or 2.5" if word else "type a number, e.g. 12 or 2.5"
            )
        number = int(word) if _INTEGER.match(word) else float(word)
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError("is too large")
        return number
    return text  # text is compared exactly as typed


class MeterForm(forms.Form):
    """The builder. `definition()` is the MeterDefinition (or None with errors on the form and the rows)."""

    product = forms.ChoiceField(label="Product", help_text="The product whose signals feed the meter.")
    name = forms.CharField(
        max_length=255, required=False, label="Name", help_text="A label, e.g. “Completed calls”."
    )
    event_name = forms.CharField(
        max_length=255,
        required=False,
        label="Event name",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "mono"}),
    )
    operation = forms.ChoiceField(choices=OPERATION_CHOICES, initial="count", label="Operation")
    field = forms.CharField(
        max_length=255,
        required=False,
        label="Field to sum",
        help_text="A dotted path into the signal's data, e.g. duration_minutes or usage.minutes.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "mono"}),
    )
    rounding = forms.ChoiceField(
        choices=ROUNDING_CHOICES,
        initial="up",
        label="Rounding",
        help_text="Each customer's sum becomes whole units once.",
    )
    window = forms.ChoiceField(choices=WINDOW_CHOICES, initial="30", required=False, label="Preview window")

    # wire field → form field, for errors from MeterDefinition.validate()
    WIRE_FIELDS = {
        "eventName": "event_name",
        "operation": "operation",
        "field": "field",
        "rounding": "rounding",
    }

    def __init__(self, data=None, *, products=(), rows: list[FilterRow] | None = None, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["product"].choices = [("", "Choose a product…")] + [
            (product.display_id, product.name) for product in products
        ]
        if rows is None:
            rows = self.rows_from_data(data) if data is not None else []
        self.rows = rows
        self.field_errors: dict[str, str] = {}  # form field → the definition's first error, shown beside it

    @staticmethod
    def rows_from_data(data) -> list[FilterRow]:
        lists = {name: data.getlist(f"filter_{name}") for name in ("key", "field", "op", "type", "value")}
        rows = []
        for index, key in enumerate(lists["key"]):

            def at(name: str, default: str, index=index) -> str:
                values = lists[name]
                return values[index] if index < len(values) else default

            op, type_ = at("op", "="), at("type", "string")
            rows.append(
                FilterRow(
                    key=re.sub(r"[^0-9a-zA-Z]", "", key)[:16] or new_row_key(),
                    field=at("field", ""),
                    op=op if op in OPS else "=",
                    type=type_ if type_ in VALUE_TYPES else "string",
                    value=at("value", ""),
                )
            )
        return rows

    @property
    def window_days(self) -> int:
        """The preview window in days (not part of the meter: a meter counts whatever period it bills)."""
        value = self.data.get("window") if self.is_bound else self.initial.get("window")
        return int(value) if str(value) in dict(WINDOW_CHOICES) else 30

    def definition(self) -> MeterDefinition | None:
        """The definition typed so far, or None: errors go on the form fields and filter rows."""
        if not self.is_valid():
            return None
        data = self.cleaned_data
        wire, origin = [], []
        for row in self.rows:
            if row.blank:
                continue
            try:
                wire.append(row.wire())
            except ValueError as exc:
                row.errors["value"] = sentence(str(exc))
                continue
            origin.append(row)
        if any(row.errors for row in self.rows):
            return None
        try:
            return MeterDefinition.from_wire(
                event_name=data["event_name"].strip(),
                operation=data["operation"],
                field=data["field"].strip() if data["operation"] == "sum" else None,
                filters=wire,
                rounding=data["rounding"],
            )
        except DomainError as exc:
            self.add_definition_error(exc, origin)
            return None

    def add_definition_error(self, error: DomainError, origin: list[FilterRow]) -> None:
        """Put a refusal (`filters[1].value`, `eventName`, …) on the input it names, as a sentence."""
        where, message = error.field or "", sentence(error.message)
        match = re.match(r"^filters\[(\d+)\](?:\.(\w+))?", where)
        if match and int(match.group(1)) < len(origin):
            part = match.group(2) or "field"
            origin[int(match.group(1))].errors[part if part in ("field", "op") else "value"] = message
            return
        name = self.WIRE_FIELDS.get(where)
        self.add_error(name if name in self.fields else None, message)

    def error_slots(self) -> dict[str, str]:
        """Every error slot of the builder (form fields, filter rows) and its message ("" when fine): the
        preview refreshes them all out of band."""
        slots = {
            f"err-{name}": "; ".join(self.errors.get(name, [])) if self.is_bound else ""
            for name in ("product", "name", "event_name", "operation", "field", "rounding")
        }
        slots.update({f"err-row-{row.key}": row.error for row in self.rows})
        return slots

    def service_fields(self, definition: MeterDefinition) -> dict[str, Any]:
        stored = definition.to_json()
        return {
            "product_id": self.cleaned_data["product"],
            "name": self.cleaned_data["name"],
            "event_name": stored["event_name"],
            "operation": stored["operation"],
            "field": stored["field"],
            "filters": stored["filters"],
            "rounding": stored["rounding"],
        }


def initial_for(meter, *, copy: bool = False) -> tuple[dict[str, Any], list[FilterRow]]:
    """The builder's initial values for a saved meter (a copy gets a new name)."""
    initial = {
        "product": meter.product.display_id,
        "name": f"{meter.name} (new)" if copy else meter.name,
        "event_name": meter.event_name,
        "operation": meter.operation,
        "field": meter.field,
        "rounding": meter.rounding,
    }
    return initial, [FilterRow.from_filter(item) for item in meter.filters]


class MeterRenameForm(forms.Form):
    name = forms.CharField(max_length=255, label="Name")


class MeterListFilterForm(forms.Form):
    STATUS_CHOICES = [("active", "Active meters"), ("all", "Include archived")]

    product = forms.ChoiceField(required=False, label="Product")
    status = forms.ChoiceField(required=False, choices=STATUS_CHOICES, label="Status")

    def __init__(self, *args, products=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].choices = [("", "All products")] + [(p.display_id, p.name) for p in products]

    def selector_filters(self) -> dict[str, Any]:
        data = self.cleaned_data if self.is_valid() else {}
        return {"product_id": data.get("product") or None, "include_archived": data.get("status") == "all"}


def describe_definition(definition: MeterDefinition) -> str:
    """The definition in plain words: “Counts phone_call signals where call_completed = true”."""
    if definition.operation == "sum":
        words = f"Sums {definition.field} of {definition.event_name} signals"
    else:
        words = f"Counts {definition.event_name} signals"
    if definition.filters:
        words += " where " + " and ".join(describe_filter(item.to_json()) for item in definition.filters)
    return words


def describe_filter(item: dict[str, Any]) -> str:
    op = item.get("op")
    if op in PRESENCE_OPS:
        return f"{item.get('field')} {OP_LABELS[op]}"
    value = item.get("value")
    shown = (
        "[" + ", ".join(_json_words(v) for v in value) + "]"
        if isinstance(value, list)
        else _json_words(value)
    )
    return f"{item.get('field')} {OP_LABELS.get(op, op)} {shown}"


def _json_words(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"“{value}”"
    return str(value)
