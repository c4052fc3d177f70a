"""Tenancy: organization B's key, given organization A's ids, gets 404 from every id-taking endpoint, and A's
rows are byte-for-byte unchanged afterwards (DESIGN.md, "An id from another organization is a 404")."""

import pytest
from paid import Paid
from paid.errors import BadRequestError, NotFoundError
from paid.types import (
    ContactBillingAddress,
    CustomerBillingAddressInput,
    PlanAttributeInput,
    PlanUpgradePathGroup,
    ProductAttributeUpsert,
    ProductPricingInput_RecurringPerUnit,
    ProductSimplePricePoint,
)

from apps.catalog.models import CreditBenefit, Plan, PlanAttribute, Product, ProductAttribute
from apps.customers.models import Contact, Customer, CustomerAlias, CustomerUser


def _snapshot(organization) -> dict:
    """Every column of every row organization A owns in the tables these endpoints touch."""
    return {
        model.__name__: sorted(
            model.objects.filter(organization=organization).values(), key=lambda row: row["id"]
        )
        for model in (
            Customer,
            CustomerAlias,
            CustomerUser,
            Contact,
            Product,
            ProductAttribute,
            Plan,
            PlanAttribute,
            CreditBenefit,
        )
    }


def _monthly(cents: int) -> ProductPricingInput_RecurringPerUnit:
    return ProductPricingInput_RecurringPerUnit(
        billing_frequency="Monthly", price_points=[ProductSimplePricePoint(currency="USD", unit_price=cents)]
    )


@pytest.fixture
def org_a_data(client: Paid):
    customer = client.customers.create_customer(
        name="A Corp",
        external_id="a-customer",
        email="a@a.test",
        billing_address=CustomerBillingAddressInput(line1="A street"),
        metadata={"owner": "A"},
    )
    client.customers.create_customer_alias(customer.id, alias="a-alias")
    client.customers.upsert_customer_user_by_external_id(
        "a-customer", "a-user", name="A user", email="u@a.test", metadata={"owner": "A"}
    )
    contact = client.contacts.create_contact(
        customer_id=customer.id,
        email="ap@a.test",
        external_id="a-contact",
        billing_address=ContactBillingAddress(city="A-town"),
    )
    product = client.products.create_product(name="A Agent", external_id="a-product", metadata={"owner": "A"})
    detail = client.products.update_product_by_id(
        product.id, product_attributes=[ProductAttributeUpsert(name="Fee", pricing=_monthly(1000))]
    )
    attribute_id = detail.product_attributes[0].product_attribute_id
    plan = client.plans.create_plan(
        product_id=product.id,
        name="A plan",
        external_id="a-plan",
        is_default=True,
        attributes=[PlanAttributeInput(product_attribute_id=attribute_id, pricing=_monthly(900))],
    )
    return {
        "customer": customer,
        "contact": contact,
        "product": product,
        "product_attribute_id": attribute_id,
        "plan": plan,
    }


def test_other_organization_gets_404_for_every_id_taking_endpoint(
    client, other_client, org_a_data, organization
):
    customer_id = org_a_data["customer"].id
    contact_id = org_a_data["contact"].id
    product_id = org_a_data["product"].id
    plan_id = org_a_data["plan"].id
    customers, contacts, products = other_client.customers, other_client.contacts, other_client.products
    plans = other_client.plans
    before = _snapshot(organization)

    calls = {
        "get_customer_by_id": lambda: customers.get_customer_by_id(customer_id),
        "update_customer_by_id": lambda: customers.update_customer_by_id(customer_id, name="pwned"),
        "delete_customer_by_id": lambda: customers.delete_customer_by_id(customer_id),
        "get_customer_by_external_id": lambda: customers.get_customer_by_external_id("a-customer"),
        "get_customer_by_external_id(alias)": lambda: customers.get_customer_by_external_id("a-alias"),
        "update_customer_by_external_id": lambda: customers.update_customer_by_external_id(
            "a-customer", name="pwned", external_id="stolen"
        ),
        "delete_customer_by_external_id": lambda: customers.delete_customer_by_external_id("a-customer"),
        "delete_customer_by_external_id(alias)": lambda: customers.delete_customer_by_external_id("a-alias"),
        "get_customer_state_by_id": lambda: customers.get_customer_state_by_id(customer_id),
        "get_customer_state_by_external_id": lambda: customers.get_customer_state_by_external_id(
            "a-customer"
        ),
        "list_customer_aliases": lambda: customers.list_customer_aliases(customer_id),
        "list_customer_aliases_by_external_id": lambda: customers.list_customer_aliases_by_external_id(
            "a-customer"
        ),
        "create_customer_alias": lambda: customers.create_customer_alias(customer_id, alias="b-alias"),
        "create_customer_alias_by_external_id": lambda: customers.create_customer_alias_by_external_id(
            "a-customer", alias="b-alias"
        ),
        "delete_customer_alias": lambda: customers.delete_customer_alias(customer_id, "a-alias"),
        "delete_customer_alias_by_external_id": lambda: customers.delete_customer_alias_by_external_id(
            "a-customer", "a-alias"
        ),
        "upsert_customer_user_by_external_id": lambda: customers.upsert_customer_user_by_external_id(
            "a-customer", "a-user", name="pwned", status="deactivated", metadata=None
        ),
        "upsert_customer_user_by_external_id(alias)": lambda: customers.upsert_customer_user_by_external_id(
            "a-alias", "a-user", name="pwned"
        ),
        "upsert_customer_user_by_external_id(new user)": lambda: (
            customers.upsert_customer_user_by_external_id("a-customer", "b-user", name="planted")
        ),
        "get_contact_by_id": lambda: contacts.get_contact_by_id(contact_id),
        "update_contact_by_id": lambda: contacts.update_contact_by_id(contact_id, first_name="pwned"),
        "delete_contact_by_id": lambda: contacts.delete_contact_by_id(contact_id),
        "get_contact_by_external_id": lambda: contacts.get_contact_by_external_id("a-contact"),
        "update_contact_by_external_id": lambda: contacts.update_contact_by_external_id(
            "a-contact", first_name="pwned"
        ),
        "delete_contact_by_external_id": lambda: contacts.delete_contact_by_external_id("a-contact"),
        "get_product_by_id": lambda: products.get_product_by_id(product_id),
        "update_product_by_id": lambda: products.update_product_by_id(product_id, name="pwned"),
        "get_product_by_external_id": lambda: products.get_product_by_external_id("a-product"),
        "update_product_by_external_id": lambda: products.update_product_by_external_id(
            "a-product", name="pwned"
        ),
        "get_plan_by_id": lambda: plans.get_plan_by_id(plan_id),
        "update_plan_by_id": lambda: plans.update_plan_by_id(plan_id, name="pwned", status="archived"),
        "get_plan_by_external_id": lambda: plans.get_plan_by_external_id("a-plan"),
        "update_plan_by_external_id": lambda: plans.update_plan_by_external_id(
            "a-plan", name="pwned", is_default=False
        ),
        "list_plans(productId)": lambda: plans.list_plans(product_id=product_id),
        "list_plans(externalProductId)": lambda: plans.list_plans(external_product_id="a-product"),
    }
    answered = {}
    for name, call in calls.items():
        try:
            call()
        except NotFoundError:
            answered[name] = 404
        except Exception as exc:
            answered[name] = f"{type(exc).__name__}: {getattr(exc, 'status_code', exc)}"
        else:
            answered[name] = "success"
    assert answered == dict.fromkeys(calls, 404)

    # Lists are scoped too.
    assert customers.list_customers().data == []
    assert customers.list_customers(external_id="a-customer").data == []
    assert contacts.list_contacts().data == []
    assert products.list_products().data == []
    assert plans.list_plans().data == []

    assert _snapshot(organization) == before
    # …and nothing was written under B's organization either (e.g. a user hung on A's customer).
    assert not CustomerUser.objects.exclude(organization=organization).exists()
    assert client.customers.get_customer_by_external_id("a-alias").id == customer_id


def test_other_organization_cannot_attach_a_contact_to_our_customer(
    client, other_client, org_a_data, organization
):
    customer_id = org_a_data["customer"].id
    before = _snapshot(organization)

    with pytest.raises(BadRequestError) as exc:
        other_client.contacts.create_contact(customer_id=customer_id, email="spy@b.test")
    assert "customerId" in exc.value.body["error"]

    b_customer = other_client.customers.create_customer(name="B Corp")
    b_contact = other_client.contacts.create_contact(customer_id=b_customer.id, email="b@b.test")
    with pytest.raises(BadRequestError):
        other_client.contacts.update_contact_by_id(b_contact.id, customer_id=customer_id)

    assert other_client.contacts.get_contact_by_id(b_contact.id).customer_id == b_customer.id
    assert _snapshot(organization) == before


def test_other_organization_cannot_use_our_catalog_ids_in_plan_bodies(
    client, other_client, org_a_data, organization
):
    """Ids in a request body are 400s naming the field (ReferenceNotFound), and write nothing anywhere."""
    product_id = org_a_data["product"].id
    plan_id = org_a_data["plan"].id
    b_product = other_client.products.create_product(name="B Agent")
    detail = other_client.products.update_product_by_id(
        b_product.id, product_attributes=[ProductAttributeUpsert(name="Fee", pricing=_monthly(500))]
    )
    b_attribute_id = detail.product_attributes[0].product_attribute_id
    before = _snapshot(organization)
    b_plans = Plan.objects.exclude(organization=organization).count()

    calls = {
        "productId": lambda: other_client.plans.create_plan(
            product_id=product_id,
            attributes=[PlanAttributeInput(product_attribute_id=b_attribute_id, pricing=_monthly(1))],
        ),
        "attributes[0].productAttributeId": lambda: other_client.plans.create_plan(
            product_id=b_product.id,
            attributes=[
                PlanAttributeInput(
                    product_attribute_id=org_a_data["product_attribute_id"], pricing=_monthly(1)
                )
            ],
        ),
        "productId ": lambda: other_client.plans.update_plan_upgrade_path(
            product_id=product_id, groups=[PlanUpgradePathGroup(plan_ids=[plan_id])]
        ),
        "groups[0].planIds[0]": lambda: other_client.plans.update_plan_upgrade_path(
            product_id=b_product.id, groups=[PlanUpgradePathGroup(plan_ids=[plan_id])]
        ),
    }
    for field, call in calls.items():
        with pytest.raises(BadRequestError) as exc:
            call()
        assert field.strip() in exc.value.body["error"], (field, exc.value.body)

    assert _snapshot(organization) == before
    assert Plan.objects.exclude(organization=organization).count() == b_plans
    assert client.plans.get_plan_by_id(plan_id).is_default is True


def test_identifiers_are_scoped_per_organization(client, other_client, org_a_data, organization):
    """The same external ids and aliases may exist in both organizations and resolve within each."""
    before = _snapshot(organization)

    b_customer = other_client.customers.create_customer(name="B Corp", external_id="a-customer")
    other_client.customers.create_customer_alias(b_customer.id, alias="a-alias")
    b_contact = other_client.contacts.create_contact(
        customer_id=b_customer.id, email="b@b.test", external_id="a-contact"
    )
    b_product = other_client.products.create_product(name="B Agent", external_id="a-product")
    b_user = other_client.customers.upsert_customer_user_by_external_id("a-customer", "a-user", name="B user")
    b_detail = other_client.products.update_product_by_id(
        b_product.id, product_attributes=[ProductAttributeUpsert(name="Fee", pricing=_monthly(500))]
    )
    b_plan = other_client.plans.create_plan(
        product_id=b_product.id,
        external_id="a-plan",
        is_default=True,
        attributes=[
            PlanAttributeInput(
                product_attribute_id=b_detail.product_attributes[0].product_attribute_id, pricing=_monthly(1)
            )
        ],
    )
    assert b_user.created is True

    assert other_client.customers.get_customer_by_external_id("a-alias").id == b_customer.id
    assert other_client.contacts.get_contact_by_external_id("a-contact").id == b_contact.id
    assert other_client.products.get_product_by_external_id("a-product").id == b_product.id
    assert client.customers.get_customer_by_external_id("a-alias").id == org_a_data["customer"].id
    assert client.products.get_product_by_external_id("a-product").id == org_a_data["product"].id
    assert other_client.plans.get_plan_by_external_id("a-plan").id == b_plan.id
    assert client.plans.get_plan_by_external_id("a-plan").id == org_a_data["plan"].id
    assert client.plans.get_plan_by_external_id("a-plan").is_default is True

    other_client.customers.delete_customer_by_external_id("a-customer")
    assert client.customers.get_customer_by_external_id("a-customer").id == org_a_data["customer"].id
    assert _snapshot(organization) == before


# --- orders (added with the orders app) ---------------------------------------------------------------------


def _orders_snapshot(organization) -> dict:
    from apps.orders.models import Order, OrderLine, OrderLineAttribute, OrderSeat

    return {
        model.__name__: sorted(
            model.objects.filter(organization=organization).values(), key=lambda row: str(row["id"])
        )
        for model in (Order, OrderLine, OrderLineAttribute, OrderSeat)
    }


def test_other_organization_gets_404_for_every_order_endpoint(client, other_client, org_a_data, organization):
    from paid import BatchSeatAssignmentsRequestAssignmentsItem, CreateOrderLineRequest
    from paid.core.api_error import ApiError

    a_customer, a_product = org_a_data["customer"], org_a_data["product"]
    draft = client.orders.create_order(customer_id=a_customer.id, external_id="a-order")
    active = client.orders.create_order(
        customer_id=a_customer.id, lines=[CreateOrderLineRequest(product_id=a_product.id)]
    )
    orders = other_client.orders
    seat = "00000000-0000-0000-0000-000000000000"
    before = _snapshot(organization), _orders_snapshot(organization)

    calls = {
        "get_order_by_id": lambda: orders.get_order_by_id(draft.id),
        "update_order_by_id": lambda: orders.update_order_by_id(draft.id, name="pwned"),
        "delete_order_by_id": lambda: orders.delete_order_by_id(draft.id),
        "activate_order_by_id": lambda: orders.activate_order_by_id(active.id),
        "get_order_lines": lambda: orders.get_order_lines(active.id),
        "list_order_seats": lambda: orders.list_order_seats(active.id),
        "update_order_seat_assignment": lambda: orders.update_order_seat_assignment(
            active.id, seat, user_external_id="a-user"
        ),
        "batch_order_seat_assignments": lambda: orders.batch_order_seat_assignments(
            active.id, assignments=[BatchSeatAssignmentsRequestAssignmentsItem(seat_id=seat)]
        ),
    }
    answered = {}
    for name, call in calls.items():
        try:
            call()
        except NotFoundError:
            answered[name] = 404
        except ApiError as exc:
            answered[name] = exc.status_code
        else:
            answered[name] = "success"
    assert answered == dict.fromkeys(calls, 404)

    assert orders.list_orders().data == []
    assert orders.list_orders(customer_id=a_customer.id).data == []
    assert orders.list_orders(external_id="a-order").data == []
    # A's customer and product are not references B can put on an order.
    with pytest.raises(BadRequestError) as exc:
        orders.create_order(customer_id=a_customer.id)
    assert "customerId" in exc.value.body["error"]
    b_customer = other_client.customers.create_customer(name="B Corp")
    with pytest.raises(BadRequestError) as exc:
        orders.create_order(
            customer_id=b_customer.id, lines=[CreateOrderLineRequest(product_id=a_product.id)]
        )
    assert "lines[0].productId" in exc.value.body["error"]

    assert (_snapshot(organization), _orders_snapshot(organization)) == before
    assert client.orders.get_order_by_id(draft.id).name == draft.name


def test_other_organization_cannot_read_our_signals(client, other_client):
    client.customers.create_customer(name="A Corp", external_id="shared-ext")
    client.signals.create_signals(
        signals=[
            {
                "event_name": "a_event",
                "customer": {"external_customer_id": "shared-ext"},
                "idempotency_key": "k",
            }
        ]
    )
    [ours] = client.signals.list_signals().data
    with pytest.raises(NotFoundError):
        other_client.signals.get_signal_by_id(ours.id)
    other_client.signals.create_signals(
        signals=[
            {
                "event_name": "b_event",
                "customer": {"external_customer_id": "shared-ext"},
                "idempotency_key": "k",
            }
        ]
    )
    assert [s.name for s in other_client.signals.list_signals().data] == ["b_event"]
    assert other_client.signals.list_signals(external_customer_id="shared-ext").pagination.total == 1
    assert other_client.signals.list_signals(customer_id=ours.customer_id).pagination.total == 0
    assert other_client.signals.list_signals(signal_name="a_event").pagination.total == 0
    [theirs] = other_client.signals.list_signals().data
    assert theirs.customer_id is None  # our customer's external id is not theirs
    with pytest.raises(NotFoundError):
        client.signals.get_signal_by_id(theirs.id)
    assert [s.name for s in client.signals.list_signals().data] == ["a_event"]
