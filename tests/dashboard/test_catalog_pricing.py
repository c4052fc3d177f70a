from decimal import Decimal

import pytest

from apps.catalog.selectors import credit_currency_list, product_attribute_list
from apps.catalog.services import credit_currency_create, product_attributes_upsert, product_create
from apps.common.templatetags.money import format_money, format_number
from tests.dashboard.conftest import HTMX

pytestmark = pytest.mark.django_db


# --- the money filter --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (2900, "USD", "$29.00"),
        (10, "EUR", "€0.10"),
        (500, "JPY", "¥500"),
        (Decimal("0.5"), "USD", "$0.005"),
        ("0.000125", "EUR", "€0.00000125"[:9]),  # capped at 6 decimals, half up
        (123456789, "USD", "$1,234,567.89"),
        (1500, "KWD", "KWD 1.500"),
        (100, "chf", "CHF 1.00"),
        (-250, "GBP", "-£2.50"),
        ("29", "USD", "$0.29"),
    ],
)
def test_money_formats_minor_units(amount, currency, shown):
    assert format_money(amount, currency) == shown


def test_money_filter_in_a_template_and_odd_input():
    from django.template import Context, Template

    template = Template('{% load money %}{{ a|money:"USD" }} {{ b|money:"JPY" }} {{ c|credits }}')
    assert template.render(Context({"a": 2900, "b": 500, "c": Decimal("500.000000")})) == "$29.00 ¥500 500"
    assert format_money(None, "USD") == ""
    assert format_money(100, "XYZ") == "100"  # not a currency: shown as is
    assert format_number("1234.500000") == "1,234.5"


# --- helpers -----------------------------------------------------------------------------------------------


@pytest.fixture
def product(organization):
    return product_create(organization=organization, name="ChatBot")


@pytest.fixture
def chat_credits(organization):
    return credit_currency_create(organization=organization, name="Chat Credits", key="chat_credits")


def _url(product, attribute=None) -> str:
    if attribute is None:
        return f"/products/{product.display_id}/pricing/new/"
    return f"/products/{product.display_id}/pricing/{attribute.display_id}/edit/"


def _post(dashboard, url, fields, **rows):
    data = {"active": "on", "price_rows": 1, "tier_rows": 1, "bracket_rows": 1, "benefit_rows": 0, **rows}
    data.update(fields)
    return dashboard.post(url, data, headers=HTMX)


# --- the product page --------------------------------------------------------------------------------------


def test_product_page_shows_pricing_in_plain_words(dashboard, product, chat_credits):
    product_attributes_upsert(
        product=product,
        attributes=[
            {
                "name": "Platform fee",
                "pricing": {
                    "pricing_type": "RecurringPerUnit",
                    "billing_frequency": "Monthly",
                    "price_points": [
                        {"currency": "USD", "unit_price": 2900},
                        {"currency": "EUR", "unit_price": 2700},
                    ],
                },
                "credit_benefits": [
                    {
                        "credits_currency_id": chat_credits.display_id,
                        "amount": 500,
                        "allocation_cadence": "monthly",
                    }
                ],
            },
            {
                "name": "Chat messages",
                "pricing": {
                    "pricing_type": "UsagePrepaidCredits",
                    "event_name": "chat_message",
                    "credits_currency_id": chat_credits.display_id,
                    "credit_cost": 1,
                },
            },
            {
                "name": "API calls",
                "active": False,
                "pricing": {
                    "pricing_type": "UsageGraduated",
                    "event_name": "api_call",
                    "price_points": [
                        {
                            "currency": "USD",
                            "tiers": [
                                {"lower_bound": 0, "upper_bound": 1000, "unit_amount": 0},
                                {"lower_bound": 1000, "unit_amount": Decimal("0.5")},
                            ],
                        }
                    ],
                },
            },
        ],
    )
    page = dashboard.get(f"/products/{product.display_id}/").content.decode()
    assert "Recurring · per unit · monthly" in page
    assert "$29.00" in page and "€27.00" in page and "per month" in page
    assert "500 Chat Credits each month, to the organization" in page
    assert "Usage · prepaid credits · chat_message" in page
    assert "1 credit</strong> per chat_message" in page
    assert "Usage · graduated tiers · api_call" in page
    assert "1\u20131,000" in page and "1,001 and up" in page and "$0.005" in page
    assert "Inactive" in page


# --- adding and editing lines ------------------------------------------------------------------------------


def test_add_recurring_per_unit_line_stores_minor_units(dashboard, product):
    response = _post(
        dashboard,
        _url(product),
        {
            "name": "Platform fee",
            "pricing_type": "RecurringPerUnit",
            "billing_frequency": "Monthly",
            "billing_type": "Advance",
            "price_0_currency": "usd",
            "price_0_amount": "29.00",
            "price_1_currency": "EUR",
            "price_1_amount": "27",
        },
        price_rows=2,
    )
    assert response.status_code == 200, response.context["form"].errors
    assert response["HX-Redirect"] == f"/products/{product.display_id}/"
    attribute = product_attribute_list(product=product).get()
    assert attribute.name == "Platform fee" and attribute.pricing_type == "RecurringPerUnit"
    points = attribute.pricing["price_points"]
    assert [(p["currency"], Decimal(str(p["unit_price"]))) for p in points] == [("USD", 2900), ("EUR", 2700)]
    assert (
        attribute.pricing["billing_frequency"] == "Monthly" and attribute.pricing["billing_type"] == "Advance"
    )


def test_add_sub_cent_usage_price(dashboard, product):
    _post(
        dashboard,
        _url(product),
        {
            "name": "Emails",
            "pricing_type": "UsagePerUnit",
            "event_name": "email_sent",
            "price_0_currency": "USD",
            "price_0_amount": "0.005",
        },
    )
    attribute = product_attribute_list(product=product).get()
    assert Decimal(str(attribute.pricing["price_points"][0]["unit_price"])) == Decimal("0.5")
    assert attribute.event_name == "email_sent"


def test_add_prepaid_credits_line_with_benefit(dashboard, product, chat_credits):
    response = _post(
        dashboard,
        _url(product),
        {
            "name": "Chat messages",
            "pricing_type": "UsagePrepaidCredits",
            "event_name": "chat_message",
            "credits_currency": chat_credits.display_id,
            "credit_cost": "1",
            "price_0_currency": "USD",  # the blank price row is ignored
            "benefit_0_currency": chat_credits.display_id,
            "benefit_0_amount": "500",
            "benefit_0_recipient": "organization",
            "benefit_0_cadence": "monthly",
        },
        benefit_rows=1,
    )
    assert response.status_code == 200 and "HX-Redirect" in response, response.context["form"].errors
    attribute = product_attribute_list(product=product).get()
    assert attribute.credits_currency == chat_credits
    assert Decimal(str(attribute.pricing["credit_cost"])) == 1
    assert "price_points" not in attribute.pricing
    benefit = attribute.credit_benefits.get()
    assert (benefit.amount, benefit.allocation_cadence, benefit.recipient) == (500, "monthly", "organization")


def test_graduated_tiers_with_a_gap_show_the_error_on_the_tier_and_write_nothing(dashboard, product):
    response = _post(
        dashboard,
        _url(product),
        {
            "name": "API calls",
            "pricing_type": "UsageGraduated",
            "event_name": "api_call",
            "tier_0_currency": "USD",
            "tier_0_lower": "1",
            "tier_0_upper": "100",
            "tier_0_unit": "0.10",
            "tier_1_currency": "USD",
            "tier_1_lower": "150",
            "tier_1_unit": "0.05",
        },
        tier_rows=2,
    )
    assert response.status_code == 200 and "HX-Redirect" not in response
    assert [t.name for t in response.templates][:1] == ["catalog/_pricing_form.html"]
    errors = response.context["form"].errors
    assert list(errors) == ["tier_1_lower"]
    assert "gap after tier 1" in errors["tier_1_lower"][0]
    assert not product_attribute_list(product=product).exists()


def test_missing_event_name_is_shown_on_its_field(dashboard, product):
    response = _post(
        dashboard,
        _url(product),
        {
            "name": "Emails",
            "pricing_type": "UsagePerUnit",
            "price_0_currency": "USD",
            "price_0_amount": "0.10",
        },
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["event_name"]
    assert not product_attribute_list(product=product).exists()


def test_service_rule_errors_map_back_to_fields(dashboard, product, chat_credits):
    # Two prices in one currency: refused by the service on the second row's currency.
    response = _post(
        dashboard,
        _url(product),
        {
            "name": "Seats",
            "pricing_type": "SeatBasedPerUnit",
            "billing_frequency": "Custom",
            "billing_frequency_custom_months": "2",
            "price_0_currency": "USD",
            "price_0_amount": "10",
            "price_1_currency": "USD",
            "price_1_amount": "12",
        },
        price_rows=2,
    )
    assert list(response.context["form"].errors) == ["price_1_currency"]
    # An archived credit currency is refused on the select.
    from apps.catalog.services import credit_currency_update

    credit_currency_update(currency=chat_credits, status="archived")
    response = _post(
        dashboard,
        _url(product),
        {
            "name": "Platform fee",
            "pricing_type": "RecurringPerUnit",
            "billing_frequency": "Monthly",
            "price_0_currency": "USD",
            "price_0_amount": "29",
            "benefit_0_currency": chat_credits.display_id,
            "benefit_0_amount": "5",
            "benefit_0_recipient": "organization",
            "benefit_0_cadence": "upfront",
        },
        benefit_rows=1,
    )
    assert set(response.context["form"].errors) == {"benefit_0_currency"}
    assert not product_attribute_list(product=product).exists()


def test_too_many_decimals_and_missing_currency(dashboard, product):
    response = _post(
        dashboard,
        _url(product),
        {
            "name": "Fee",
            "pricing_type": "OneTimePerUnit",
            "price_0_currency": "JPY",
            "price_0_amount": "1.0000001",
        },
    )
    assert "At most 6 decimals in JPY" in response.context["form"].errors["price_0_amount"][0]


def test_edit_keeps_other_lines(dashboard, product):
    product_attributes_upsert(
        product=product,
        attributes=[
            {
                "name": "Platform fee",
                "pricing": {
                    "pricing_type": "RecurringPerUnit",
                    "billing_frequency": "Monthly",
                    "price_points": [{"currency": "USD", "unit_price": 2900}],
                },
            },
            {
                "name": "Emails",
                "pricing": {
                    "pricing_type": "UsagePerUnit",
                    "event_name": "email_sent",
                    "price_points": [{"currency": "USD", "unit_price": 10}],
                },
            },
        ],
    )
    fee, emails = product_attribute_list(product=product)
    form = dashboard.get(_url(product, fee))
    assert b'value="29.00"' in form.content
    response = _post(
        dashboard,
        _url(product, fee),
        {
            "name": "Platform fee (annual)",
            "pricing_type": "RecurringPerUnit",
            "billing_frequency": "Annual",
            "price_0_currency": "USD",
            "price_0_amount": "290",
        },
    )
    assert "HX-Redirect" in response
    fee.refresh_from_db()
    emails.refresh_from_db()
    assert fee.name == "Platform fee (annual)" and fee.pricing["billing_frequency"] == "Annual"
    assert Decimal(str(fee.pricing["price_points"][0]["unit_price"])) == 29000
    assert emails.name == "Emails" and Decimal(str(emails.pricing["price_points"][0]["unit_price"])) == 10
    assert product_attribute_list(product=product).count() == 2


def test_refresh_adds_a_row_and_switches_type_without_errors(dashboard, product):
    response = dashboard.post(
        _url(product),
        {"_refresh": "tier", "name": "", "pricing_type": "RecurringVolume", "tier_rows": 1, "price_rows": 1},
        headers=HTMX,
    )
    form = response.context["form"]
    assert response.status_code == 200 and not form.errors
    assert form.row_counts["tier"] == 2 and "tiers" in form.shown and "prices" not in form.shown
    assert b'name="tier_1_lower"' in response.content
    assert not product_attribute_list(product=product).exists()


def test_another_organizations_product_or_attribute_is_404(
    dashboard, organization, other_organization, product
):
    theirs = product_create(organization=other_organization, name="Globex bot")
    product_attributes_upsert(
        product=theirs,
        attributes=[
            {
                "name": "Fee",
                "pricing": {
                    "pricing_type": "OneTimePerUnit",
                    "price_points": [{"currency": "USD", "unit_price": 100}],
                },
            }
        ],
    )
    their_attribute = product_attribute_list(product=theirs).get()
    assert dashboard.get(_url(theirs)).status_code == 404
    assert dashboard.get(_url(theirs, their_attribute)).status_code == 404
    # Their attribute under our product: still not ours.
    assert dashboard.get(_url(product, their_attribute)).status_code == 404
    assert dashboard.post(_url(product, their_attribute), {"name": "x"}).status_code == 404


# --- credit currencies -------------------------------------------------------------------------------------


def test_credit_currency_create_duplicate_and_archive(dashboard, organization, other_organization):
    response = dashboard.post(
        "/products/credit-currencies/",
        {"name": "Chat Credits", "key": "chat_credits", "description": "One chat message each"},
        headers=HTMX,
    )
    assert response["HX-Redirect"] == "/products/credit-currencies/"
    currency = credit_currency_list(organization=organization).get()
    assert (currency.name, currency.key, currency.description) == (
        "Chat Credits",
        "chat_credits",
        "One chat message each",
    )

    response = dashboard.post(
        "/products/credit-currencies/", {"name": "Again", "key": "chat_credits"}, headers=HTMX
    )
    assert response.status_code == 200 and [t.name for t in response.templates][:1] == [
        "catalog/_currencies_panel.html"
    ]
    assert "already used" in response.context["form"].errors["key"][0]
    response = dashboard.post("/products/credit-currencies/", {"name": "Bad", "key": "Bad Key"}, headers=HTMX)
    assert list(response.context["form"].errors) == ["key"]
    assert credit_currency_list(organization=organization).count() == 1

    page = dashboard.get("/products/credit-currencies/").content.decode()
    assert "chat_credits" in page and "One chat message each" in page

    dashboard.post(f"/products/credit-currencies/{currency.display_id}/archive/")
    currency.refresh_from_db()
    assert currency.status == "archived" and currency.archived_at is not None
    dashboard.post(f"/products/credit-currencies/{currency.display_id}/unarchive/")
    currency.refresh_from_db()
    assert currency.status == "active" and currency.archived_at is None

    response = dashboard.post(
        f"/products/credit-currencies/{currency.display_id}/edit/", {"description": "Per message"}
    )
    assert response.status_code == 302
    currency.refresh_from_db()
    assert currency.description == "Per message"

    theirs = credit_currency_create(organization=other_organization, name="Tokens", key="tokens")
    assert dashboard.get(f"/products/credit-currencies/{theirs.display_id}/edit/").status_code == 404
    assert dashboard.post(f"/products/credit-currencies/{theirs.display_id}/archive/").status_code == 404


def test_nav_marks_credit_currencies(dashboard):
    page = dashboard.get("/products/credit-currencies/").content.decode()
    assert 'href="/products/credit-currencies/" aria-current="page"' in page
    assert 'href="/products/" aria-current' not in page


def test_a_line_with_api_only_settings_is_not_editable_here_and_is_not_changed(dashboard, product):
    product_attributes_upsert(
        product=product,
        attributes=[
            {
                "name": "Seats",
                "pricing": {
                    "pricing_type": "SeatBasedPerUnit",
                    "billing_frequency": "Monthly",
                    "price_points": [
                        {"currency": "USD", "unit_price": Decimal(1000), "included_quantity": 5}
                    ],
                },
            }
        ],
    )
    attribute = product_attribute_list(product=product).get()
    page = dashboard.get(_url(product, attribute)).content.decode()
    assert "is edited through the API" in page
    assert "includedQuantity" in page
    assert 'name="price_0_amount"' not in page
    response = _post(
        dashboard, _url(product, attribute), {"name": "Seats", "pricing_type": "SeatBasedPerUnit"}
    )
    assert response.status_code == 409
    attribute.refresh_from_db()
    assert attribute.pricing["price_points"][0]["included_quantity"] == 5
