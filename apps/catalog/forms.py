import json
import re
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django import forms

from apps.catalog.models import Product
from apps.catalog.services import PRICING_RULES
from apps.common.api import to_camel
from apps.common.currencies import MINOR_UNITS
from apps.common.forms import CurrencyField, JsonObjectField, blank_to_none
from apps.common.templatetags.money import format_number, minor_to_major


class ProductFilterForm(forms.Form):
    STATUS_CHOICES = [("active", "Active"), ("archived", "Archived"), ("all", "All")]

    q = forms.CharField(required=False, max_length=255)
    status = forms.ChoiceField(required=False, choices=STATUS_CHOICES)

    def selector_filters(self) -> dict[str, Any]:
        """Filters for product_list: live products unless archived (or all) are asked for."""
        data = self.cleaned_data if self.is_valid() else {}
        archived = {"archived": True, "all": None}.get(data.get("status") or "active", False)
        return {"name": data.get("q") or None, "archived": archived}


class ProductForm(forms.Form):
    name = forms.CharField(max_length=255)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    product_code = forms.CharField(
        max_length=255, required=False, label="Product code", help_text="A short code shown on invoices."
    )
    external_id = forms.CharField(
        max_length=255,
        required=False,
        label="External ID",
        help_text="Your system's id for this product; signals and API calls can refer to it.",
    )
    active = forms.BooleanField(
        required=False, initial=True, help_text="Inactive products stay on existing orders but can't be sold."
    )
    metadata = JsonObjectField()

    @classmethod
    def initial_for(cls, product: Product) -> dict[str, Any]:
        return {name: getattr(product, name) for name in cls.base_fields}

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("A product needs a name.")
        return name

    def service_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["product_code"] = blank_to_none(data["product_code"])
        data["external_id"] = blank_to_none(data["external_id"])
        return data


# --- credit currencies -------------------------------------------------------------------------------------


class CreditCurrencyForm(forms.Form):
    name = forms.CharField(
        max_length=255, help_text="Shown to your team and on invoices, e.g. “Chat Credits”."
    )
    key = forms.CharField(
        max_length=64,
        help_text="How the API and signals refer to it: lowercase letters, digits, _ and -. Can't be changed.",
        widget=forms.TextInput(attrs={"class": "mono", "autocapitalize": "none", "spellcheck": "false"}),
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("A credit currency needs a name.")
        return name

    def service_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["key"] = data["key"].strip()
        data["description"] = data["description"].strip() or None
        return data


class CreditCurrencyEditForm(forms.Form):
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def service_fields(self) -> dict[str, Any]:
        return {"description": self.cleaned_data["description"].strip() or None}


# --- pricing lines -----------------------------------------------------------------------------------------
#
# A pricing line is a product attribute with its pricing and credit benefits. The form collects what a person
# types (prices in major units, one row per price, tier, bracket or benefit), builds the camelCase wire
# PricingInput from it, and leaves every rule to `PricingIn` (shape) and the catalog service (rules). An
# error names a wire path; `origin` remembers which input each wire value came from, so the error lands there.

PRICING_TYPE_CHOICES = [
    (
        "Recurring",
        [
            ("RecurringPerUnit", "Recurring: flat fee / per unit"),
            ("RecurringGraduated", "Recurring: graduated tiers"),
            ("RecurringVolume", "Recurring: volume tiers"),
            ("RecurringPercentOfTotal", "Recurring: percent of total"),
        ],
    ),
    (
        "Usage",
        [
            ("UsagePerUnit", "Usage: per unit"),
            ("UsageGraduated", "Usage: graduated tiers"),
            ("UsageVolume", "Usage: volume tiers"),
            ("UsagePrepaidCredits", "Usage: prepaid credits"),
            ("UsageBracketedPrepaidCredits", "Usage: bracketed prepaid credits"),
            ("UsageCostPlus", "Usage: cost plus"),
        ],
    ),
    ("One-time", [("OneTimePerUnit", "One-time fee")]),
    (
        "Seat-based",
        [
            ("SeatBasedPerUnit", "Seat-based: per seat"),
            ("SeatBasedGraduated", "Seat-based: graduated tiers"),
            ("SeatBasedVolume", "Seat-based: volume tiers"),
            ("SeatBasedPrepaidCredits", "Seat-based: prepaid credits"),
        ],
    ),
]
BILLING_FREQUENCY_CHOICES = [
    ("", "—"),
    ("Monthly", "Monthly"),
    ("Quarterly", "Quarterly"),
    ("Semi-Annually", "Every 6 months"),
    ("Annual", "Yearly"),
    ("Custom", "Every N months"),
]
BILLING_TYPE_CHOICES = [("", "Default"), ("Advance", "In advance"), ("Arrears", "In arrears")]
SIGNAL_TYPE_CHOICES = [("", "Any"), ("activity", "Activity"), ("outcome", "Outcome")]
FEE_TYPE_CHOICES = [
    ("", "—"),
    ("setup", "Setup"),
    ("onboarding", "Onboarding"),
    ("implementation", "Implementation"),
    ("migration", "Migration"),
    ("custom", "Custom"),
]
RECIPIENT_CHOICES = [("organization", "The organization"), ("seat", "Each seat")]
CADENCE_CHOICES = [("upfront", "Each billing period"), ("monthly", "Each month")]
GRANT_TIMING_CHOICES = [
    ("", "Default"),
    ("on_payment", "On payment"),
    ("on_invoice_posted", "When the invoice is posted"),
    ("on_order_activation", "When the order activates"),
]
DURATION_UNIT_CHOICES = [("", "—"), ("days", "days"), ("months", "months")]

# Scalar PricingInput fields the form offers: wire name → form field. Shown when the type takes them.
SCALAR_FIELDS = {
    "event_name": "event_name",
    "signal_type": "signal_type",
    "credits_currency_id": "credits_currency",
    "credit_cost": "credit_cost",
    "unit_value": "unit_value",
    "percentage_value": "percentage_value",
    "cost_plus_multiplier": "cost_plus_multiplier",
    "fee_type": "fee_type",
    "pricing_input": "pricing_input_path",
    "overage_unit_price": "overage_unit_price",
    "credit_rollover_amount": "credit_rollover_amount",
}
MAX_ROWS = 50
ROW_FIELDS = {
    "price": ("currency", "amount"),
    "tier": ("currency", "lower", "upper", "unit", "flat"),
    "bracket": ("up_to", "credits", "credits_per_unit"),
    "benefit": (
        "currency",
        "amount",
        "recipient",
        "cadence",
        "timing",
        "rollover_amount",
        "rollover_duration",
        "rollover_unit",
    ),
}
# Row cells that have a default value, so they don't make a row count as filled in.
_ROW_DEFAULTS = {"price": {"currency"}, "tier": {"currency"}, "benefit": {"recipient", "cadence"}}
_ROW_NOUN = {"price": "price", "tier": "tier", "bracket": "bracket", "benefit": "credit benefit"}
_EMBEDDED_PATH = re.compile(
    r"(?:pricing\.)?(?:pricePoints|creditUnitBrackets|creditBenefits)(?:\[\d+\]\.?[a-zA-Z]*)+"
)


def _credits(**kwargs) -> forms.DecimalField:
    return forms.DecimalField(required=False, min_value=0, max_digits=20, decimal_places=6, **kwargs)


def _major(**kwargs) -> forms.DecimalField:
    """A price in major units (29.00); converted to minor units with the row's currency."""
    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "size": 10})
    return forms.DecimalField(required=False, min_value=0, max_digits=30, widget=widget, **kwargs)


def _count(**kwargs) -> forms.IntegerField:
    widget = forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "size": 8})
    return forms.IntegerField(required=False, min_value=0, widget=widget, **kwargs)


def pricing_type_fields(kind: str) -> set[str]:
    """The form's sections and scalar fields that `kind` uses (from the service's PRICING_RULES)."""
    rule = PRICING_RULES.get(kind)
    if rule is None:
        return set()
    takes = set(rule.required) | set(rule.optional)
    shown = {SCALAR_FIELDS[name] for name in takes if name in SCALAR_FIELDS}
    if "credit_unit_brackets" in takes:
        shown.add("brackets")
    if rule.billing_frequency != "forbidden":
        shown |= {"billing_frequency", "billing_frequency_custom_months"}
        if rule.charge_type != "usage":  # usage is always billed in arrears
            shown.add("billing_type")
    shown.add("tiers" if rule.price_points == "tiered" else "prices")
    return shown


def _to_minor(amount: Decimal, currency: str) -> Decimal:
    return amount.scaleb(MINOR_UNITS[currency])


def _wire_number(value: Decimal | int | None) -> str | int | None:
    """A number as the wire carries it: ints as ints, decimals as exact plain strings ("2900", "0.005")."""
    if value is None or isinstance(value, int):
        return value
    return format(value.normalize(), "f")


class PricingLineForm(forms.Form):
    name = forms.CharField(
        max_length=255, help_text="Shown on invoices, e.g. “Platform fee” or “Chat messages”."
    )
    pricing_type = forms.ChoiceField(label="Pricing type", choices=PRICING_TYPE_CHOICES)
    active = forms.BooleanField(
        required=False, initial=True, help_text="Inactive lines aren't put on new orders."
    )
    billing_frequency = forms.ChoiceField(
        label="Billing frequency", required=False, choices=BILLING_FREQUENCY_CHOICES
    )
    billing_frequency_custom_months = forms.IntegerField(
        label="Every how many months",
        required=False,
        min_value=1,
        max_value=120,
    )
    billing_type = forms.ChoiceField(label="Billed", required=False, choices=BILLING_TYPE_CHOICES)
    event_name = forms.CharField(
        label="Event name",
        required=False,
        max_length=255,
        help_text="The signal event this line charges for, e.g. chat_message.",
        widget=forms.TextInput(attrs={"class": "mono", "autocapitalize": "none", "spellcheck": "false"}),
    )
    signal_type = forms.ChoiceField(label="Signal type", required=False, choices=SIGNAL_TYPE_CHOICES)
    credits_currency = forms.ChoiceField(label="Credit currency", required=False)
    credit_cost = _credits(label="Credits per unit", help_text="Credits burned for each unit used.")
    unit_value = _credits(label="Unit value", help_text="What one unit is worth, for value reporting.")
    percentage_value = forms.DecimalField(
        label="Percentage",
        required=False,
        min_value=0,
        max_value=100,
        decimal_places=6,
        help_text="Percent of the invoice total, e.g. 2.5.",
    )
    cost_plus_multiplier = _credits(
        label="Cost multiplier", help_text="The cost is multiplied by this, e.g. 1.2 for cost plus 20%."
    )
    fee_type = forms.ChoiceField(label="Fee type", required=False, choices=FEE_TYPE_CHOICES)
    pricing_input_path = forms.CharField(
        label="Quantity from signal field",
        required=False,
        max_length=255,
        help_text="Path in the signal's data to read the quantity from, e.g. tokens. Empty: the signal's quantity.",
        widget=forms.TextInput(attrs={"class": "mono", "autocapitalize": "none", "spellcheck": "false"}),
    )
    overage_unit_price = _count(
        label="Overage price per unit (minor units)", help_text="In cents (or the currency's smallest unit)."
    )
    credit_rollover_amount = _credits(label="Credits that roll over")

    def __init__(self, data=None, *, credit_currencies=(), rows=None, add_row: str | None = None, **kwargs):
        """`credit_currencies`: (display id, label) choices; `rows`: row counts for an unbound form;
        `add_row`: a row kind to add one blank row to (the "Add tier" buttons)."""
        super().__init__(data, **kwargs)
        currency_choices = [("", "—"), *credit_currencies]
        self.fields["credits_currency"].choices = currency_choices
        self.origin: dict[str, str] = {}
        self.row_counts = {}
        for kind, cells in ROW_FIELDS.items():
            minimum = 0 if kind == "benefit" else 1
            if self.is_bound:
                count = self._int(self.data.get(self.add_prefix(f"{kind}_rows")), minimum)
            else:
                count = max(minimum, (rows or {}).get(kind, minimum))
            count = min(count + (1 if add_row == kind else 0), MAX_ROWS)
            self.row_counts[kind] = count
            for index in range(count):
                for cell in cells:
                    self.fields[f"{kind}_{index}_{cell}"] = self._row_field(
                        kind, cell, index, currency_choices
                    )
        self.kind = (
            (self.data.get(self.add_prefix("pricing_type")) if self.is_bound else None)
            or self.initial.get("pricing_type")
            or "RecurringPerUnit"
        )
        self.shown = pricing_type_fields(self.kind)
        frequency = (
            self.data.get(self.add_prefix("billing_frequency"))
            if self.is_bound
            else self.initial.get("billing_frequency")
        )
        self.custom_frequency = frequency == "Custom"
        if self.custom_frequency:
            self.fields["billing_frequency_custom_months"].required = True
        rule = PRICING_RULES.get(self.kind)
        if rule is not None:
            for name in rule.required:
                if name in SCALAR_FIELDS and name != "pricing_input":
                    self.fields[SCALAR_FIELDS[name]].required = True
            if rule.billing_frequency == "required":
                self.fields["billing_frequency"].required = True

    def refresh_on_change(self, url: str, *, target: str = "#pricing-form") -> None:
        """Changing the type (or to "Every N months") fetches the form (`target`) again with the fields it
        needs; htmx keeps the focus on the select."""
        attrs = {
            "hx-post": url,
            "hx-trigger": "change",
            "hx-target": target,
            "hx-swap": "outerHTML",
            "hx-vals": json.dumps({"_refresh": self.refresh["type"]}),
            # Two quick changes: the later request (which carries both) replaces the earlier one.
            "hx-sync": "closest form:replace",
            "hx-disabled-elt": f"{target} button[type=submit]",
        }
        self.fields["pricing_type"].widget.attrs.update(attrs)
        self.fields["billing_frequency"].widget.attrs.update(attrs)

    @property
    def refresh(self) -> dict[str, str]:
        """The `_refresh` value of each "Add a row" button and of a type change. With a prefix (several line
        forms in one page, e.g. a plan's), it names the line too: "a0:tier"."""
        kinds = ("type", *ROW_FIELDS)
        return {kind: f"{self.prefix}:{kind}" if self.prefix else kind for kind in kinds}

    @property
    def row_inputs(self) -> list[tuple[str, int]]:
        """(input name, count) of the hidden inputs that carry the number of rows of each kind."""
        return [(self.add_prefix(f"{kind}_rows"), count) for kind, count in self.row_counts.items()]

    @staticmethod
    def _int(value, minimum: int) -> int:
        try:
            return max(minimum, int(value))
        except (TypeError, ValueError):
            return minimum

    @staticmethod
    def _row_field(kind: str, cell: str, index: int, currency_choices) -> forms.Field:
        noun = _ROW_NOUN[kind].capitalize()
        number = index + 1
        if kind in ("price", "tier") and cell == "currency":
            field = CurrencyField(required=False, initial="USD")
            field.widget.attrs.update({"size": 4, "class": "input--currency"})
        elif kind == "benefit" and cell == "currency":
            field = forms.ChoiceField(required=False, choices=currency_choices, label="Credit currency")
        elif cell in ("amount", "unit", "flat") and kind != "benefit":
            field = _major()
        elif cell in ("lower", "upper", "up_to"):
            field = _count()
        elif cell == "rollover_duration":
            field = _count(label="Rollover for")
        elif cell == "recipient":
            field = forms.ChoiceField(
                required=False, choices=RECIPIENT_CHOICES, initial="organization", label="Granted to"
            )
        elif cell == "cadence":
            field = forms.ChoiceField(
                required=False, choices=CADENCE_CHOICES, initial="upfront", label="Granted"
            )
        elif cell == "timing":
            field = forms.ChoiceField(required=False, choices=GRANT_TIMING_CHOICES, label="Grant timing")
        elif cell == "rollover_unit":
            field = forms.ChoiceField(required=False, choices=DURATION_UNIT_CHOICES, label="Rollover unit")
        elif cell == "rollover_amount":
            field = _credits(label="Credits that roll over")
        else:  # credits, credits_per_unit, benefit amount
            field = _credits(label="Credits" if cell != "credits_per_unit" else "Credits per unit")
        cell_label = {
            "currency": "currency",
            "amount": "amount" if kind == "benefit" else "unit price",
            "lower": "from",
            "upper": "to",
            "unit": "price per unit",
            "flat": "flat fee",
            "up_to": "up to",
            "credits": "credits",
            "credits_per_unit": "credits per unit",
        }.get(cell, str(field.label or cell).lower())
        field.widget.attrs.setdefault("aria-label", f"{noun} {number}: {cell_label}")
        return field

    # --- rows -----------------------------------------------------------------------------------------------

    def rows(self, kind: str) -> list[dict[str, forms.BoundField]]:
        return [
            {cell: self[f"{kind}_{index}_{cell}"] for cell in ROW_FIELDS[kind]} | {"number": index + 1}
            for index in range(self.row_counts[kind])
        ]

    price_rows = property(lambda self: self.rows("price"))
    tier_rows = property(lambda self: self.rows("tier"))
    bracket_rows = property(lambda self: self.rows("bracket"))
    benefit_rows = property(lambda self: self.rows("benefit"))

    def _filled_rows(self, kind: str) -> list[tuple[int, dict[str, Any]]]:
        """(row index, cleaned cells) of the rows someone filled in; blank rows are ignored (that's how to
        remove one)."""
        filled = []
        for index in range(self.row_counts[kind]):
            cells = {cell: self.cleaned_data.get(f"{kind}_{index}_{cell}") for cell in ROW_FIELDS[kind]}
            typed = {
                c: v for c, v in cells.items() if v not in (None, "") and c not in _ROW_DEFAULTS.get(kind, ())
            }
            if typed:
                filled.append((index, cells))
        return filled

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "name" in cleaned:
            cleaned["name"] = cleaned["name"].strip()
            if not cleaned["name"]:
                self.add_error("name", "A pricing line needs a name.")
        # Prices are typed in major units; check they fit minor units with at most 6 decimals.
        money_cells = {"price": ("amount",), "tier": ("unit", "flat")}
        for kind, cells in money_cells.items():
            if kind + "s" not in self.shown:
                continue
            for index, row in self._filled_rows(kind):
                currency = row["currency"]
                if not currency:
                    if f"{kind}_{index}_currency" not in self.errors:
                        self.add_error(f"{kind}_{index}_currency", "Enter a currency, e.g. USD.")
                    continue
                for cell in cells:
                    amount = row[cell]
                    if amount is not None and _to_minor(amount, currency).as_tuple().exponent < -6:
                        digits = MINOR_UNITS[currency] + 6
                        self.add_error(f"{kind}_{index}_{cell}", f"At most {digits} decimals in {currency}.")
        return cleaned

    # --- wire format ----------------------------------------------------------------------------------------

    def wire(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The camelCase PricingInput and creditBenefits this form describes (call after is_valid()).
        Records in `self.origin` which form field each wire path came from."""
        data = self.cleaned_data
        kind = data["pricing_type"]
        rule = PRICING_RULES[kind]
        takes = set(rule.required) | set(rule.optional)
        origin = self.origin
        origin.update({"name": "name", "pricing.pricingType": "pricing_type", "pricing": "pricing_type"})
        pricing: dict[str, Any] = {"pricingType": kind}

        def put(key: str, value: Any, field: str) -> None:
            origin[f"pricing.{key}"] = field
            if value not in (None, ""):
                pricing[key] = _wire_number(value) if isinstance(value, Decimal | int) else value

        if rule.billing_frequency != "forbidden":
            put("billingFrequency", data["billing_frequency"], "billing_frequency")
            months = (
                data["billing_frequency_custom_months"] if data["billing_frequency"] == "Custom" else None
            )
            put("billingFrequencyCustomMonths", months, "billing_frequency_custom_months")
            if rule.charge_type != "usage":
                put("billingType", data["billing_type"], "billing_type")
        for name, field in SCALAR_FIELDS.items():
            if name not in takes:
                continue
            if name == "pricing_input":
                origin["pricing.pricingInput"] = field
                origin["pricing.pricingInput.path"] = field
                if data[field] or name in rule.required:
                    pricing["pricingInput"] = {"kind": "signalQuantity", "path": data[field] or None}
                continue
            put(to_camel(name), data[field], field)

        if rule.price_points == "tiered":
            self._wire_tiers(pricing)
        else:
            self._wire_prices(pricing)
        if "credit_unit_brackets" in takes:
            self._wire_brackets(pricing)
        return pricing, self._wire_benefits()

    def _wire_prices(self, pricing: dict[str, Any]) -> None:
        points = []
        self.origin["pricing.pricePoints"] = "price_0_amount"
        for index, row in self._filled_rows("price"):
            at = f"pricing.pricePoints[{len(points)}]"
            self.origin.update(
                {
                    at: f"price_{index}_amount",
                    f"{at}.currency": f"price_{index}_currency",
                    f"{at}.unitPrice": f"price_{index}_amount",
                }
            )
            amount = row["amount"]
            points.append(
                {
                    "currency": row["currency"],
                    "unitPrice": None if amount is None else _wire_number(_to_minor(amount, row["currency"])),
                }
            )
        if points:
            pricing["pricePoints"] = points

    def _wire_tiers(self, pricing: dict[str, Any]) -> None:
        """Tier rows grouped by currency, in the order currencies first appear: one price point each."""
        points: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.origin["pricing.pricePoints"] = "tier_0_lower"
        for index, row in self._filled_rows("tier"):
            points.setdefault(row["currency"], []).append((index, row))
        wire_points = []
        for p, (currency, rows) in enumerate(points.items()):
            at = f"pricing.pricePoints[{p}]"
            first = rows[0][0]
            self.origin.update(
                {
                    at: f"tier_{first}_lower",
                    f"{at}.currency": f"tier_{first}_currency",
                    f"{at}.tiers": f"tier_{first}_lower",
                }
            )
            tiers = []
            for t, (index, row) in enumerate(rows):
                tier_at = f"{at}.tiers[{t}]"
                self.origin.update(
                    {
                        tier_at: f"tier_{index}_lower",
                        f"{tier_at}.lowerBound": f"tier_{index}_lower",
                        f"{tier_at}.upperBound": f"tier_{index}_upper",
                        f"{tier_at}.unitAmount": f"tier_{index}_unit",
                        f"{tier_at}.flatAmount": f"tier_{index}_flat",
                    }
                )
                tier = {"lowerBound": row["lower"], "upperBound": row["upper"]}
                for cell, key in (("unit", "unitAmount"), ("flat", "flatAmount")):
                    if row[cell] is not None:
                        tier[key] = _wire_number(_to_minor(row[cell], currency))
                tiers.append(tier)
            wire_points.append({"currency": currency, "tiers": tiers})
        if wire_points:
            pricing["pricePoints"] = wire_points

    def _wire_brackets(self, pricing: dict[str, Any]) -> None:
        brackets = []
        self.origin["pricing.creditUnitBrackets"] = "bracket_0_credits"
        for index, row in self._filled_rows("bracket"):
            at = f"pricing.creditUnitBrackets[{len(brackets)}]"
            self.origin.update(
                {
                    at: f"bracket_{index}_credits",
                    f"{at}.upTo": f"bracket_{index}_up_to",
                    f"{at}.creditUnits": f"bracket_{index}_credits",
                    f"{at}.creditUnitsPerUnit": f"bracket_{index}_credits_per_unit",
                }
            )
            bracket = {"upTo": row["up_to"], "creditUnits": _wire_number(row["credits"])}
            if row["credits_per_unit"] is not None:
                bracket["creditUnitsPerUnit"] = _wire_number(row["credits_per_unit"])
            if bracket["creditUnits"] is None:
                bracket["creditUnits"] = "0" if bracket.get("creditUnitsPerUnit") is not None else None
            brackets.append(bracket)
        if brackets:
            pricing["creditUnitBrackets"] = brackets

    def _wire_benefits(self) -> list[dict[str, Any]]:
        benefits = []
        cells = {
            "currency": "creditsCurrencyId",
            "amount": "amount",
            "recipient": "recipient",
            "cadence": "allocationCadence",
            "timing": "creditGrantTiming",
            "rollover_amount": "rolloverAmount",
            "rollover_duration": "rolloverDuration",
            "rollover_unit": "rolloverDurationUnit",
        }
        for index, row in self._filled_rows("benefit"):
            at = f"creditBenefits[{len(benefits)}]"
            self.origin[at] = f"benefit_{index}_amount"
            benefit = {}
            for cell, key in cells.items():
                self.origin[f"{at}.{key}"] = f"benefit_{index}_{cell}"
                if row[cell] not in (None, ""):
                    benefit[key] = (
                        _wire_number(row[cell]) if isinstance(row[cell], Decimal | int) else row[cell]
                    )
            benefits.append(benefit)
        return benefits

    # --- errors ---------------------------------------------------------------------------------------------

    def add_wire_error(self, path: str | None, message: str) -> None:
        """Show an error that names a wire path (`pricing.pricePoints[0].tiers[1].lowerBound`) on the input it
        came from; a path the form can't place is shown above the form, quoted."""
        path = re.sub(r"^productAttributes\[\d+\]\.", "", path or "")
        message = _EMBEDDED_PATH.sub(self._describe_path, re.sub(r"productAttributes\[\d+\]\.", "", message))
        probe = path
        while probe:
            if probe in self.origin and self.origin[probe] in self.fields:
                field = self.origin[probe]
                if probe != path and not message.startswith(path):
                    message = f"{path.removeprefix('pricing.')}: {message}"
                self.add_error(field, _sentence(message))
                return
            shorter = re.sub(r"(\.[A-Za-z]+|\[\d+\])$", "", probe)
            probe = "" if shorter == probe else shorter
        self.add_error(None, f"{path}: {message}" if path else _sentence(message))

    def _describe_path(self, match: re.Match) -> str:
        """A wire path inside a message, in the form's words: `pricePoints[0].tiers[1]` → "tier 2"."""
        path = match.group(0)
        path = path if path.startswith(("pricing.", "creditBenefits")) else f"pricing.{path}"
        field = self.origin.get(path)
        if field is None:
            return match.group(0)
        kind, index, _ = field.split("_", 2)
        return f"{_ROW_NOUN.get(kind, kind)} {int(index) + 1}" if kind in _ROW_NOUN else match.group(0)

    # --- initial values from a stored line ------------------------------------------------------------------

    @staticmethod
    def initial_for(attribute, benefits) -> tuple[dict[str, Any], dict[str, int]]:
        """Initial values (and row counts) to edit a stored attribute: prices back in major units."""
        pricing = attribute.pricing or {}
        initial: dict[str, Any] = {
            "name": attribute.name,
            "active": attribute.active,
            "pricing_type": pricing.get("pricing_type", attribute.pricing_type),
            "billing_frequency": pricing.get("billing_frequency", ""),
            "billing_frequency_custom_months": pricing.get("billing_frequency_custom_months"),
            "billing_type": pricing.get("billing_type", ""),
        }
        for name, field in SCALAR_FIELDS.items():
            if name == "pricing_input":
                initial[field] = (pricing.get("pricing_input") or {}).get("path") or ""
            else:
                initial[field] = pricing.get(name, "")
        rows = {"price": 0, "tier": 0, "bracket": 0, "benefit": 0}
        for point in pricing.get("price_points", []):
            currency = point["currency"]
            if point.get("tiers"):
                for tier in point["tiers"]:
                    at = f"tier_{rows['tier']}"
                    initial.update(
                        {
                            f"{at}_currency": currency,
                            f"{at}_lower": tier.get("lower_bound"),
                            f"{at}_upper": tier.get("upper_bound"),
                            f"{at}_unit": minor_to_major(tier.get("unit_amount"), currency),
                            f"{at}_flat": minor_to_major(tier.get("flat_amount"), currency),
                        }
                    )
                    rows["tier"] += 1
            else:
                at = f"price_{rows['price']}"
                initial.update(
                    {
                        f"{at}_currency": currency,
                        f"{at}_amount": minor_to_major(point.get("unit_price", 0), currency),
                    }
                )
                rows["price"] += 1
        for bracket in pricing.get("credit_unit_brackets", []):
            at = f"bracket_{rows['bracket']}"
            initial.update(
                {
                    f"{at}_up_to": bracket.get("up_to"),
                    f"{at}_credits": format_plain(bracket.get("credit_units")),
                    f"{at}_credits_per_unit": format_plain(bracket.get("credit_units_per_unit")),
                }
            )
            rows["bracket"] += 1
        for benefit in benefits:
            at = f"benefit_{rows['benefit']}"
            initial.update(
                {
                    f"{at}_currency": benefit.credits_currency.display_id,
                    f"{at}_amount": format_plain(benefit.amount),
                    f"{at}_recipient": benefit.recipient,
                    f"{at}_cadence": benefit.allocation_cadence,
                    f"{at}_timing": benefit.credit_grant_timing or "",
                    f"{at}_rollover_amount": format_plain(benefit.rollover_amount),
                    f"{at}_rollover_duration": benefit.rollover_duration,
                    f"{at}_rollover_unit": benefit.rollover_duration_unit or "",
                }
            )
            rows["benefit"] += 1
        for name in (
            "credit_cost",
            "unit_value",
            "percentage_value",
            "cost_plus_multiplier",
            "credit_rollover_amount",
        ):
            initial[name] = format_plain(initial.get(name))
        return initial, rows

    @staticmethod
    def initial_from_data(data, prefix: str | None = None) -> tuple[dict[str, Any], dict[str, int]]:
        """A posted form as initial values (to add a row or switch type without showing errors yet); with
        `prefix`, the fields of that form only, without their prefix."""
        start = f"{prefix}-" if prefix else ""
        initial = {
            key.removeprefix(start): data.get(key)
            for key in data
            if key.startswith(start) and not key.startswith(("csrfmiddlewaretoken", "_"))
        }
        initial["active"] = bool(data.get(f"{start}active"))
        rows = {kind: PricingLineForm._int(data.get(f"{start}{kind}_rows"), 0) for kind in ROW_FIELDS}
        return initial, rows


def format_plain(value) -> str:
    """A stored decimal for an input: "1.000000" → "1"."""
    if value in (None, ""):
        return ""
    return format_number(value).replace(",", "")


def _sentence(message: str) -> str:
    message = message.strip()
    if message[:1].islower() and not message.startswith(("pricing", "credit", "price")):
        message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else f"{message}."


# --- plans -------------------------------------------------------------------------------------------------
#
# A plan form is a PlanForm (name, ids, currencies, default) plus one PlanLineForm per attribute of the product,
# prefixed "a0", "a1", … A line form is the pricing-line form without the attribute's own name and state, with
# an "included in this plan" box, and with only the pricing types of the attribute's charge type (a plan may
# change a line's price and model, not its charge type).


class PlanForm(forms.Form):
    name = forms.CharField(
        max_length=255,
        help_text="Shown to customers and on orders, e.g. “Pro”.",
        error_messages={"required": "A plan needs a name."},
    )
    external_id = forms.CharField(
        max_length=255,
        required=False,
        label="External ID",
        help_text="Your system's id for this plan, e.g. chatbot-pro.",
        widget=forms.TextInput(attrs={"class": "mono", "autocapitalize": "none", "spellcheck": "false"}),
    )
    supported_currencies = forms.CharField(
        max_length=255,
        required=False,
        label="Supported currencies",
        help_text="ISO codes separated by commas, e.g. USD, EUR. Every priced line needs one price in each. "
        "Empty: the currencies of the prices below.",
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "spellcheck": "false"}),
    )
    is_default = forms.BooleanField(
        required=False,
        label="Default plan",
        help_text="New orders that name no plan get this one. The product's other plans stop being the default.",
    )

    @staticmethod
    def initial_for(plan) -> dict[str, Any]:
        return {
            "name": plan.name or "",
            "external_id": plan.external_id or "",
            "supported_currencies": ", ".join(plan.supported_currencies or []),
            "is_default": plan.is_default,
        }

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("A plan needs a name.")
        return name

    def clean_supported_currencies(self) -> list[str] | None:
        """ "usd, eur" → ["usd", "eur"] (the service upper-cases and checks the codes); empty → None."""
        codes = [code for code in re.split(r"[\s,;]+", self.cleaned_data["supported_currencies"]) if code]
        return codes or None

    def service_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["external_id"] = blank_to_none(data["external_id"].strip())
        return data

    def add_service_error(self, field: str | None, message: str) -> None:
        """A service refusal on a plan-level wire field (`supportedCurrencies[1]`, `isDefault`, …)."""
        wire = re.sub(r"\[\d+\]$", "", field or "")
        name = {
            "supportedCurrencies": "supported_currencies",
            "isDefault": "is_default",
            "externalId": "external_id",
            "external_id": "external_id",
            "name": "name",
        }.get(wire)
        self.add_error(name, _sentence(message))


class PlanLineForm(PricingLineForm):
    included = forms.BooleanField(required=False, label="Included in this plan")

    def __init__(self, data=None, *, attribute, **kwargs):
        """`attribute`: the product attribute this line prices in the plan."""
        super().__init__(data, **kwargs)
        self.attribute = attribute
        del self.fields["name"]
        del self.fields["active"]
        charge = PRICING_RULES[attribute.pricing_type].charge_type
        self.fields["pricing_type"].choices = [
            (group, [(kind, label) for kind, label in kinds if PRICING_RULES[kind].charge_type == charge])
            for group, kinds in PRICING_TYPE_CHOICES
            if any(PRICING_RULES[kind].charge_type == charge for kind, _ in kinds)
        ]
        self.fields["included"].widget.attrs["class"] = "plan-line__include"

    @property
    def is_included(self) -> bool:
        if self.is_bound:
            return bool(self.data.get(self.add_prefix("included")))
        return bool(self.initial.get("included"))

    def full_clean(self) -> None:
        """A line left out of the plan is not checked (whatever its fields hold is ignored)."""
        if self.is_bound and not self.is_included:
            self._errors = forms.utils.ErrorDict()
            self.cleaned_data = {"included": False}
            return
        super().full_clean()

    @staticmethod
    def initial_for_line(line, benefits, *, included: bool) -> tuple[dict[str, Any], dict[str, int]]:
        """Initial values from a stored line: the product attribute's pricing (a new plan) or the plan's."""
        source = SimpleNamespace(name="", active=True, pricing=line.pricing, pricing_type=line.pricing_type)
        initial, rows = PricingLineForm.initial_for(source, benefits)
        initial["included"] = included
        return initial, rows
