"""Invoice generation and lifecycle against the database: every pricing type on an invoice, seats, one-time
fees, credit overage, percent-of-total and cost-plus lines, proration of first and last periods, tax, posting
(numbers, due dates, snapshot, autoPost), void and reissue, idempotent generation, frozen posted invoices,
payments and allocations, tenancy."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, transaction

from apps.billing import selectors, services
from apps.billing.exceptions import IdempotencyKeyReused, InvoiceStateError, OrderNotBillable, OverAllocation
from apps.billing.models import Invoice, InvoiceLine, Payment
from apps.catalog.services import credit_currency_create, product_attributes_upsert
from apps.common.exceptions import DomainError, NotFound
from apps.credits.models import CreditGrant
from apps.credits.services import credit_order_grants_due
from apps.meters.services import meter_create
from apps.orders.services import order_pause
from tests.billing.fixtures import (
    T0,
    attr,
    fee,
    invoices_of,
    line,
    lines_of,
    make_customer,
    make_order,
    make_product,
    rate,
    send,
    usage,
)

pytestmark = pytest.mark.django_db

FEB, MAR, APR = (datetime(2026, month, 1, tzinfo=UTC) for month in (2, 3, 4))


def generate(order, when):
    """Build what the order owes at `when`, with the clock there."""
    with time_machine.travel(when, tick=False):
        return services.invoice_generate_for_order(order=order)


@pytest.fixture
def customer(organization):
    return make_customer(organization)


@pytest.fixture
def product(organization):
    return make_product(organization)


@pytest.fixture
def sdr(organization, customer, product):
    """The AI SDR order: $500/month platform fee, $0.10 per email, $50 per meeting booked (an outcome)."""
    return make_order(
        organization,
        customer,
        line(
            product,
            fee(),
            usage("Emails sent", "email_sent", 10),
            usage("Meetings booked", "meeting_booked", 5000, signal_type="outcome"),
        ),
    )


# --- what an invoice carries ------------------------------------------------------------------------------


def test_fees_are_billed_in_advance_and_usage_in_arrears(organization, sdr):
    (first,) = generate(sdr, T0)
    assert lines_of(first) == [("AI SDR: Platform fee", 50000)]
    assert (first.period_start, first.period_end, first.status) == (T0, FEB, "draft")
    assert first.number is None and first.display_number is None  # drafts have no number

    for day in (3, 10, 20):
        send(organization, "email_sent", T0 + timedelta(days=day))
    send(organization, "email_sent", T0 + timedelta(days=25), quantity=7)
    send(organization, "meeting_booked", T0 + timedelta(days=12))
    send(organization, "email_sent", FEB + timedelta(hours=1))  # February's: on March's invoice
    rate(organization)

    first_again, second = generate(sdr, FEB)
    assert first_again.pk == first.pk
    assert lines_of(second) == [
        ("AI SDR: Platform fee", 50000),
        ("AI SDR: Emails sent", 100),
        ("AI SDR: Meetings booked", 5000),
    ]
    fee_line, emails, meetings = second.lines.order_by("position")
    assert (fee_line.period_start, fee_line.period_end) == (FEB, MAR)
    assert (emails.period_start, emails.period_end, emails.quantity, emails.unit_price) == (T0, FEB, 10, 10)
    assert meetings.details["signal_type"] == "outcome"
    assert (second.subtotal_amount, second.tax_amount, second.total_amount) == (55100, 0, 55100)
    assert second.tax_status == "not_applicable"


def test_graduated_volume_and_package_usage(organization, customer, product):
    tiers = [
        {"lower_bound": 0, "upper_bound": 100, "unit_amount": Decimal(10)},
        {"lower_bound": 100, "unit_amount": Decimal(5)},
    ]
    order = make_order(
        organization,
        customer,
        line(
            product,
            usage("Graduated", "g", model="graduatedPricing", tiers=tiers),
            usage("Volume", "v", model="volumePricing", tiers=tiers),
            usage("Packages", "p", 500),
        ),
    )
    packages = order.lines.get().attributes.get(name="Packages")
    packages.pricing = {**packages.pricing, "package_size": 1000}  # 500¢ per started block of 1,000
    packages.save()
    send(organization, "g", T0 + timedelta(days=1), quantity=150)
    send(organization, "v", T0 + timedelta(days=1), quantity=150)
    send(organization, "p", T0 + timedelta(days=1), quantity=1001)
    rate(organization)
    [second] = [i for i in generate(order, FEB) if i.period_start == FEB]
    assert lines_of(second) == [
        ("AI SDR: Graduated", 100 * 10 + 50 * 5),
        ("AI SDR: Volume", 150 * 5),
        ("AI SDR: Packages", 2 * 500),
    ]
    graduated = second.lines.get(description="AI SDR: Graduated")
    assert graduated.unit_price == Decimal("8.333333")  # effective, for display


def test_meter_based_usage_sums_the_field_and_rounds_the_period_total(organization, customer):
    voice = make_product(organization, name="Voice", external_id="voice")
    minutes = meter_create(
        organization=organization,
        product_id=voice.display_id,
        name="Minutes",
        event_name="phone_call",
        operation="sum",
        field="duration_minutes",
        rounding="up",
    )
    product_attributes_upsert(
        product=voice,
        attributes=[
            {
                "name": "Minutes",
                "pricing": {
                    "pricing_type": "UsagePerUnit",
                    "meter_id": minutes.display_id,
                    "price_points": [{"currency": "USD", "unit_price": Decimal(10)}],
                },
            }
        ],
    )
    order = make_order(organization, customer, {"product_id": voice.display_id})
    send(organization, "phone_call", T0 + timedelta(days=1), duration_minutes=1.2)
    send(organization, "phone_call", T0 + timedelta(days=2), duration_minutes=2.5)
    rate(organization)
    invoices = generate(order, FEB)
    assert [lines_of(i) for i in invoices] == [[("Voice: Minutes", 40)]]  # 3.7 minutes, rounded up to 4
    assert invoices[0].period_start == FEB  # the first cycle had nothing to bill: no empty invoice


def test_seats_and_one_time_fees_on_the_first_invoice_only(organization, customer, product):
    order = make_order(
        organization,
        customer,
        line(
            product,
            attr("Seats", "seatBased", "perUnit", 1000, quantity=3, billing_frequency="monthly"),
            attr("Onboarding", "oneTime", "flat", 20000),
        ),
    )
    first, second = generate(order, FEB)
    assert lines_of(first) == [("AI SDR: Seats", 3000), ("AI SDR: Onboarding", 20000)]
    assert lines_of(second) == [("AI SDR: Seats", 3000)]
    seats = first.lines.get(kind="seat")
    assert (seats.quantity, seats.unit_price) == (3, 1000)


def test_credit_overage_is_billed_in_arrears_at_its_price(organization, customer, product):
    currency = credit_currency_create(organization=organization, name="Chat credits", key="chat_credits")
    benefit = {
        "id": "b",
        "amount": Decimal(10),
        "credits_currency_id": currency.display_id,
        "overage_unit_price": 2,
    }
    chat = attr(
        "Chat",
        "usage",
        "prepaidCredits",
        0,
        event_name="chat_message",
        credits_currency_id=currency.display_id,
        credit_cost=Decimal(1),
        credit_benefits=[benefit],
    )
    order = make_order(organization, customer, line(product, fee(), chat))
    with time_machine.travel(T0 + timedelta(days=2), tick=False):  # the lot expires at February
        credit_order_grants_due(organization=organization, order_id=order.display_id)
        send(organization, "chat_message", T0 + timedelta(days=2), quantity=15)
        rate(organization)
    first, second = generate(order, FEB)
    assert lines_of(first) == [("AI SDR: Platform fee", 50000)]  # prepaid usage itself is not invoiced
    assert lines_of(second) == [("AI SDR: Platform fee", 50000), ("Chat credits: credit overage", 10)]
    overage = second.lines.get(kind="overage")
    assert (overage.quantity, overage.unit_price, overage.period_start, overage.period_end) == (5, 2, T0, FEB)


@pytest.fixture
def extras(organization):
    """A catalog product with a 10 % of total fee and a cost-plus line (§4.4 overrides cannot express them)."""
    product = make_product(organization, name="Extras", external_id="extras")
    product_attributes_upsert(
        product=product,
        attributes=[
            {
                "name": "Support",
                "pricing": {
                    "pricing_type": "RecurringPercentOfTotal",
                    "percentage_value": Decimal(10),
                    "billing_frequency": "Monthly",
                },
            },
            {
                "name": "AI usage",
                "pricing": {"pricing_type": "UsageCostPlus", "cost_plus_multiplier": Decimal("1.5")},
            },
        ],
    )
    return product


@pytest.fixture
def no_cost_providers(monkeypatch):
    """Billing on its own: the costs app's provider (connected in its AppConfig.ready) taken away."""
    monkeypatch.setattr(services.cost_plus_costs, "_providers", [])


@pytest.mark.usefixtures("no_cost_providers")
def test_percent_of_total_and_cost_plus_without_cost_tracking(organization, customer, product, extras):
    order = make_order(organization, customer, line(product, fee()), {"product_id": extras.display_id})
    first, second = generate(order, FEB)
    assert lines_of(first) == [("AI SDR: Platform fee", 50000), ("Extras: Support (10% of 500.00)", 5000)]
    description = (
        "Extras: AI usage: AI costs x 1.5 (AI cost tracking is not connected yet: billed at zero cost)"
    )
    assert lines_of(second) == [
        ("AI SDR: Platform fee", 50000),
        (description, 0),
        ("Extras: Support (10% of 500.00)", 5000),
    ]


@pytest.mark.usefixtures("no_cost_providers")
def test_cost_plus_uses_the_connected_cost_provider(organization, customer, extras):
    seen = []

    def provider(*, attribute, start, end):
        seen.append((attribute.name, start, end))
        return Decimal("1234.5")  # cents

    services.cost_plus_costs.connect(provider)
    try:
        order = make_order(organization, customer, {"product_id": extras.display_id})
        invoices = generate(order, FEB)
    finally:
        services.cost_plus_costs.disconnect(provider)
    assert lines_of(invoices[-1])[0] == ("Extras: AI usage: AI costs x 1.5", 1852)  # 1851.75, half up
    assert seen == [("AI usage", T0, FEB)]


# --- proration --------------------------------------------------------------------------------------------


def test_a_first_stub_period_is_prorated_by_the_second(organization, customer, product):
    start = datetime(2026, 1, 15, tzinfo=UTC)
    order = make_order(organization, customer, line(product, fee()), start=start, billing_anchor=1)
    first, second = generate(order, FEB)
    assert (first.period_start, first.period_end) == (start, FEB)
    # 17 of January's 31 days: 50000 * 17 / 31 = 27419.35…
    assert lines_of(first) == [("AI SDR: Platform fee (prorated: 17 of 31 days)", 27419)]
    stub = first.lines.get()
    assert (
        stub.details["prorationFactor"] == "17/31"
        and stub.details["fullPeriodStart"] == "2026-01-01T00:00:00Z"
    )
    assert lines_of(second) == [("AI SDR: Platform fee", 50000)]


def test_a_last_period_cut_by_the_end_date_is_prorated_and_the_final_invoice_carries_its_usage(
    organization, customer, product
):
    end = datetime(2026, 3, 10, tzinfo=UTC)
    order = make_order(
        organization, customer, line(product, fee(), usage("Emails sent", "email_sent", 10)), end_date=end
    )
    send(organization, "email_sent", datetime(2026, 3, 5, tzinfo=UTC), quantity=4)
    rate(organization)
    invoices = generate(order, APR)
    assert [(i.period_start, i.period_end) for i in invoices] == [
        (T0, FEB),
        (FEB, MAR),
        (MAR, end),
        (end, None),
    ]
    assert lines_of(invoices[2]) == [("AI SDR: Platform fee (prorated: 9 of 31 days)", 14516)]  # 14516.13
    assert lines_of(invoices[3]) == [("AI SDR: Emails sent", 40)]
    assert (invoices[3].lines.get().period_start, invoices[3].lines.get().period_end) == (MAR, end)


def test_an_annual_fee_and_monthly_usage_invoice_monthly(organization, customer, product):
    order = make_order(
        organization,
        customer,
        line(product, fee(cents=600000, frequency="annual"), usage("Emails sent", "email_sent", 10)),
    )
    send(organization, "email_sent", T0 + timedelta(days=40))  # February
    rate(organization)
    invoices = generate(order, APR)
    assert [i.period_start for i in invoices] == [T0, MAR]  # February's invoice had nothing to bill
    assert lines_of(invoices[0]) == [("AI SDR: Platform fee", 600000)]
    assert invoices[0].lines.get().period_end == datetime(2027, 1, 1, tzinfo=UTC)
    assert lines_of(invoices[1]) == [("AI SDR: Emails sent", 10)]


def test_a_paused_order_bills_no_fees_for_periods_that_begin_in_the_pause(
    organization, customer, product, sdr
):
    send(organization, "email_sent", T0 + timedelta(days=3))
    rate(organization)
    with time_machine.travel(T0 + timedelta(days=20), tick=False):
        order_pause(order=sdr)
    sdr.refresh_from_db()
    _, second = generate(sdr, FEB)
    assert lines_of(second) == [("AI SDR: Emails sent", 10)]


# --- generation is idempotent ------------------------------------------------------------------------------


def test_generating_twice_for_the_same_period_yields_the_same_single_invoice(organization, sdr):
    (first,) = generate(sdr, T0 + timedelta(days=3))
    (again,) = generate(sdr, T0 + timedelta(days=4))
    assert again.pk == first.pk
    assert Invoice.objects.filter(order=sdr).count() == 1
    assert services.invoices_generate_due(organization=organization, now=T0 + timedelta(days=5)) == 1
    assert Invoice.objects.filter(order=sdr).count() == 1 and InvoiceLine.objects.count() == 1


def test_the_scheduled_sweep_builds_due_invoices_of_every_active_order(organization, customer, product, sdr):
    make_order(organization, customer, line(product, fee()), activate=False)  # a draft: never invoiced
    with time_machine.travel(FEB + timedelta(minutes=5), tick=False):
        from apps.billing.tasks import generate_due_invoices

        assert generate_due_invoices() == 2
    assert len(invoices_of(sdr)) == 2 and Invoice.objects.count() == 2


def test_draft_orders_cannot_be_invoiced(organization, customer, product):
    order = make_order(organization, customer, line(product, fee()), activate=False)
    with pytest.raises(OrderNotBillable):
        generate(order, FEB)


# --- tax ---------------------------------------------------------------------------------------------------


def test_tax_is_rounded_per_line_and_skipped_for_tax_exempt_customers(organization, customer, product):
    services.billing_settings_update(organization=organization, tax_rate=Decimal("8.25"))
    order = make_order(organization, customer, line(product, fee(), usage("Emails sent", "email_sent", 10)))
    send(organization, "email_sent", T0 + timedelta(days=1), quantity=3)
    rate(organization)
    _, second = generate(order, FEB)
    assert [(line.amount, line.tax_amount) for line in second.lines.order_by("position")] == [
        (50000, 4125),
        (30, 2),  # 2.475 → 2
    ]
    assert (second.subtotal_amount, second.tax_amount, second.total_amount) == (50030, 4127, 54157)
    assert (second.tax_rate, second.tax_status) == (Decimal("8.25"), "calculated")

    exempt = make_customer(organization, external_id="exempt", name="Exempt Inc", tax_exempt=True)
    (free,) = generate(make_order(organization, exempt, line(product, fee())), T0)
    assert (free.tax_amount, free.total_amount, free.tax_exempt, free.tax_status) == (
        0,
        50000,
        True,
        "not_applicable",
    )


def test_posting_recomputes_tax_from_the_settings_of_the_day(organization, customer, product):
    (draft,) = generate(make_order(organization, customer, line(product, fee())), T0)
    assert draft.tax_amount == 0
    services.billing_settings_update(organization=organization, tax_rate=Decimal("10"))
    posted = services.invoice_post(invoice=draft)
    assert (posted.tax_amount, posted.total_amount, posted.tax_status) == (5000, 55000, "calculated")
    assert posted.lines.get().tax_amount == 5000


# --- posting -------------------------------------------------------------------------------------------------


def test_posting_numbers_dates_and_freezes_a_snapshot(organization, customer, product):
    services.billing_settings_update(
        organization=organization,
        legal_name="Acme AI Inc.",
        address={"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"},
        tax_id="US-123",
    )
    order = make_order(organization, customer, line(product, fee()), payment_terms="Net 15")
    (draft,) = generate(order, T0)
    posted_at = T0 + timedelta(hours=2)
    with time_machine.travel(posted_at, tick=False):
        posted = services.invoice_post(invoice=draft)
        assert services.invoice_post(invoice=draft).pk == posted.pk  # idempotent
    assert (posted.status, posted.number, posted.display_number) == ("posted", 1, "INV-0001")
    assert (posted.posted_at, posted.due_at) == (posted_at, posted_at + timedelta(days=15))
    snapshot = posted.snapshot
    assert snapshot["invoice"] | {"id": None, "publicUrlToken": None} == {
        "id": None,
        "displayNumber": "INV-0001",
        "issueDate": "2026-01-01T00:00:00Z",
        "postedDate": "2026-01-01T02:00:00Z",
        "dueDate": "2026-01-16T02:00:00Z",
        "periodStart": "2026-01-01T00:00:00Z",
        "periodEnd": "2026-02-01T00:00:00Z",
        "currency": "USD",
        "taxRate": "0",
        "taxExempt": False,
        "subtotal": 50000,
        "taxAmount": 0,
        "total": 50000,
        "amountPaid": 0,
        "amountDue": 50000,
        "publicUrlToken": None,
    }
    assert snapshot["invoice"]["id"] == posted.display_id
    assert snapshot["seller"] == {
        "name": "Acme AI Inc.",
        "address": {
            "line1": "1 Main St",
            "line2": None,
            "city": "Springfield",
            "state": None,
            "postalCode": "12345",
            "country": "US",
        },
        "taxId": "US-123",
    }
    assert snapshot["customer"]["id"] == customer.display_id and snapshot["customer"]["externalId"] == "acme"
    assert snapshot["lines"] == [
        {
            "description": "AI SDR: Platform fee",
            "periodStart": "2026-01-01T00:00:00Z",
            "periodEnd": "2026-02-01T00:00:00Z",
            "quantity": "1",
            "unitPrice": "50000",
            "amount": 50000,
            "tax": 0,
        }
    ]


@pytest.mark.parametrize(
    ("terms", "days"),
    [(None, 30), ("net30", 30), ("NET-45", 45), ("7", 7), ("Due on receipt", 0), ("soon", 30)],
)
def test_due_dates_follow_payment_terms_else_the_settings_default(
    organization, customer, product, terms, days
):
    order = make_order(organization, customer, line(product, fee()), payment_terms=terms)
    (draft,) = generate(order, T0)
    with time_machine.travel(T0, tick=False):
        posted = services.invoice_post(invoice=draft)
    assert posted.due_at == T0 + timedelta(days=days)


def test_auto_post_invoices_posts_on_generation(organization, customer, product):
    order = make_order(organization, customer, line(product, fee()), auto_post_invoices=True)
    first, second = generate(order, FEB)
    assert [(i.status, i.display_number) for i in (first, second)] == [
        ("posted", "INV-0001"),
        ("posted", "INV-0002"),
    ]
    assert first.snapshot["lines"][0]["amount"] == 50000


def test_numbers_are_per_organization_and_only_for_posted_invoices(organization, other_organization, product):
    mine = make_order(organization, make_customer(organization), line(product, fee()))
    theirs_product = make_product(other_organization)
    theirs = make_order(other_organization, make_customer(other_organization), line(theirs_product, fee()))
    a1, a2 = generate(mine, FEB)
    (b1,) = generate(theirs, T0)
    services.invoice_post(invoice=a2)
    services.invoice_post(invoice=b1)
    services.invoice_post(invoice=a1)
    numbers = {i.display_id: i.display_number for i in Invoice.objects.all()}
    assert (numbers[a2.display_id], numbers[a1.display_id], numbers[b1.display_id]) == (
        "INV-0001",
        "INV-0002",
        "INV-0001",
    )


def test_posting_releases_credit_grants_timed_on_invoice_posted(organization, customer, product):
    currency = credit_currency_create(organization=organization, name="Chat credits", key="chat_credits")
    benefit = {
        "id": "b",
        "amount": Decimal(100),
        "credits_currency_id": currency.display_id,
        "credit_grant_timing": "on_invoice_posted",
    }
    order = make_order(organization, customer, line(product, fee(credit_benefits=[benefit])))
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        credit_order_grants_due(organization=organization, order_id=order.display_id)
        assert CreditGrant.objects.get(order=order).status == "pending"
        (draft,) = services.invoice_generate_for_order(order=order)
        services.invoice_post(invoice=draft)
    assert CreditGrant.objects.get(order=order).status == "active"


# --- void, reissue, immutability ------------------------------------------------------------------------------


def test_void_and_reissue_a_period(organization, customer, product):
    order = make_order(organization, customer, line(product, fee()))
    (invoice,) = generate(order, T0)
    posted = services.invoice_post(invoice=invoice)
    voided = services.invoice_void(invoice=posted)
    assert (voided.status, voided.display_number) == ("voided", "INV-0001")
    assert services.invoice_void(invoice=voided).status == "voided"  # idempotent
    assert generate(order, T0 + timedelta(days=1)) == []  # the schedule does not rebuild a voided period

    with pytest.raises(InvoiceStateError):
        services.invoice_post(invoice=voided)
    reissued = services.invoice_reissue(invoice=voided)
    assert (reissued.status, reissued.period_start, reissued.reissued_from_id) == ("draft", T0, voided.pk)
    assert lines_of(reissued) == [("AI SDR: Platform fee", 50000)]
    assert services.invoice_reissue(invoice=voided).pk == reissued.pk  # the period has a live invoice again
    assert [i.pk for i in generate(order, T0 + timedelta(days=1))] == [reissued.pk]
    assert services.invoice_post(invoice=reissued).display_number == "INV-0002"


def test_only_voided_invoices_are_reissued(organization, customer, product):
    (draft,) = generate(make_order(organization, customer, line(product, fee())), T0)
    with pytest.raises(InvoiceStateError):
        services.invoice_reissue(invoice=draft)


def test_posted_invoices_and_their_lines_are_frozen_in_the_database(organization, customer, product):
    (draft,) = generate(make_order(organization, customer, line(product, fee())), T0)
    InvoiceLine.objects.filter(invoice=draft).update(description="edited while a draft")  # drafts are mutable
    posted = services.invoice_post(invoice=draft)
    for statement in (
        lambda: InvoiceLine.objects.filter(invoice=posted).update(amount=1),
        lambda: Invoice.objects.filter(pk=posted.pk).update(total_amount=1),
        lambda: Invoice.objects.filter(pk=posted.pk).update(snapshot={}),
        lambda: InvoiceLine.objects.create(
            organization=organization,
            invoice=posted,
            kind="manual",
            description="x",
            period_start=T0,
            period_end=T0,
        ),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            statement()
    services.invoice_metadata_update(invoice=posted, metadata={"crm": "42"})  # metadata is not frozen
    voided = services.invoice_void(invoice=posted)
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=voided.pk).update(status="posted")


# --- payments and allocations -----------------------------------------------------------------------------------


@pytest.fixture
def posted(organization, customer, product):
    order = make_order(
        organization, customer, line(product, fee(), attr("Onboarding", "oneTime", "flat", 10000))
    )
    (invoice,) = generate(order, T0)
    return services.invoice_post(invoice=invoice)


def pay(organization, customer, amount, **fields):
    return services.payment_create(
        organization=organization,
        customer=customer,
        amount=amount,
        currency="USD",
        payment_type="bankTransfer",
        **fields,
    ).payment


def test_payments_are_numbered_and_idempotent(organization, customer, other_organization):
    first = pay(organization, customer, 1000)
    again = services.payment_create(
        organization=organization,
        customer=customer,
        amount=2000,
        currency="usd",
        payment_type="ach",
        idempotency_key="k1",
    )
    replay = services.payment_create(
        organization=organization,
        customer=customer,
        amount=2000,
        currency="USD",
        payment_type="ach",
        idempotency_key="k1",
    )
    assert (first.number, again.payment.number, again.created) == (1, 2, True)
    assert (replay.payment.pk, replay.created) == (again.payment.pk, False)
    with pytest.raises(IdempotencyKeyReused):
        services.payment_create(
            organization=organization,
            customer=customer,
            amount=3000,
            currency="USD",
            payment_type="ach",
            idempotency_key="k1",
        )
    assert str(first) == "PAY-0001" and Payment.objects.count() == 2
    other = pay(other_organization, make_customer(other_organization), 500)
    assert other.number == 1


def test_allocations_pay_lines_and_then_the_invoice(organization, customer, posted):
    fee_line, onboarding = posted.lines.order_by("position")
    payment = pay(organization, customer, 70000)
    services.payment_allocate(
        organization=organization,
        payment=payment,
        allocations=[{"invoice_line_id": fee_line.display_id, "amount": 20000}],
    )
    posted.refresh_from_db()
    payment.refresh_from_db()
    assert (posted.amount_paid, posted.payment_status, posted.amount_remaining) == (
        20000,
        "partiallyPaid",
        40000,
    )
    assert (payment.allocated_amount, payment.balance) == (20000, 50000)

    result = services.payment_allocate(
        organization=organization,
        payment=payment,
        allocations=[
            {"invoice_line_id": fee_line.display_id, "amount": 30000},
            {"invoice_line_id": onboarding.display_id, "amount": 10000, "currency": "usd"},
        ],
        request_key="alloc-1",
    )
    posted.refresh_from_db()
    assert (posted.amount_paid, posted.payment_status, posted.paid_at is not None) == (60000, "paid", True)
    replay = services.payment_allocate(
        organization=organization,
        payment=payment,
        allocations=[
            {"invoice_line_id": fee_line.display_id, "amount": 30000},
            {"invoice_line_id": onboarding.display_id, "amount": 10000, "currency": "usd"},
        ],
        request_key="alloc-1",
    )
    assert (replay.created, [a.pk for a in replay.allocations]) == (False, [a.pk for a in result.allocations])
    lines = {line.display_id: line.amount_allocated for line in selectors.invoice_line_list(invoice=posted)}
    assert lines == {fee_line.display_id: 50000, onboarding.display_id: 10000}


@pytest.mark.parametrize(
    ("amounts", "field"),
    [
        ([("fee", 50001)], "allocations[0].amount"),  # more than the line owes
        ([("fee", 30000), ("fee", 30000)], "allocations[1].amount"),  # the same line twice
        ([("fee", 40000), ("onboarding", 10000)], "allocations"),  # more than the payment has
    ],
)
def test_over_allocation_is_refused_and_changes_nothing(organization, customer, posted, amounts, field):
    lines = dict(zip(("fee", "onboarding"), posted.lines.order_by("position"), strict=True))
    payment = pay(organization, customer, 45000)
    with pytest.raises(OverAllocation) as error:
        services.payment_allocate(
            organization=organization,
            payment=payment,
            allocations=[
                {"invoice_line_id": lines[name].display_id, "amount": amount} for name, amount in amounts
            ],
        )
    assert error.value.field == field
    posted.refresh_from_db()
    payment.refresh_from_db()
    assert (posted.amount_paid, payment.allocated_amount, payment.allocations.count()) == (0, 0, 0)


def test_allocations_need_a_posted_invoice_of_the_same_customer_and_currency(
    organization, customer, product, posted
):
    fee_line = posted.lines.order_by("position").first()
    stranger = make_customer(organization, external_id="other", name="Other")
    for payment, code in (
        (pay(organization, stranger, 1000), "CUSTOMER_MISMATCH"),
        (pay(organization, customer, 1000, status="draft"), "PAYMENT_NOT_POSTED"),
        (
            services.payment_create(
                organization=organization, customer=customer, amount=1000, currency="EUR", payment_type="cash"
            ).payment,
            "CURRENCY_MISMATCH",
        ),
    ):
        with pytest.raises(DomainError) as error:
            services.payment_allocate(
                organization=organization,
                payment=payment,
                allocations=[{"invoice_line_id": fee_line.display_id, "amount": 100}],
            )
        assert error.value.code == code
    (draft,) = generate(make_order(organization, customer, line(product, fee())), T0)
    with pytest.raises(DomainError) as error:
        services.payment_allocate(
            organization=organization,
            payment=pay(organization, customer, 1000),
            allocations=[{"invoice_line_id": draft.lines.get().display_id, "amount": 100}],
        )
    assert error.value.code == "INVOICE_NOT_POSTED"


def test_a_paid_invoice_cannot_be_voided(organization, customer, posted):
    payment = pay(organization, customer, 100)
    line_id = posted.lines.order_by("position").first().display_id
    services.payment_allocate(
        organization=organization, payment=payment, allocations=[{"invoice_line_id": line_id, "amount": 100}]
    )
    with pytest.raises(InvoiceStateError) as error:
        services.invoice_void(invoice=posted)
    assert error.value.code == "INVOICE_HAS_PAYMENTS"


def test_overdue_is_derived_from_the_due_date(organization, customer, posted):
    assert selectors.invoice_payment_status(posted, now=posted.due_at - timedelta(seconds=1)) == "pending"
    assert selectors.invoice_payment_status(posted, now=posted.due_at + timedelta(seconds=1)) == "overdue"
    with time_machine.travel(posted.due_at + timedelta(days=1), tick=False):
        assert list(selectors.invoice_list(organization=organization, payment_status="overdue")) == [posted]
        assert not selectors.invoice_list(organization=organization, payment_status="pending").exists()


# --- tenancy ---------------------------------------------------------------------------------------------------


def test_another_organizations_invoices_and_lines_are_not_found(
    organization, other_organization, posted, customer
):
    with pytest.raises(NotFound):
        selectors.invoice_get(organization=other_organization, invoice_id=posted.display_id)
    their_payment = pay(other_organization, make_customer(other_organization), 1000)
    with pytest.raises(NotFound):
        services.payment_allocate(
            organization=other_organization,
            payment=their_payment,
            allocations=[{"invoice_line_id": posted.lines.first().display_id, "amount": 100}],
        )
    assert not selectors.invoice_list(organization=other_organization).exists()
