"""Checkout services against the database: creating links, free plans completing without Stripe, the states that
refuse buyers, single-use and reusable links, double submits, expiry and the events."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from apps.checkout.models import Checkout, CheckoutAttempt
from apps.checkout.selectors import checkout_offer, checkout_status
from apps.checkout.services import (
    CheckoutClosed,
    checkout_archive,
    checkout_attempt_start,
    checkout_closed_reason,
    checkout_success_url,
    checkout_sweep_organization,
    checkouts_expire,
)
from apps.common.exceptions import DomainError, NotFound
from apps.customers.models import Customer
from apps.customers.services import customer_create
from apps.orders.models import Order
from apps.webhooks.models import WebhookEvent
from tests.checkout.fixtures import available_credits, buyer, completed, make_catalog, make_checkout

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(organization):
    return make_catalog(organization)


def events(name: str) -> list[WebhookEvent]:
    return list(WebhookEvent.objects.filter(name=name).order_by("pk"))


# --- create --------------------------------------------------------------------------------------------------


def test_create_stores_the_offer_and_announces_it(organization, catalog):
    checkout = make_checkout(
        organization, catalog, "Starter", "Pro", metadata={"campaign": "spring"}, collect_phone=True
    )
    assert checkout.display_id.startswith("chk_") and len(checkout.token) >= 40
    assert checkout.products == [
        {
            "id": catalog.product.display_id,
            "plans": [{"id": catalog.plan_id("Starter")}, {"id": catalog.plan_id("Pro")}],
        }
    ]
    assert checkout.allowed_currencies == ["EUR", "USD"]  # Pro is priced in EUR too
    assert (checkout.collect_phone, checkout.collect_address, checkout.single_use) == (True, False, False)
    assert [plan.name for plan in checkout_offer(checkout=checkout)] == ["Starter", "Pro"]
    (created,) = events("billing-checkout-created")
    assert created.data["checkoutId"] == checkout.display_id and created.data["status"] == "active"
    assert checkout_success_url(checkout) == f"https://app.example.com/ok?checkout={checkout.display_id}"


def test_all_plans_offered_when_none_listed_features_override(organization, catalog):
    checkout = make_checkout(organization, catalog)
    offered = checkout_offer(checkout=checkout)
    assert [plan.name for plan in offered] == ["Free", "Starter", "Pro", "Business"]
    pro = offered[2]
    assert pro.prices["USD"] == [(7900, "per month")] and pro.prices["EUR"] == [(7000, "per month")]
    assert pro.credits == ["2,000 Chat Credits each month"] and not pro.is_free("USD")
    assert offered[0].is_free("USD")

    product = {
        "id": catalog.product.display_id,
        "plans": [{"id": catalog.plan_id("Pro"), "features": ["Priority"]}],
    }
    from apps.checkout.services import checkout_create

    narrowed = checkout_create(organization=organization, products=[product], success_url="https://x.test/ok")
    assert checkout_offer(checkout=narrowed)[0].features == ["Priority"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "JPY"}, "currency"),
        ({"expires_at": "past"}, "expires_at"),
        ({"customer_id": "cus_x", "external_customer_id": "acme"}, "customerId"),
        ({"success_url": "https://x.test/{checkout_id}"}, "success_url"),
    ],
)
def test_create_refuses_bad_input_and_writes_nothing(organization, catalog, change, field):
    if change.get("expires_at") == "past":
        change["expires_at"] = timezone.now() - timedelta(minutes=1)
    with pytest.raises(DomainError) as caught:
        make_checkout(organization, catalog, "Pro", **change)
    assert caught.value.field == field
    assert not Checkout.objects.exists() and not events("billing-checkout-created")


def test_create_unknown_or_foreign_references_are_not_found(organization, other_organization, catalog):
    other = make_catalog(other_organization)
    from apps.checkout.services import checkout_create

    with pytest.raises(NotFound):
        checkout_create(
            organization=organization,
            products=[{"id": other.product.display_id}],
            success_url="https://x.test",
        )
    with pytest.raises(NotFound):
        checkout_create(
            organization=organization,
            products=[{"id": catalog.product.display_id, "plans": [{"id": other.plan_id("Pro")}]}],
            success_url="https://x.test",
        )
    foreign = customer_create(organization=other_organization, name="Theirs")
    with pytest.raises(NotFound):
        make_checkout(organization, catalog, customer_id=foreign.display_id)
    assert not Checkout.objects.filter(organization=organization).exists()


# --- free plans ----------------------------------------------------------------------------------------------


def test_free_plan_completes_without_payment(organization, catalog, django_capture_on_commit_callbacks):
    checkout = make_checkout(organization, catalog, "Free", "Pro", external_customer_id="acme")
    with django_capture_on_commit_callbacks(execute=True):  # the activation's grant task runs after commit
        attempt = checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Free"), **buyer())
    assert attempt.status == CheckoutAttempt.Status.COMPLETED and attempt.setup_intent_id is None
    customer = attempt.customer
    assert (customer.external_id, customer.name, customer.email) == ("acme", "Ada Buyer", "ada@example.com")
    order = Order.objects.get(pk=attempt.order_id)
    assert order.creation_state == "active" and order.customer == customer and order.currency == "USD"
    assert set(order.lines.values_list("attributes__plan_id", flat=True)) == {catalog.plan_id("Free")}
    assert available_credits(customer) == Decimal(50)
    assert CheckoutAttempt.objects.get(pk=attempt.pk).settled_at is not None
    (done,) = events("billing-checkout-completed")
    assert done.data["orderId"] == order.display_id and done.data["planId"] == catalog.plan_id("Free")
    checkout.refresh_from_db()
    assert checkout.status == "completed" and checkout_closed_reason(checkout) is None  # reusable: still open


def test_external_customer_id_attaches_an_existing_customer(organization, catalog):
    existing = customer_create(organization=organization, name="Acme Inc", external_id="acme")
    checkout = make_checkout(organization, catalog, "Free", external_customer_id="acme")
    attempt = checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Free"), **buyer())
    assert attempt.customer == existing and Customer.objects.filter(organization=organization).count() == 1


def test_double_submit_of_one_form_makes_one_order(organization, catalog):
    checkout = make_checkout(organization, catalog, "Free")
    first = checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Free"), **buyer())
    again = checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Free"), **buyer())
    assert again.pk == first.pk
    assert Order.objects.count() == 1 and Customer.objects.count() == 1
    assert len(events("billing-checkout-completed")) == 1


def test_reusable_link_makes_an_order_per_buyer(organization, catalog):
    checkout = make_checkout(organization, catalog, "Free")
    a = checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Free"), **buyer())
    b = checkout_attempt_start(
        checkout=checkout,
        plan_id=catalog.plan_id("Free"),
        **buyer(client_key="form-2", email="bo@example.com"),
    )
    assert a.order_id != b.order_id and a.customer_id != b.customer_id
    checkout.refresh_from_db()
    assert len(completed(checkout)) == 2 and checkout_status(checkout) == "completed"


def test_single_use_link_completes_once(organization, catalog):
    checkout = make_checkout(organization, catalog, "Free", single_use=True)
    checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Free"), **buyer())
    checkout.refresh_from_db()
    assert checkout.status == "completed" and checkout.completed_at is not None
    with pytest.raises(CheckoutClosed) as caught:
        checkout_attempt_start(
            checkout=checkout, plan_id=catalog.plan_id("Free"), **buyer(client_key="form-2")
        )
    assert caught.value.reason == "completed"
    assert Order.objects.count() == 1


# --- what the buyer must give --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"plan_id": "plan_nope"}, "plan"),
        ({"currency": "EUR"}, "currency"),  # Free is USD only
        ({"name": " "}, "name"),
        ({"email": "nope"}, "email"),
        ({"phone": ""}, "phone"),
        ({"address": {"line1": "1 Main St"}}, "address"),
    ],
)
def test_start_refuses_incomplete_details_and_writes_nothing(organization, catalog, values, field):
    checkout = make_checkout(organization, catalog, "Free", collect_phone=True, collect_address=True)
    form = buyer(phone="+1 555 0100", address={"line1": "1 Main St", "country": "US"})
    form.update(values)
    form.setdefault("plan_id", catalog.plan_id("Free"))
    with pytest.raises(DomainError) as caught:
        checkout_attempt_start(checkout=checkout, **form)
    assert caught.value.field == field
    assert not CheckoutAttempt.objects.exists() and not Order.objects.exists()


def test_address_and_phone_reach_the_customer(organization, catalog):
    checkout = make_checkout(organization, catalog, "Free", collect_phone=True, collect_address=True)
    address = {"line1": "1 Main St", "city": "Springfield", "zip_code": "12345", "country": "US"}
    attempt = checkout_attempt_start(
        checkout=checkout, plan_id=catalog.plan_id("Free"), **buyer(phone="+1 555 0100", address=address)
    )
    assert attempt.customer.phone == "+1 555 0100" and attempt.customer.billing_address == address


def test_currency_lock_limits_the_plans_and_currencies(organization, catalog):
    checkout = make_checkout(organization, catalog, "Starter", "Pro", currency="EUR")
    assert checkout.allowed_currencies == ["EUR"]
    with pytest.raises(DomainError) as caught:
        checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Pro"), **buyer(currency="USD"))
    assert caught.value.field == "currency"


def test_paid_plan_without_stripe_is_refused_clearly(organization, catalog):
    checkout = make_checkout(organization, catalog, "Pro")
    with pytest.raises(DomainError) as caught:
        checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Pro"), **buyer())
    assert caught.value.code == "STRIPE_NOT_CONFIGURED" and not CheckoutAttempt.objects.exists()


# --- closed links, expiry ------------------------------------------------------------------------------------


def test_archived_link_accepts_nothing(organization, catalog):
    checkout = make_checkout(organization, catalog, "Free")
    checkout_archive(checkout=checkout)
    checkout_archive(checkout=checkout)  # idempotent
    checkout.refresh_from_db()
    assert checkout.status == "archived" and checkout.archived_at is not None
    with pytest.raises(CheckoutClosed) as caught:
        checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Free"), **buyer())
    assert caught.value.reason == "archived" and not Order.objects.exists()


def test_expiry_reads_expired_then_the_sweep_marks_it_and_announces_once(organization, catalog):
    now = timezone.now()
    checkout = make_checkout(organization, catalog, "Free", expires_at=now + timedelta(hours=1))
    with time_machine.travel(now + timedelta(hours=2), tick=False):
        assert checkout_status(checkout) == "expired"
        with pytest.raises(CheckoutClosed) as caught:
            checkout_attempt_start(checkout=checkout, plan_id=catalog.plan_id("Free"), **buyer())
        assert caught.value.reason == "expired"
        assert checkout_sweep_organization(organization=organization)["expired"] == 1
        assert checkouts_expire(organization=organization) == 0
    checkout.refresh_from_db()
    assert checkout.status == "expired"
    (expired,) = events("billing-checkout-expired")
    assert expired.data["checkoutId"] == checkout.display_id and expired.data["status"] == "expired"
    assert not Order.objects.exists()
