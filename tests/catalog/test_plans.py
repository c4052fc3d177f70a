"""Plans (§3.2): creation and validation, the default plan, the upgrade path, what an order copies."""

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from apps.catalog.models import CreditBenefit, Plan, PlanAttribute
from apps.catalog.selectors import catalog_pricing_for_order, plan_get, plan_list
from apps.catalog.services import (
    credit_currency_create,
    plan_create,
    plan_update,
    plan_upgrade_path_update,
    product_archive,
    product_attributes_upsert,
    product_create,
)
from apps.common.exceptions import DomainError, NotFound, ReferenceNotFound

pytestmark = pytest.mark.django_db


def monthly(*points: tuple[str, int]) -> dict:
    return {
        "pricing_type": "RecurringPerUnit",
        "billing_frequency": "Monthly",
        "price_points": [{"currency": currency, "unit_price": Decimal(cents)} for currency, cents in points],
    }


def credits_pricing(currency_id: str) -> dict:
    return {
        "pricing_type": "UsagePrepaidCredits",
        "event_name": "chat_message",
        "credits_currency_id": currency_id,
        "credit_cost": Decimal(1),
    }


def make_product(organization, name="ChatBot"):
    """A product with a recurring fee (USD 29) and prepaid chat messages."""
    currency = credit_currency_create(
        organization=organization, name="Chat Credits", key=f"cc-{name.lower()}"
    )
    product = product_create(organization=organization, name=name)
    product_attributes_upsert(
        product=product,
        attributes=[
            {"name": "Subscription", "pricing": monthly(("USD", 2900))},
            {"name": "Chat messages", "pricing": credits_pricing(currency.display_id)},
        ],
    )
    fee, messages = product.attributes.order_by("pk")
    return product, fee, messages, currency


def lines(fee, messages, currency, cents=2900, allowance=500, points=(("USD",),)) -> list[dict]:
    return [
        {
            "product_attribute_id": fee.display_id,
            "pricing": monthly(*((p[0], cents) for p in points)),
            "credit_benefits": [{"credits_currency_id": currency.display_id, "amount": Decimal(allowance)}],
        },
        {"product_attribute_id": messages.display_id, "pricing": credits_pricing(currency.display_id)},
    ]


@pytest.fixture
def chatbot(organization):
    return make_product(organization)


def new_plan(organization, chatbot, **fields) -> Plan:
    product, fee, messages, currency = chatbot
    fields.setdefault("attributes", lines(fee, messages, currency))
    return plan_create(organization=organization, product_id=product.display_id, **fields)


def counts() -> tuple[int, int, int]:
    return Plan.objects.count(), PlanAttribute.objects.count(), CreditBenefit.objects.count()


def defaults(product) -> list[str]:
    return list(product.plans.filter(is_default=True).values_list("name", flat=True))


# --- create and validation ---------------------------------------------------------------------------------


def test_plan_create_stores_overrides_and_benefits(organization, chatbot):
    product, fee, messages, currency = chatbot
    plan = plan_create(
        organization=organization,
        product_id=product.display_id,
        name="Pro",
        external_id="pro",
        attributes=lines(fee, messages, currency, cents=7900, allowance=2000),
    )
    plan = plan_get(organization=organization, plan_id=plan.display_id)
    assert plan.display_id.startswith("plan_")
    assert (plan.supported_currencies, plan.is_default, plan.status) == (["USD"], False, "active")
    subscription, chat = plan.attributes.all()
    assert subscription.product_attribute == fee and subscription.pricing_type == "RecurringPerUnit"
    assert Decimal(subscription.pricing["price_points"][0]["unit_price"]) == 7900
    assert subscription.pricing["charge_type"] == "recurring"
    assert [b.amount for b in subscription.credit_benefits.all()] == [Decimal(2000)]
    assert chat.credits_currency == currency and not chat.credit_benefits.exists()
    # The product attribute keeps its own price and benefits.
    fee.refresh_from_db()
    assert Decimal(fee.pricing["price_points"][0]["unit_price"]) == 2900
    assert not fee.credit_benefits.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda a, other: a.__setitem__(0, {**a[0], "product_attribute_id": other.display_id}),
            "attributes[0]",
        ),
        (
            lambda a, other: a.__setitem__(1, {**a[1], "product_attribute_id": a[0]["product_attribute_id"]}),
            "[1]",
        ),
        (lambda a, other: a.clear(), "attributes"),
        (
            lambda a, other: a[0].__setitem__("pricing", {**a[0]["pricing"], "price_points": []}),
            "pricePoints",
        ),
        (
            lambda a, other: a[0].__setitem__(
                "pricing",
                {"pricing_type": "UsagePerUnit", "event_name": "x", "price_points": [{"currency": "USD"}]},
            ),
            "attributes[0].pricing.pricingType",
        ),
        (
            lambda a, other: a[0]["credit_benefits"][0].__setitem__("credits_currency_id", "cc_missing"),
            "attributes[0].creditBenefits[0].creditsCurrencyId",
        ),
    ],
    ids=["other-product", "twice", "empty", "bad-pricing", "charge-type", "bad-benefit"],
)
def test_plan_create_refuses_bad_attributes_and_writes_nothing(organization, chatbot, change, field):
    product, fee, messages, currency = chatbot
    _, other_fee, _, _ = make_product(organization, name="Other")
    attributes = lines(fee, messages, currency)
    change(attributes, other_fee)
    before = counts()
    with pytest.raises(DomainError) as raised:
        plan_create(
            organization=organization, product_id=product.display_id, is_default=True, attributes=attributes
        )
    assert field in raised.value.field
    assert counts() == before


def test_charge_type_must_stay_the_product_attributes(organization, chatbot):
    product, fee, messages, currency = chatbot
    attributes = lines(fee, messages, currency)
    attributes[0]["pricing"] = {"pricing_type": "OneTimePerUnit", "price_points": [{"currency": "USD"}]}
    with pytest.raises(DomainError, match="charge type") as raised:
        plan_create(organization=organization, product_id=product.display_id, attributes=attributes)
    assert raised.value.field == "attributes[0].pricing.pricingType"


def test_other_organizations_ids_are_references_not_found(organization, other_organization, chatbot):
    product, fee, messages, currency = chatbot
    theirs, their_fee, _, _ = make_product(other_organization, name="Theirs")
    with pytest.raises(ReferenceNotFound) as raised:
        plan_create(
            organization=organization,
            product_id=theirs.display_id,
            attributes=lines(fee, messages, currency),
        )
    assert raised.value.field == "productId"
    attributes = lines(fee, messages, currency)
    attributes[0]["product_attribute_id"] = their_fee.display_id
    with pytest.raises(ReferenceNotFound) as raised:
        plan_create(organization=organization, product_id=product.display_id, attributes=attributes)
    assert raised.value.field == "attributes[0].productAttributeId"
    assert counts() == (0, 0, 0)


def test_archived_products_get_no_new_plans(organization, chatbot):
    product = chatbot[0]
    product_archive(product=product)
    with pytest.raises(DomainError, match="archived") as raised:
        new_plan(organization, chatbot)
    assert raised.value.field == "productId"
    assert counts() == (0, 0, 0)


def test_external_id_is_unique_per_organization(organization, other_organization, chatbot):
    product, fee, messages, currency = chatbot
    plan_create(
        organization=organization,
        product_id=product.display_id,
        external_id="pro",
        attributes=lines(fee, messages, currency),
    )
    with pytest.raises(DomainError, match="already used") as raised:
        plan_create(
            organization=organization,
            product_id=product.display_id,
            external_id="pro",
            attributes=lines(fee, messages, currency),
        )
    assert raised.value.field == "external_id"
    theirs, their_fee, their_messages, their_currency = make_product(other_organization, name="Theirs")
    plan_create(
        organization=other_organization,
        product_id=theirs.display_id,
        external_id="pro",
        attributes=lines(their_fee, their_messages, their_currency),
    )
    assert Plan.objects.filter(external_id="pro").count() == 2


# --- supported currencies ----------------------------------------------------------------------------------


def test_supported_currencies_are_taken_from_price_points_or_checked_against_them(organization, chatbot):
    product, fee, messages, currency = chatbot
    two = lines(fee, messages, currency, points=(("EUR",), ("USD",)))
    plan = plan_create(organization=organization, product_id=product.display_id, attributes=two)
    assert plan.supported_currencies == ["EUR", "USD"]
    plan = plan_create(
        organization=organization,
        product_id=product.display_id,
        supported_currencies=["usd", "eur"],
        attributes=lines(fee, messages, currency, points=(("EUR",), ("USD",))),
    )
    assert plan.supported_currencies == ["USD", "EUR"]

    # A plan whose attributes have no price points (credits only) supports no currency unless told.
    credits_only = plan_create(
        organization=organization,
        product_id=product.display_id,
        attributes=lines(fee, messages, currency)[1:],
    )
    assert credits_only.supported_currencies == []
    told = plan_create(
        organization=organization,
        product_id=product.display_id,
        supported_currencies=["GBP"],
        attributes=lines(fee, messages, currency)[1:],
    )
    assert told.supported_currencies == ["GBP"]


@pytest.mark.parametrize(
    ("requested", "field", "message"),
    [
        (["USD", "EUR"], "attributes[0].pricing.pricePoints", "no price point in EUR"),
        (["EUR"], "attributes[0].pricing.pricePoints", "no price point in EUR"),
        ([], "attributes[0].pricing.pricePoints", "priced in USD"),
        (["USD", "usd"], "supportedCurrencies[1]", "twice"),
        (["USD", "XYZ"], "supportedCurrencies[1]", "ISO 4217"),
    ],
)
def test_supported_currencies_refused(organization, chatbot, requested, field, message):
    product, fee, messages, currency = chatbot
    with pytest.raises(DomainError, match=message) as raised:
        plan_create(
            organization=organization,
            product_id=product.display_id,
            supported_currencies=requested,
            attributes=lines(fee, messages, currency),
        )
    assert raised.value.field == field
    assert counts() == (0, 0, 0)


def test_update_checks_currencies_against_the_kept_attributes(organization, chatbot):
    _, fee, messages, currency = chatbot
    plan = new_plan(organization, chatbot)
    with pytest.raises(DomainError, match=fee.display_id) as raised:
        plan_update(plan=plan, supported_currencies=["USD", "EUR"])
    assert raised.value.field == "supportedCurrencies"
    # Attributes given without currencies: the plan's currencies are kept, and the new prices must match them.
    with pytest.raises(DomainError, match="no price point in USD") as raised:
        plan_update(plan=plan, attributes=lines(fee, messages, currency, points=(("EUR",),)))
    assert raised.value.field == "attributes[0].pricing.pricePoints"
    # null: taken from the new price points again.
    plan = plan_update(
        plan=plan, supported_currencies=None, attributes=lines(fee, messages, currency, points=(("EUR",),))
    )
    assert plan_get(organization=organization, plan_id=plan.display_id).supported_currencies == ["EUR"]


# --- update ------------------------------------------------------------------------------------------------


def test_update_replaces_attributes_and_their_benefits(organization, chatbot):
    _, fee, messages, currency = chatbot
    plan = new_plan(organization, chatbot)
    old_benefit = CreditBenefit.objects.get(plan_attribute__plan=plan)
    plan_update(plan=plan, name="Starter", attributes=lines(fee, messages, currency)[:1])
    plan = plan_get(organization=organization, plan_id=plan.display_id)
    assert plan.name == "Starter"
    assert [a.product_attribute for a in plan.attributes.all()] == [fee]
    assert not CreditBenefit.objects.filter(pk=old_benefit.pk).exists()
    assert CreditBenefit.objects.filter(plan_attribute__plan=plan).count() == 1
    # Attributes omitted (None) are kept.
    plan_update(plan=plan, name=None, attributes=None)
    plan = plan_get(organization=organization, plan_id=plan.display_id)
    assert plan.name is None and plan.attributes.count() == 1


def test_archive_and_restore(organization, chatbot):
    product, fee, messages, currency = chatbot
    plan = plan_create(
        organization=organization,
        product_id=product.display_id,
        is_default=True,
        attributes=lines(fee, messages, currency),
    )
    plan = plan_update(plan=plan, status="archived")
    assert plan.status == "archived" and plan.archived_at is not None and plan.is_default is False
    archived_at = plan.archived_at
    plan = plan_update(plan=plan, status="archived", name="Old")
    assert plan.archived_at == archived_at
    assert list(plan_list(organization=organization, include_archived=False)) == []
    assert list(plan_list(organization=organization)) == [plan]
    with pytest.raises(DomainError) as raised:
        plan_update(plan=plan, is_default=True)
    assert raised.value.field == "isDefault"
    plan = plan_update(plan=plan, status="active")
    assert (plan.status, plan.archived_at, plan.is_default) == ("active", None, False)


# --- the default plan --------------------------------------------------------------------------------------


def test_one_default_per_product(organization, chatbot):
    product = chatbot[0]
    other, other_fee, other_messages, other_currency = make_product(organization, name="Other")
    starter = new_plan(organization, chatbot, name="Starter", is_default=True)
    pro = new_plan(organization, chatbot, name="Pro", is_default=True)
    assert defaults(product) == ["Pro"]
    elsewhere = plan_create(
        organization=organization,
        product_id=other.display_id,
        is_default=True,
        attributes=lines(other_fee, other_messages, other_currency),
    )
    plan_update(plan=starter, is_default=True)
    assert defaults(product) == ["Starter"]
    assert Plan.objects.get(pk=elsewhere.pk).is_default  # another product's default is its own
    plan_update(plan=pro, is_default=False)
    assert defaults(product) == ["Starter"]
    plan_update(plan=starter, is_default=False)
    assert defaults(product) == []


def test_a_failed_default_switch_leaves_the_old_default(organization, chatbot):
    product, fee, messages, currency = chatbot
    plan_create(
        organization=organization,
        product_id=product.display_id,
        name="Starter",
        external_id="starter",
        is_default=True,
        attributes=lines(fee, messages, currency),
    )
    pro = plan_create(
        organization=organization,
        product_id=product.display_id,
        name="Pro",
        attributes=lines(fee, messages, currency),
    )
    # The external id clash is found only on write, after the old default was unset: all of it rolls back.
    with pytest.raises(DomainError, match="already used"):
        plan_update(plan=pro, is_default=True, external_id="starter")
    assert defaults(product) == ["Starter"]


def test_the_database_refuses_two_active_defaults(organization, chatbot):
    first, second = new_plan(organization, chatbot), new_plan(organization, chatbot)
    Plan.objects.filter(pk=first.pk).update(is_default=True)
    Plan.objects.filter(pk=second.pk).update(is_default=True, status="archived")  # archived: not counted
    with pytest.raises(IntegrityError), transaction.atomic():
        Plan.objects.filter(pk=second.pk).update(status="active")


def test_a_credit_benefit_has_exactly_one_owner(organization, chatbot):
    fee = chatbot[1]
    plan = new_plan(organization, chatbot)
    benefit = CreditBenefit.objects.get(plan_attribute__plan=plan)
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditBenefit.objects.filter(pk=benefit.pk).update(product_attribute=fee)
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditBenefit.objects.filter(pk=benefit.pk).update(plan_attribute=None)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL (SQLite has none)")
def test_concurrent_default_switches_leave_one_default(organization):
    product, fee, messages, currency = make_product(organization)
    plans = [
        plan_create(
            organization=organization,
            product_id=product.display_id,
            name=name,
            attributes=lines(fee, messages, currency),
        )
        for name in ("A", "B", "C", "D")
    ]

    def switch(plan, barrier, errors):
        try:
            barrier.wait()
            plan_update(plan=plan, is_default=True)
        except Exception as exc:  # collected: a lost race shows up as an IntegrityError here
            errors.append(exc)
        finally:
            connection.close()

    for _ in range(5):
        barrier, errors = threading.Barrier(len(plans)), []
        threads = [threading.Thread(target=switch, args=(plan, barrier, errors)) for plan in plans]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(defaults(product)) == 1


# --- upgrade path ------------------------------------------------------------------------------------------


@pytest.fixture
def tiers(organization, chatbot):
    product, fee, messages, currency = chatbot
    return [
        plan_create(
            organization=organization,
            product_id=product.display_id,
            name=name,
            attributes=lines(fee, messages, currency),
        )
        for name in ("Starter", "Pro", "Business")
    ]


def orders(product) -> dict:
    return {p.name: (p.upgrade_path_frequency, p.upgrade_path_order) for p in product.plans.all()}


def test_upgrade_path_orders_each_group_and_clears_the_rest(organization, chatbot, tiers):
    product = chatbot[0]
    starter, pro, business = tiers
    result = plan_upgrade_path_update(
        organization=organization,
        product_id=product.display_id,
        groups=[
            {"frequency": "Monthly", "plan_ids": [starter.display_id, pro.display_id, business.display_id]}
        ],
    )
    assert [p.name for p in result] == ["Starter", "Pro", "Business"]
    assert orders(product) == {"Starter": ("Monthly", 0), "Pro": ("Monthly", 1), "Business": ("Monthly", 2)}
    result = plan_upgrade_path_update(
        organization=organization,
        product_id=product.display_id,
        groups=[
            {"frequency": "Monthly", "plan_ids": [business.display_id]},
            {"plan_ids": [pro.display_id, starter.display_id]},
        ],
    )
    assert [p.name for p in result] == ["Business", "Pro", "Starter"]
    assert orders(product) == {"Starter": (None, 1), "Pro": (None, 0), "Business": ("Monthly", 0)}
    result = plan_upgrade_path_update(organization=organization, product_id=product.display_id, groups=[])
    assert [p.name for p in result] == ["Starter", "Pro", "Business"]
    assert orders(product) == dict.fromkeys(["Starter", "Pro", "Business"], (None, None))


def test_upgrade_path_refusals_change_nothing(organization, other_organization, chatbot, tiers):
    product = chatbot[0]
    starter, pro, business = tiers
    plan_upgrade_path_update(
        organization=organization,
        product_id=product.display_id,
        groups=[{"plan_ids": [starter.display_id, pro.display_id]}],
    )
    before = orders(product)
    other, other_fee, other_messages, other_currency = make_product(organization, name="Other")
    foreign = plan_create(
        organization=organization,
        product_id=other.display_id,
        attributes=lines(other_fee, other_messages, other_currency),
    )
    theirs, their_fee, their_messages, their_currency = make_product(other_organization, name="Theirs")
    their_plan = plan_create(
        organization=other_organization,
        product_id=theirs.display_id,
        attributes=lines(their_fee, their_messages, their_currency),
    )
    plan_update(plan=business, status="archived")
    cases = [
        ([{"plan_ids": [pro.display_id, foreign.display_id]}], "groups[0].planIds[1]", DomainError),
        ([{"plan_ids": [their_plan.display_id]}], "groups[0].planIds[0]", ReferenceNotFound),
        (
            [{"plan_ids": [pro.display_id]}, {"plan_ids": [starter.display_id]}],
            "groups[1].frequency",
            DomainError,
        ),
        (
            [{"plan_ids": [pro.display_id]}, {"frequency": "Annual", "plan_ids": [pro.display_id]}],
            "groups[1].planIds[0]",
            DomainError,
        ),
        ([{"plan_ids": [business.display_id]}], "groups[0].planIds[0]", DomainError),
    ]
    for groups, field, error in cases:
        with pytest.raises(error) as raised:
            plan_upgrade_path_update(organization=organization, product_id=product.display_id, groups=groups)
        assert raised.value.field == field
        assert orders(product) == before
    with pytest.raises(ReferenceNotFound) as raised:
        plan_upgrade_path_update(organization=organization, product_id=theirs.display_id, groups=[])
    assert raised.value.field == "productId"


# --- lists and lookups -------------------------------------------------------------------------------------


def test_plan_list_filters_and_scoping(organization, other_organization, chatbot, tiers):
    product = chatbot[0]
    other = product_create(organization=organization, name="Empty", external_id="empty")
    assert list(plan_list(organization=organization, product_id=product.display_id)) == tiers[::-1]
    assert list(plan_list(organization=organization, external_product_id="empty")) == []
    assert (
        list(plan_list(organization=organization, product_id=product.display_id, external_product_id="empty"))
        == []
    )
    assert list(plan_list(organization=other_organization)) == []
    with pytest.raises(NotFound):
        plan_list(organization=other_organization, product_id=product.display_id)
    with pytest.raises(NotFound):
        plan_get(organization=other_organization, plan_id=tiers[0].display_id)
    assert other.plans.count() == 0


# --- what an order copies ----------------------------------------------------------------------------------


def test_pricing_for_order_without_plans_is_the_products(organization, chatbot):
    product, fee, messages, currency = chatbot
    result = catalog_pricing_for_order(product=product)
    assert [(line.product_attribute, line.plan_id) for line in result] == [(fee, None), (messages, None)]
    assert Decimal(result[0].pricing["price_points"][0]["unit_price"]) == 2900
    # Plans without a default change nothing.
    plan_create(
        organization=organization,
        product_id=product.display_id,
        attributes=lines(fee, messages, currency, cents=7900),
    )
    assert [line.plan_id for line in catalog_pricing_for_order(product=product)] == [None, None]


def test_pricing_for_order_uses_the_named_plan_else_the_default(organization, chatbot):
    product, fee, messages, currency = chatbot
    starter = plan_create(
        organization=organization,
        product_id=product.display_id,
        is_default=True,
        attributes=lines(fee, messages, currency, cents=2900, allowance=500),
    )
    business = plan_create(
        organization=organization,
        product_id=product.display_id,
        attributes=lines(fee, messages, currency, cents=19900, allowance=10000)[:1],
    )
    default = catalog_pricing_for_order(product=product)
    assert [line.plan_id for line in default] == [starter.display_id] * 2
    assert [b.amount for b in default[0].credit_benefits] == [Decimal(500)]
    named = catalog_pricing_for_order(product=product, plan_id=business.display_id)
    assert [(line.product_attribute, line.name) for line in named] == [(fee, "Subscription")]
    assert Decimal(named[0].pricing["price_points"][0]["unit_price"]) == 19900
    assert [b.amount for b in named[0].credit_benefits] == [Decimal(10000)]
    # An attribute switched off on the product is not sold through its plans either.
    product_attributes_upsert(
        product=product,
        attributes=[
            {
                "product_attribute_id": messages.display_id,
                "name": "Chat messages",
                "active": False,
                "pricing": credits_pricing(currency.display_id),
            }
        ],
    )
    assert [line.product_attribute for line in catalog_pricing_for_order(product=product)] == [fee]
    # Archiving the default plan falls back to the product's own pricing.
    plan_update(plan=starter, status="archived")
    assert [line.plan_id for line in catalog_pricing_for_order(product=product)] == [None]


def test_pricing_for_order_refuses_plans_it_cannot_use(organization, other_organization, chatbot):
    product = chatbot[0]
    archived = new_plan(organization, chatbot)
    plan_update(plan=archived, status="archived")
    other, other_fee, other_messages, other_currency = make_product(organization, name="Other")
    foreign = plan_create(
        organization=organization,
        product_id=other.display_id,
        attributes=lines(other_fee, other_messages, other_currency),
    )
    theirs, their_fee, their_messages, their_currency = make_product(other_organization, name="Theirs")
    their_plan = plan_create(
        organization=other_organization,
        product_id=theirs.display_id,
        attributes=lines(their_fee, their_messages, their_currency),
    )
    for plan_id, error, message in [
        (archived.display_id, DomainError, "archived"),
        (foreign.display_id, DomainError, "not a plan of"),
        (their_plan.display_id, ReferenceNotFound, "not found"),
        ("plan_missing", ReferenceNotFound, "not found"),
    ]:
        with pytest.raises(error, match=message) as raised:
            catalog_pricing_for_order(product=product, plan_id=plan_id)
        assert raised.value.field == "planId"
