"""Value metrics: create, update and archive them, each write publishing a new value-model version
(docs/value.md, "Value metrics").

Inputs are the wire shapes (camelCase keys inside `unit`, `formula`, `signal`…), checked here so that every
error names the field it is about (`formula.expression`, `signal.defaults.minutes`). Everything is validated
before anything is written, and each write runs in one transaction holding the organization's value-model row
locked, so concurrent writes serialize and `expectedActiveVersion` is a real guard."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.common.exceptions import Conflict, DomainError, NotFound
from apps.value.formula import KEYWORDS, FormulaError, parse
from apps.value.models import ValueMetric, ValueModel
from apps.value.tasks import enqueue_backfill

UNIT_TYPES = ("monetary", "duration", "custom")
DURATION_UNITS = ("seconds", "minutes", "hours", "days")
VARIABLE_TYPES = ("number", "string", "boolean", "duration")
VARIABLE_FORMATS = ("percent", "duration")
CATEGORIES = tuple(ValueMetric.Category.values)
MAX_SOURCES = 3
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,98}[a-z0-9])?$")
VARIABLE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
FUNCTIONS = frozenset({"min", "max", "abs", "round", "coalesce"})
DEFAULT_RATE_LABEL = "rate"


@dataclass(frozen=True)
class WriteAck:
    slug: str
    name: str
    version: int


# --- checks ------------------------------------------------------------------------------------------------


def _object(value: Any, field: str) -> dict:
    if not isinstance(value, dict):
        raise DomainError("must be an object", code="VALIDATION_ERROR", field=field)
    return value


def _text(value: Any, field: str, *, required: bool = False, max_length: int = 255) -> str:
    if value is None:
        if required:
            raise DomainError("is required", code="VALIDATION_ERROR", field=field)
        return ""
    if not isinstance(value, str):
        raise DomainError("must be a string", code="VALIDATION_ERROR", field=field)
    value = value.strip()
    if required and not value:
        raise DomainError("may not be blank", code="VALIDATION_ERROR", field=field)
    if len(value) > max_length:
        raise DomainError(f"at most {max_length} characters", code="VALIDATION_ERROR", field=field)
    return value


def _choice(value: Any, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise DomainError(
            f"{value!r} is not one of {', '.join(choices)}", code="VALIDATION_ERROR", field=field
        )
    return value


def _number(value: Any, field: str, *, what: str = "") -> str:
    """A finite JSON number, kept exact as a decimal string. `what` names a key inside `field` (a variable id,
    which the error envelope would otherwise camelCase along with the field)."""
    prefix = f"{what} " if what else ""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise DomainError(f"{prefix}must be a number", code="VALIDATION_ERROR", field=field)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise DomainError(f"{prefix}must be a finite number", code="VALIDATION_ERROR", field=field)
    return str(number)


def _strings(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DomainError("must be a list of strings", code="VALIDATION_ERROR", field=field)
    return list(value)


def clean_unit(unit: Any, field: str = "unit") -> dict:
    unit = _object(unit, field)
    kind = _choice(unit.get("type"), UNIT_TYPES, f"{field}.type")
    clean: dict[str, Any] = {"type": kind}
    duration_unit = unit.get("durationUnit")
    if kind == "duration":
        if duration_unit is None:
            raise DomainError(
                "is required for a duration unit", code="VALIDATION_ERROR", field=f"{field}.durationUnit"
            )
        clean["durationUnit"] = _choice(duration_unit, DURATION_UNITS, f"{field}.durationUnit")
    elif duration_unit is not None:
        raise DomainError(
            "is only for a duration unit", code="VALIDATION_ERROR", field=f"{field}.durationUnit"
        )
    if kind == "custom":
        name = _text(unit.get("unit"), f"{field}.unit", required=True, max_length=100)
        clean["unit"] = name
        clean["unitDisplay"] = _text(unit.get("unitDisplay"), f"{field}.unitDisplay", max_length=100) or name
    return clean


def clean_monetary_conversion(conversion: Any, field: str = "monetaryConversion") -> dict | None:
    if conversion is None:
        return None
    conversion = _object(conversion, field)
    if conversion.get("valuePerUnit") is None:
        raise DomainError("is required", code="VALIDATION_ERROR", field=f"{field}.valuePerUnit")
    return {
        "valuePerUnit": _number(conversion["valuePerUnit"], f"{field}.valuePerUnit"),
        "label": _text(conversion.get("label"), f"{field}.label") or DEFAULT_RATE_LABEL,
    }


def _clean_format(source: dict, clean: dict, field: str) -> None:
    fmt = source.get("format")
    if fmt is None:
        clean.pop("format", None)
        clean.pop("formatUnit", None)
        return
    clean["format"] = _choice(fmt, VARIABLE_FORMATS, f"{field}.format")
    if fmt == "duration":
        if source.get("formatUnit") is None:
            raise DomainError(
                "is required when format is 'duration'", code="VALIDATION_ERROR", field=f"{field}.formatUnit"
            )
        clean["formatUnit"] = _choice(source["formatUnit"], DURATION_UNITS, f"{field}.formatUnit")
    else:
        clean.pop("formatUnit", None)


def _clean_variable(variable: Any, field: str) -> dict:
    variable = _object(variable, field)
    var_id = variable.get("id")
    if not isinstance(var_id, str) or not VARIABLE_ID.match(var_id) or var_id in KEYWORDS | FUNCTIONS:
        raise DomainError(
            "must be a name: a letter, then letters, digits or '_' (not a keyword or function name)",
            code="VALIDATION_ERROR",
            field=f"{field}.id",
        )
    clean = {"id": var_id, "label": _text(variable.get("label"), f"{field}.label") or var_id}
    if variable.get("type") is not None:
        clean["type"] = _choice(variable["type"], VARIABLE_TYPES, f"{field}.type")
    if variable.get("description") is not None:
        clean["description"] = _text(variable["description"], f"{field}.description", max_length=2000)
    _clean_format(variable, clean, field)
    return clean


def clean_formula(formula: Any, *, default_label: str) -> dict:
    formula = _object(formula, "formula")
    expression = formula.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        raise DomainError("is required", code="VALIDATION_ERROR", field="formula.expression")
    raw_variables = formula.get("variables")
    if raw_variables is None:
        raw_variables = []
    if not isinstance(raw_variables, list):
        raise DomainError("must be a list", code="VALIDATION_ERROR", field="formula.variables")
    variables = [_clean_variable(item, f"formula.variables[{i}]") for i, item in enumerate(raw_variables)]
    ids = [variable["id"] for variable in variables]
    if duplicates := sorted({var_id for var_id in ids if ids.count(var_id) > 1}):
        raise DomainError(
            f"variable ids must be unique; repeated: {', '.join(duplicates)}",
            code="VALIDATION_ERROR",
            field="formula.variables",
        )
    parsed = parse(expression)  # FormulaError names formula.expression
    if undeclared := [name for name in parsed.variables if name not in ids]:
        raise FormulaError(
            f"uses {', '.join(repr(name) for name in undeclared)}, not declared in formula.variables",
            field="formula.expression",
        )
    if not parsed.variables:
        try:
            constant = parsed.evaluate({})
        except FormulaError as error:
            raise FormulaError(error.message, field="formula.expression") from error
        if not isinstance(constant, Decimal):
            raise FormulaError("a formula without variables must be a number", field="formula.expression")
    return {
        "label": _text(formula.get("label"), "formula.label") or default_label,
        "expression": expression,
        "variables": variables,
    }


def clean_signal(signal: Any, *, variable_ids: list[str]) -> dict:
    signal = _object(signal, "signal")
    event_name = _text(signal.get("eventName"), "signal.eventName", required=True)
    defaults = signal.get("defaults")
    if defaults is None:
        defaults = {}
    defaults = _object(defaults, "signal.defaults")
    clean_defaults = {}
    for var_id, value in defaults.items():
        if var_id not in variable_ids:
            raise DomainError(
                f"{var_id!r} is not a variable of the formula",
                code="VALIDATION_ERROR",
                field="signal.defaults",
            )
        clean_defaults[var_id] = _number(value, "signal.defaults", what=repr(var_id))
    return {
        "eventName": event_name,
        "label": _text(signal.get("label"), "signal.label") or event_name,
        "defaults": clean_defaults,
        "description": _text(signal.get("description"), "signal.description", max_length=2000),
        "labels": _strings(signal.get("labels"), "signal.labels"),
        "tags": _strings(signal.get("tags"), "signal.tags"),
    }


def clean_sources(sources: Any) -> list[dict]:
    if sources is None:
        return []
    if not isinstance(sources, list):
        raise DomainError("must be a list", code="VALIDATION_ERROR", field="sources")
    if len(sources) > MAX_SOURCES:
        raise DomainError(f"at most {MAX_SOURCES} sources", code="VALIDATION_ERROR", field="sources")
    return [
        {
            "name": _text(_object(item, f"sources[{i}]").get("name"), f"sources[{i}].name", required=True),
            "url": _text(item.get("url"), f"sources[{i}].url", required=True, max_length=2000),
        }
        for i, item in enumerate(sources)
    ]


def _check_units(unit: dict, conversion: dict | None) -> None:
    if unit["type"] == "monetary" and conversion is not None:
        raise DomainError(
            "a monetary metric is already money; a monetary conversion is for duration and custom units",
            code="VALIDATION_ERROR",
            field="monetaryConversion",
        )


def slug_for(name: str) -> str:
    return slugify(name)[:100].strip("-_")


# --- the version guard -------------------------------------------------------------------------------------


def _locked_model(organization, expected_version: int | None) -> ValueModel:
    """The organization's value model, locked for this transaction; 409 when `expected_version` is stale."""
    ValueModel.objects.get_or_create(organization=organization)
    model = ValueModel.objects.select_for_update().get(organization=organization)
    if expected_version is not None and expected_version != model.version:
        raise Conflict(
            f"the active value model version is {model.version}, not {expected_version}; reload and retry",
            code="VERSION_CONFLICT",
            field="expectedActiveVersion",
        )
    return model


def _publish(model: ValueModel) -> int:
    model.version += 1
    model.save(update_fields=["version", "updated_at"])
    return model.version


def _metric_for_update(organization, slug: str) -> ValueMetric:
    try:
        return ValueMetric.objects.select_for_update().get(organization=organization, slug=slug)
    except ValueMetric.DoesNotExist:
        raise NotFound("Value metric", slug) from None


# --- writes ------------------------------------------------------------------------------------------------


def value_metric_create(
    *,
    organization,
    name: Any,
    unit: Any,
    formula: Any,
    signal: Any,
    slug: Any = None,
    monetary_conversion: Any = None,
    category: Any = None,
    description: Any = None,
    long_description: Any = None,
    sources: Any = None,
    expected_active_version: int | None = None,
) -> WriteAck:
    name = _text(name, "name", required=True)
    if slug is None:
        slug = slug_for(name)
        if not slug:
            raise DomainError(
                "cannot make a slug from this name; send a slug", code="VALIDATION_ERROR", field="slug"
            )
    elif not isinstance(slug, str) or not SLUG.match(slug):
        raise DomainError(
            "must be 1-100 lower-case letters, digits, '-' or '_', starting and ending with a letter or digit",
            code="VALIDATION_ERROR",
            field="slug",
        )
    clean_unit_ = clean_unit(unit)
    conversion = clean_monetary_conversion(monetary_conversion)
    _check_units(clean_unit_, conversion)
    clean_formula_ = clean_formula(formula, default_label=name)
    clean_signal_ = clean_signal(signal, variable_ids=[v["id"] for v in clean_formula_["variables"]])
    fields = {
        "name": name,
        "unit": clean_unit_,
        "monetary_conversion": conversion,
        "formula": clean_formula_,
        "signal": clean_signal_,
        "category": "" if category is None else _choice(category, CATEGORIES, "category"),
        "description": _text(description, "description", max_length=2000),
        "long_description": _text(long_description, "longDescription", max_length=20000),
        "sources": clean_sources(sources),
    }
    with transaction.atomic():
        model = _locked_model(organization, expected_active_version)
        if ValueMetric.objects.filter(organization=organization, slug=slug).exists():
            raise Conflict(f"a value metric with slug {slug!r} already exists", field="slug")
        try:
            with transaction.atomic():
                metric = ValueMetric.objects.create(organization=organization, slug=slug, **fields)
        except IntegrityError:  # pragma: no cover - the lock above serializes writers
            raise Conflict(f"a value metric with slug {slug!r} already exists", field="slug") from None
        version = _publish(model)
        enqueue_backfill(organization_id=organization.pk, metric_id=metric.pk)  # history, after the commit
    return WriteAck(slug=slug, name=name, version=version)


def value_metric_update(
    *,
    organization,
    slug: str,
    changes: dict[str, Any],
    expected_active_version: int | None = None,
) -> WriteAck:
    """Apply `changes` (snake_case keys of the fields sent: name, unit, monetary_conversion, variables,
    archived_at, category, description, long_description, sources). Omitted fields are left alone."""
    with transaction.atomic():
        model = _locked_model(organization, expected_active_version)
        metric = _metric_for_update(organization, slug)
        updates: dict[str, Any] = {}
        if "name" in changes:
            updates["name"] = _text(changes["name"], "name", required=True)
        if "unit" in changes:
            updates["unit"] = clean_unit(changes["unit"])
        if "monetary_conversion" in changes:
            updates["monetary_conversion"] = clean_monetary_conversion(changes["monetary_conversion"])
        _check_units(
            updates.get("unit", metric.unit), updates.get("monetary_conversion", metric.monetary_conversion)
        )
        if "category" in changes:
            category = changes["category"]
            updates["category"] = "" if category is None else _choice(category, CATEGORIES, "category")
        if "description" in changes:
            updates["description"] = _text(changes["description"], "description", max_length=2000)
        if "long_description" in changes:
            updates["long_description"] = _text(
                changes["long_description"], "longDescription", max_length=20000
            )
        if "sources" in changes:
            updates["sources"] = clean_sources(changes["sources"])
        if "archived_at" in changes:
            archived_at = changes["archived_at"]
            if archived_at is not None and not isinstance(archived_at, datetime):
                raise DomainError("must be a date-time or null", code="VALIDATION_ERROR", field="archivedAt")
            updates["archived_at"] = archived_at
        if changes.get("variables") is not None:
            formula, signal = _edit_variables(metric, changes["variables"])
            updates["formula"], updates["signal"] = formula, signal
        for key, value in updates.items():
            setattr(metric, key, value)
        metric.version += 1
        metric.save()
        version = _publish(model)
        enqueue_backfill(organization_id=organization.pk, metric_id=metric.pk)  # recompute history
    return WriteAck(slug=metric.slug, name=metric.name, version=version)


def _edit_variables(metric: ValueMetric, edits: Any) -> tuple[dict, dict]:
    """Merge per-variable edits `{varId: {value?, label?, format?, formatUnit?}}`; `value` is the signal
    default (null removes it)."""
    edits = _object(edits, "variables")
    formula = {**metric.formula, "variables": [dict(v) for v in metric.formula["variables"]]}
    signal = {**metric.signal, "defaults": dict(metric.signal.get("defaults") or {})}
    by_id = {variable["id"]: variable for variable in formula["variables"]}
    for var_id, edit in edits.items():
        # Field names stay `variables.<key>` with the variable id in the message: the error envelope camelCases
        # field names, which would misspell ids such as `time_saved`.
        field, var = "variables", repr(var_id)
        if var_id not in by_id:
            raise DomainError(
                f"{var} is not a variable of this metric's formula", code="VALIDATION_ERROR", field=field
            )
        edit = _object(edit, field)
        variable = by_id[var_id]
        if "value" in edit:
            if edit["value"] is None:
                signal["defaults"].pop(var_id, None)
            else:
                signal["defaults"][var_id] = _number(edit["value"], f"{field}.value", what=var)
        if edit.get("label") is not None:
            variable["label"] = _text(edit["label"], f"{field}.label", required=True)
        if "format" in edit:
            _clean_format(edit, variable, field)
        elif edit.get("formatUnit") is not None:
            if variable.get("format") != "duration":
                raise DomainError(
                    f"{var} is only for a 'duration' format",
                    code="VALIDATION_ERROR",
                    field=f"{field}.formatUnit",
                )
            variable["formatUnit"] = _choice(edit["formatUnit"], DURATION_UNITS, f"{field}.formatUnit")
    return formula, signal


def value_metric_archive(*, organization, slug: str, expected_active_version: int | None = None) -> WriteAck:
    """Archive the metric (its slug stays taken). Archiving an archived metric changes nothing and publishes
    no new version."""
    with transaction.atomic():
        model = _locked_model(organization, expected_active_version)
        metric = _metric_for_update(organization, slug)
        if metric.archived_at is not None:
            return WriteAck(slug=metric.slug, name=metric.name, version=model.version)
        metric.archived_at = timezone.now()
        metric.version += 1
        metric.save(update_fields=["archived_at", "version", "updated_at"])
        version = _publish(model)
    return WriteAck(slug=metric.slug, name=metric.name, version=version)
