from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.test import Client

from apps.catalog.models import Plan
from apps.catalog.selectors import plan_get, product_attribute_list
from apps.catalog.services import (
    credit_currency_create,
    plan_create,
    plan_upgrade_path_update,
    product_attributes_upsert,
    product_create,
)
from tests.dashboard.conftest import HTMX

pytestmark = pytest.mark.django_db


# --- helpers -----------------------------------------------------------------------------------------------


class _FormValues(HTMLParser):
    """What a browser would submit for the page's first form: its inputs as filled in (no submit buttons)."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.values = form_id, False, {}
        self._select, self._option, self._first = None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == self.form_id:
            self.inside = True
        if not self.inside or ("name" not in attrs and tag != "option"):
            return
        if tag == "input" and attrs.get("type") not in ("submit", "button"):
            if attrs.get("type") == "checkbox":
                if "checked" in attrs:
                    self.values[attrs["name"]] = "on"
            else:
                self.values[attrs["name"]] = attrs.get("value", "")
        elif tag == "select":
            self._select, self._first = attrs["name"], None
        elif tag == "option" and self._select:
            if self._first is None:
                self._first = attrs.get("value", "")
                self.values[self._select] = self._first
            if "selected" in attrs:
                self.values[self._select] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        if tag == "form":
            self.inside = False


def _form_values(response, form_id="plan-form") -> dict[str, str]:
    parser = _FormValues(form_id)
    parser.feed(response.content.decode())
    return parser.values


def _error_of(response, field_id: str) -> str:
    """The text of the error shown under input `field_id` ("" when there is none)."""
    html = response.content.decode()
    marker = f'id="{field_id}_error">'
    if marker not in html:
        return ""
    return html.split(marker, 1)[1].split("</div>", 1)[0]


@pytest.fixture
def chat_credits(organization):
    return credit_currency_create(organization=organization, name="Chat Credits", key="chat_credits")


@pytest.fixture
def product(organization, chat_credits):
    product = product_create(organization=organization, name="ChatBot")
    product_attributes_upsert(
        product=product,
        attributes=[
            {"name": "Subscription", "pricing": _monthly(2900)},
            {"name": "Chat messages", "pricing": _burn(chat_credits)},
        ],
    )
    return product


def _burn(credits) -> dict:
    return {
        "pricing_type": "UsagePrepaidCredits",
        "event_name": "chat_message",
        "credits_currency_id": credits.display_id,
        "credit_cost": 1,
    }


def _monthly(cents: int) -> dict:
    return {
        "pricing_type": "RecurringPerUnit",
        "billing_frequency": "Monthly",
        "price_points": [{"currency": "USD", "unit_price": cents}],
    }


def _plan(product, name: str, cents: int, *, credits=None, **fields) -> Plan:
    subscription, messages = product_attribute_list(product=product)
    line = {"product_attribute_id": subscription.display_id, "pricing": _monthly(cents)}
    if credits:
        line["credit_benefits"] = [
            {
                "credits_currency_id": credits[1].display_id,
                "amount": credits[0],
                "allocation_cadence": "monthly",
            }
        ]
    return plan_create(
        organization=product.organization,
        product_id=product.display_id,
        name=name,
        attributes=[
            line,
            {"product_attribute_id": messages.display_id, "pricing": _burn(messages.credits_currency)},
        ],
        **fields,
    )


def _detail(product) -> str:
    return f"/products/{product.display_id}/"


def _plans_url(product, plan=None, action="edit") -> str:
    if plan is None:
        return f"/products/{product.display_id}/plans/new/"
    return f"/products/{product.display_id}/plans/{plan.display_id}/{action}/"


# --- the Plans card ----------------------------------------------------------------------------------------


def test_product_page_lists_plans_with_prices_allowances_and_path(dashboard, product, chat_credits):
    starter = _plan(
        product, "Starter", 2900, credits=(500, chat_credits), is_default=True, external_id="cb-starter"
    )
    pro = _plan(product, "Pro", 7900, credits=(2000, chat_credits))
    plan_upgrade_path_update(
        organization=product.organization,
        product_id=product.display_id,
        groups=[{"frequency": "Monthly", "plan_ids": [starter.display_id, pro.display_id]}],
    )
    html = dashboard.get(_detail(product)).content.decode()
    plans = html.split('id="plans"', 1)[1]
    assert plans.index("Starter") < plans.index("Pro")  # path order
    assert "cb-starter" in plans and "Default" in plans
    assert "$79.00</strong> per month" in plans
    assert "2,000 Chat Credits each month" in plans and "500 Chat Credits each month" in plans
    assert "Step 2 of 2" in plans and "(monthly)" in plans
    assert "1 credit per chat_message" in plans
    assert "Make default" in plans and "Archive" in plans and "Upgrade path" in plans


def test_product_without_plans_says_so(dashboard, product):
    html = dashboard.get(_detail(product)).content.decode()
    assert "No plans yet" in html


# --- create ------------------------------------------------------------------------------------------------


def test_create_form_starts_from_the_products_pricing(dashboard, product):
    response = dashboard.get(_plans_url(product), headers=HTMX)
    assert response.status_code == 200
    values = _form_values(response)
    assert values["a0-price_0_amount"] == "29.00" and values["a0-included"] == "on"
    assert values["a1-pricing_type"] == "UsagePrepaidCredits" and values["a1-credit_cost"] == "1"
    html = response.content.decode()
    # A plan can't change a line's charge type: the recurring line offers recurring types only.
    subscription_select = html.split('name="a0-pricing_type"', 1)[1].split("</select>", 1)[0]
    assert "RecurringGraduated" in subscription_select and "UsagePerUnit" not in subscription_select


def test_create_plan_overriding_a_price_with_a_monthly_credit_benefit(dashboard, product, chat_credits):
    values = _form_values(dashboard.get(_plans_url(product), headers=HTMX))
    # "+ Add a credit benefit" on the subscription line: the form comes back with a blank benefit row.
    response = dashboard.post(_plans_url(product), {**values, "_refresh": "a0:benefit"}, headers=HTMX)
    assert response.status_code == 200 and not Plan.objects.exists()
    values = _form_values(response)
    assert "a0-benefit_0_amount" in values and "a1-benefit_0_amount" not in values
    values.update(
        {
            "name": "Pro",
            "external_id": "chatbot-pro",
            "a0-price_0_amount": "79.00",
            "a0-benefit_0_currency": chat_credits.display_id,
            "a0-benefit_0_amount": "2000",
            "a0-benefit_0_cadence": "monthly",
        }
    )
    response = dashboard.post(_plans_url(product), values, headers=HTMX)
    assert response.status_code == 200 and response["HX-Redirect"] == _detail(product)

    plan = Plan.objects.get()
    assert (plan.name, plan.external_id, plan.supported_currencies, plan.is_default) == (
        "Pro",
        "chatbot-pro",
        ["USD"],
        False,
    )
    subscription, messages = plan.attributes.order_by("pk")
    ((point),) = subscription.pricing["price_points"]
    assert point["currency"] == "USD" and Decimal(point["unit_price"]) == 7900
    (benefit,) = subscription.credit_benefits.all()
    assert benefit.amount == Decimal(2000) and benefit.allocation_cadence == "monthly"
    assert benefit.credits_currency == chat_credits
    assert Decimal(messages.pricing["credit_cost"]) == 1 and not messages.credit_benefits.exists()
    # The product's own pricing is untouched.
    assert product_attribute_list(product=product)[0].pricing["price_points"][0]["unit_price"] == 2900
    assert "2,000 Chat Credits each month" in dashboard.get(_detail(product)).content.decode()


def test_a_supported_currency_without_a_price_shows_on_the_price_and_writes_nothing(dashboard, product):
    values = _form_values(dashboard.get(_plans_url(product), headers=HTMX))
    values.update({"name": "Pro", "supported_currencies": "usd, EUR"})
    response = dashboard.post(_plans_url(product), values, headers=HTMX)
    assert response.status_code == 200 and not Plan.objects.exists()
    assert "no price point in EUR" in _error_of(response, "id_a0-price_0_amount")
    assert "Please correct the highlighted fields" in response.content.decode()
    # What was typed is kept.
    assert _form_values(response)["supported_currencies"] == "usd, EUR"


def test_a_plan_needs_an_included_line_and_a_name(dashboard, product):
    values = _form_values(dashboard.get(_plans_url(product), headers=HTMX))
    del values["a0-included"], values["a1-included"]
    values["a0-price_0_amount"] = "not a price"  # left out of the plan: not checked
    values["name"] = " "
    response = dashboard.post(_plans_url(product), values, headers=HTMX)
    assert response.status_code == 200 and not Plan.objects.exists()
    html = response.content.decode()
    assert "Include at least one of the product&#x27;s pricing lines" in html
    assert "A plan needs a name" in _error_of(response, "id_name")
    assert _error_of(response, "id_a0-price_0_amount") == ""


def test_errors_on_an_included_line_and_on_plan_fields_land_on_their_inputs(dashboard, product):
    values = _form_values(dashboard.get(_plans_url(product), headers=HTMX))
    values.update({"name": "Pro", "a0-price_0_amount": "-5"})
    response = dashboard.post(_plans_url(product), values, headers=HTMX)
    assert _error_of(response, "id_a0-price_0_amount") and not Plan.objects.exists()

    values.update({"a0-price_0_amount": "79", "supported_currencies": "USD, DOLLARS"})
    response = dashboard.post(_plans_url(product), values, headers=HTMX)
    assert "ISO 4217" in _error_of(response, "id_supported_currencies") and not Plan.objects.exists()


def test_a_duplicate_external_id_shows_on_the_field(dashboard, product):
    _plan(product, "Starter", 2900, external_id="chatbot-pro")
    values = _form_values(dashboard.get(_plans_url(product), headers=HTMX))
    values.update({"name": "Pro", "external_id": "chatbot-pro"})
    response = dashboard.post(_plans_url(product), values, headers=HTMX)
    assert "already used" in _error_of(response, "id_external_id") and Plan.objects.count() == 1


# --- edit --------------------------------------------------------------------------------------------------


def test_edit_starts_from_the_plans_pricing_and_replaces_its_lines(dashboard, product, chat_credits):
    pro = _plan(product, "Pro", 7900, credits=(2000, chat_credits))
    response = dashboard.get(_plans_url(product, pro), headers=HTMX)
    values = _form_values(response)
    assert values["name"] == "Pro" and values["a0-price_0_amount"] == "79.00"
    assert values["a0-benefit_0_amount"] == "2000" and values["supported_currencies"] == "USD"
    values.update({"name": "Pro 2", "a0-price_0_amount": "99.50", "a0-benefit_0_amount": "2500"})
    del values["a1-included"]
    response = dashboard.post(_plans_url(product, pro), values, headers=HTMX)
    assert response["HX-Redirect"] == _detail(product)

    pro = plan_get(organization=product.organization, plan_id=pro.display_id)
    (line,) = pro.attributes.all()
    assert pro.name == "Pro 2" and Decimal(line.pricing["price_points"][0]["unit_price"]) == 9950
    assert line.credit_benefits.get().amount == Decimal(2500)
    html = dashboard.get(_detail(product)).content.decode().split('id="plans"', 1)[1]
    assert "$99.50" in html and "Not included" in html


def test_edit_refused_keeps_the_plan_as_it_was(dashboard, product):
    pro = _plan(product, "Pro", 7900)
    values = _form_values(dashboard.get(_plans_url(product, pro), headers=HTMX))
    values.update({"name": "Changed", "a0-price_0_amount": "", "a0-price_0_currency": ""})
    response = dashboard.post(_plans_url(product, pro), values, headers=HTMX)
    assert response.status_code == 200 and "Please correct" in response.content.decode()
    pro.refresh_from_db()
    assert pro.name == "Pro" and pro.attributes.get(product_attribute__name="Subscription").pricing[
        "price_points"
    ] == [{"currency": "USD", "unit_price": 7900}]


def test_edit_page_without_htmx_is_a_full_page(dashboard, product):
    pro = _plan(product, "Pro", 7900)
    response = dashboard.get(_plans_url(product, pro))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html and "Edit plan" in html


# --- default, archive --------------------------------------------------------------------------------------


def test_make_default_moves_the_default(dashboard, product):
    starter = _plan(product, "Starter", 2900, is_default=True)
    pro = _plan(product, "Pro", 7900)
    response = dashboard.post(_plans_url(product, pro, "default"))
    assert response.status_code == 302
    starter.refresh_from_db()
    pro.refresh_from_db()
    assert pro.is_default and not starter.is_default
    assert "now the default plan" in dashboard.get(_detail(product)).content.decode()


def test_archive_drops_the_default_and_unarchive_restores(dashboard, product):
    starter = _plan(product, "Starter", 2900, is_default=True)
    dashboard.post(_plans_url(product, starter, "archive"))
    starter.refresh_from_db()
    assert starter.status == "archived" and starter.archived_at and not starter.is_default
    html = dashboard.get(_detail(product)).content.decode()
    assert "Archived" in html and "Unarchive" in html and "no default plan now" in html

    # An archived plan can't be made the default: said as a message, nothing changes.
    dashboard.post(_plans_url(product, starter, "default"))
    starter.refresh_from_db()
    assert not starter.is_default

    dashboard.post(_plans_url(product, starter, "unarchive"))
    starter.refresh_from_db()
    assert starter.status == "active" and starter.archived_at is None


def test_make_default_and_archive_are_post_only(dashboard, product):
    pro = _plan(product, "Pro", 7900)
    assert dashboard.get(_plans_url(product, pro, "default")).status_code == 405
    assert dashboard.get(_plans_url(product, pro, "archive")).status_code == 405


# --- upgrade path ------------------------------------------------------------------------------------------


def test_upgrade_path_moves_then_saves(dashboard, product):
    starter, pro, business = (
        _plan(product, n, c) for n, c in (("Starter", 2900), ("Pro", 7900), ("Business", 19900))
    )
    plan_upgrade_path_update(
        organization=product.organization,
        product_id=product.display_id,
        groups=[{"frequency": "Monthly", "plan_ids": [starter.display_id, pro.display_id]}],
    )
    url = f"/products/{product.display_id}/plans/upgrade-path/"
    order = [starter.display_id, pro.display_id, business.display_id]
    response = dashboard.post(url, {"plan_ids": order, "move": f"{business.display_id}:up"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "Not saved yet" in html
    assert html.index("Starter") < html.index("Business") < html.index("Pro")
    # The focus stays on the arrow that was pressed (htmx focuses `autofocus` after the swap).
    pressed = html.split(f'value="{business.display_id}:up"', 1)[1].split(">", 1)[0]
    assert "autofocus" in pressed
    business.refresh_from_db()
    assert business.upgrade_path_order is None  # a move alone writes nothing

    response = dashboard.post(
        url, {"plan_ids": [business.display_id, starter.display_id, pro.display_id]}, headers=HTMX
    )
    assert response["HX-Redirect"] == _detail(product) + "#plans"
    orders = {
        plan.name: (plan.upgrade_path_order, plan.upgrade_path_frequency)
        for plan in Plan.objects.filter(product=product)
    }
    assert orders == {"Business": (0, "Monthly"), "Starter": (1, "Monthly"), "Pro": (2, "Monthly")}


def test_upgrade_path_leaves_out_archived_plans(dashboard, product):
    starter = _plan(product, "Starter", 2900)
    pro = _plan(product, "Pro", 7900, is_default=False)
    dashboard.post(_plans_url(product, pro, "archive"))
    url = f"/products/{product.display_id}/plans/upgrade-path/"
    dashboard.post(url, {"plan_ids": [pro.display_id, starter.display_id]})
    starter.refresh_from_db()
    pro.refresh_from_db()
    assert (starter.upgrade_path_order, pro.upgrade_path_order) == (0, None)


# --- tenancy and login -------------------------------------------------------------------------------------


def test_another_organizations_product_or_plan_is_404(dashboard, product, other_organization):
    theirs = product_create(organization=other_organization, name="Globex bot")
    product_attributes_upsert(product=theirs, attributes=[{"name": "Fee", "pricing": _monthly(100)}])
    their_plan = _plan_of(theirs)
    mine = _plan(product, "Pro", 7900)
    assert dashboard.get(_plans_url(theirs), headers=HTMX).status_code == 404
    assert dashboard.get(_plans_url(theirs, their_plan)).status_code == 404
    assert dashboard.get(_plans_url(product, their_plan)).status_code == 404  # their plan under my product
    assert dashboard.post(_plans_url(product, their_plan, "default")).status_code == 404
    assert dashboard.post(_plans_url(product, their_plan, "archive")).status_code == 404
    assert dashboard.post(f"/products/{theirs.display_id}/plans/upgrade-path/", {}).status_code == 404
    their_plan.refresh_from_db()
    assert their_plan.status == "active" and not their_plan.is_default

    # My plan under my other product is a 404 too.
    other = product_create(organization=product.organization, name="AI SDR")
    assert dashboard.get(_plans_url(other, mine)).status_code == 404


def _plan_of(product) -> Plan:
    (fee,) = product_attribute_list(product=product)
    return plan_create(
        organization=product.organization,
        product_id=product.display_id,
        name="Theirs",
        attributes=[{"product_attribute_id": fee.display_id, "pricing": _monthly(100)}],
    )


def test_login_required(product):
    plan = _plan(product, "Pro", 7900)
    anonymous = Client()
    for url in (_plans_url(product), _plans_url(product, plan)):
        response = anonymous.get(url)
        assert response.status_code == 302 and "login" in response["Location"]
    response = anonymous.post(_plans_url(product, plan, "default"))
    assert response.status_code == 302
    plan.refresh_from_db()
    assert not plan.is_default


def test_a_plan_with_api_only_settings_is_not_editable_here(dashboard, product, chat_credits):
    subscription = product_attribute_list(product=product).first()
    seats = {**_monthly(2900), "price_points": [{"currency": "USD", "unit_price": 2900, "max_quantity": 3}]}
    plan = plan_create(
        organization=product.organization,
        product_id=product.display_id,
        name="Capped",
        attributes=[{"product_attribute_id": subscription.display_id, "pricing": seats}],
    )
    page = dashboard.get(_plans_url(product, plan)).content.decode()
    assert "is edited through the API" in page
    assert "maxQuantity" in page
