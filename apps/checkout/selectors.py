"""Reads of hosted checkouts (§3.7): by id or page token, lists, the effective status, and what the page offers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.catalog.describe import benefit_words, pricing_words
from apps.catalog.selectors import plan_list
from apps.checkout.models import Checkout, CheckoutAttempt
from apps.common.exceptions import NotFound
from apps.common.templatetags.money import format_number

if TYPE_CHECKING:
    from apps.accounts.models import Organization

# Charges billed whatever the usage: what makes a plan cost something before the buyer has used anything.
_FIXED_CHARGES = ("recurring", "seatBased", "oneTime")


def checkout_url(checkout: Checkout) -> str:
    """The hosted page's address: the unguessable token, not the display id."""
    return f"{settings.PUBLIC_BASE_URL}/c/{checkout.token}/"


def checkout_status(checkout: Checkout, *, now: datetime | None = None) -> str:
    """The status a reader sees: an active link past its `expires_at` is expired even before the sweep marks it."""
    now = now or timezone.now()
    if (
        checkout.status == Checkout.Status.ACTIVE
        and checkout.expires_at is not None
        and checkout.expires_at <= now
    ):
        return Checkout.Status.EXPIRED
    return checkout.status


def _checkouts(organization: Organization) -> QuerySet[Checkout]:
    return Checkout.objects.filter(organization=organization).select_related("customer")


def checkout_list(*, organization: Organization, status: str | None = None) -> QuerySet[Checkout]:
    """The organization's checkouts, newest first; `status` filters on the status readers see."""
    qs = _checkouts(organization)
    now = timezone.now()
    live = Q(status=Checkout.Status.ACTIVE) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    if status == Checkout.Status.ACTIVE:
        qs = qs.filter(live)
    elif status == Checkout.Status.EXPIRED:
        qs = qs.filter(
            Q(status=Checkout.Status.EXPIRED) | Q(status=Checkout.Status.ACTIVE, expires_at__lte=now)
        )
    elif status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")


def checkout_get(*, organization: Organization, checkout_id: str) -> Checkout:
    """By display id (`chk_…`); another organization's id is NotFound."""
    found = _checkouts(organization).filter(display_id=checkout_id).first()
    if found is None:
        raise NotFound("Checkout", checkout_id)
    return found


def checkout_get_by_token(*, token: str) -> Checkout:
    """The checkout a page URL names (any organization: the token is the key)."""
    found = Checkout.objects.select_related("organization", "customer").filter(token=token).first()
    if found is None:
        raise NotFound("Checkout")
    return found


def checkout_get_for_update(*, checkout: Checkout) -> Checkout:
    return Checkout.objects.select_for_update().get(organization_id=checkout.organization_id, pk=checkout.pk)


def attempt_get_for_update(*, attempt: CheckoutAttempt) -> CheckoutAttempt:
    return (
        CheckoutAttempt.objects.select_for_update(of=("self",))  # the joined rows are read, not locked
        .select_related("checkout", "plan", "plan__product", "customer", "order")
        .get(organization_id=attempt.organization_id, pk=attempt.pk)
    )


def attempt_get(*, checkout: Checkout, attempt_id: str) -> CheckoutAttempt:
    found = (
        CheckoutAttempt.objects.filter(
            organization_id=checkout.organization_id, checkout=checkout, display_id=attempt_id
        )
        .select_related("checkout", "checkout__organization", "plan", "order", "customer")
        .first()
    )
    if found is None:
        raise NotFound("Checkout attempt", attempt_id)
    return found


def attempt_find_by_setup_intent(
    *, organization: Organization, setup_intent_id: str
) -> CheckoutAttempt | None:
    return (
        CheckoutAttempt.objects.filter(organization=organization, setup_intent_id=setup_intent_id)
        .select_related("checkout", "checkout__organization", "plan")
        .first()
    )


def attempts_to_finish(*, organization: Organization, since: datetime) -> QuerySet[CheckoutAttempt]:
    """Paid attempts begun since `since` whose browser may never have come back (open, with a SetupIntent), and
    completed attempts whose first invoice was not settled yet: the sweep finishes both."""
    return (
        CheckoutAttempt.objects.filter(organization=organization)
        .filter(
            Q(status=CheckoutAttempt.Status.OPEN, setup_intent_id__isnull=False, created_at__gte=since)
            | Q(status=CheckoutAttempt.Status.COMPLETED, settled_at__isnull=True)
        )
        .select_related("checkout", "checkout__organization", "plan")
        .order_by("pk")
    )


def checkout_latest_completion(*, checkout: Checkout) -> CheckoutAttempt | None:
    """The attempt that completed last (a reusable link completes once per buyer)."""
    return (
        CheckoutAttempt.objects.filter(
            organization_id=checkout.organization_id,
            checkout=checkout,
            status=CheckoutAttempt.Status.COMPLETED,
        )
        .select_related("order", "plan", "plan__product")
        .order_by("-completed_at", "-pk")
        .first()
    )


def checkouts_past_expiry(*, organization: Organization, now: datetime) -> QuerySet[Checkout]:
    return Checkout.objects.filter(
        organization=organization, status=Checkout.Status.ACTIVE, expires_at__lte=now
    ).order_by("pk")


# --- what the page offers ------------------------------------------------------------------------------------


@dataclass
class OfferedPlan:
    """One plan card: its prices per currency (minor units per period), credit allowance and feature bullets."""

    plan: Any  # catalog Plan
    product: Any  # catalog Product
    features: list[str]
    credits: list[str]
    # currency -> [(amount in minor units, unit words such as "per month")] of the fixed charges
    prices: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    currencies: list[str] = field(default_factory=list)
    usage_priced: bool = False  # charges by usage too (billed later)

    @property
    def id(self) -> str:
        return self.plan.display_id

    @property
    def name(self) -> str:
        return self.plan.name or self.plan.display_id

    def fixed_amount(self, currency: str) -> int:
        return sum(amount for amount, _ in self.prices.get(currency, []))

    def is_free(self, currency: str) -> bool:
        """Nothing to pay now or later: no fixed charge with a price and no usage charge with one."""
        return self.fixed_amount(currency) == 0 and not self.usage_priced


def _minor(value: Any) -> int:
    return int(Decimal(str(value or 0)).to_integral_value())


def _usage_feature(name: str, pricing: dict[str, Any], credits_currency) -> str:
    """A bullet for a usage line: "Chat messages: 1 Chat Credit each", "Emails sent: billed by usage"."""
    if pricing.get("credit_cost") is not None and credits_currency is not None:
        cost = Decimal(str(pricing["credit_cost"])).normalize()
        unit = credits_currency.name if cost != 1 else credits_currency.name.removesuffix("s")
        return f"{name}: {format_number(cost)} {unit} each"
    return f"{name}: billed by usage"


def _describe(plan, features: list[str] | None) -> OfferedPlan:
    offered = OfferedPlan(plan=plan, product=plan.product, features=[], credits=[])
    derived = []
    currencies: set[str] = set(plan.supported_currencies or [])
    for line in plan.attributes.all():
        if not line.product_attribute.active:
            continue
        pricing = line.pricing or {}
        words = pricing_words(pricing)
        charge = pricing.get("charge_type")
        points = pricing.get("price_points") or []
        for point in points:
            currency = point.get("currency")
            if not currency:
                continue
            currencies.add(currency)
            if charge in _FIXED_CHARGES:
                amount = _minor(point.get("unit_price"))
                if point.get("tiers"):
                    amount = _minor((point["tiers"][0] or {}).get("flat_amount")) + _minor(
                        (point["tiers"][0] or {}).get("unit_amount")
                    )
                offered.prices.setdefault(currency, []).append((amount, words["unit"]))
            elif _minor(point.get("unit_price")) or point.get("tiers"):
                offered.usage_priced = True
        if charge not in _FIXED_CHARGES:
            derived.append(_usage_feature(line.product_attribute.name, pricing, line.credits_currency))
        for benefit in line.credit_benefits.all():
            offered.credits.append(
                benefit_words(
                    amount=benefit.amount,
                    currency_name=benefit.credits_currency.name,
                    allocation_cadence=benefit.allocation_cadence,
                    recipient=benefit.recipient,
                    is_infinite_total=benefit.is_infinite_total,
                ).split(", to ")[0]  # "2,000 Chat Credits each month"; who receives them is ours to say
            )
    offered.features = list(features) if features else derived
    offered.currencies = sorted(currencies)
    return offered


def checkout_offer(*, checkout: Checkout) -> list[OfferedPlan]:
    """The active plans the checkout offers, product by product in the order given, each product's plans in
    the order listed (or, when none are listed, all of its active plans, oldest first)."""
    offered = []
    for product in checkout.products:
        try:
            plans = list(
                plan_list(
                    organization=checkout.organization, product_id=product["id"], include_archived=False
                )
                .select_related("product")
                .order_by("created_at", "pk")
            )
        except NotFound:  # the product was deleted since: nothing of it to offer
            continue
        by_id = {plan.display_id: plan for plan in plans}
        listed = product.get("plans")
        if listed:
            for item in listed:
                if item["id"] in by_id:
                    offered.append(_describe(by_id[item["id"]], item.get("features")))
        else:
            offered.extend(_describe(plan, None) for plan in plans)
    return offered


def offer_currencies(offered: list[OfferedPlan], *, lock: str | None) -> list[str]:
    """The currencies a buyer may pay in: the lock alone, else every currency some offered plan is priced in."""
    if lock:
        return [lock]
    return sorted({currency for plan in offered for currency in plan.currencies})


def organization_ids_with_open_checkouts() -> list[int]:
    """Organizations with an active checkout or an unfinished attempt (the sweep's scope)."""
    with_active = Checkout.objects.filter(status=Checkout.Status.ACTIVE).values_list(
        "organization_id", flat=True
    )
    with_attempts = CheckoutAttempt.objects.filter(
        Q(status=CheckoutAttempt.Status.OPEN)
        | Q(status=CheckoutAttempt.Status.COMPLETED, settled_at__isnull=True)
    ).values_list("organization_id", flat=True)
    return sorted(set(with_active) | set(with_attempts))


def checkout_links_for_state(*, customer, state: dict, now: datetime) -> None:
    """Receiver of credits' `customer_state_extend`: the customer's checkout links (§2.1
    `CustomerStateCheckoutLink`), made for it by id or by its external id, newest first."""
    mine = Q(customer=customer)
    if customer.external_id:
        mine |= Q(customer__isnull=True, external_customer_id=customer.external_id)
    checkouts = _checkouts(customer.organization).filter(mine).order_by("-created_at", "-pk")
    state["checkoutLinks"] = [
        {
            "id": checkout.display_id,
            "url": checkout_url(checkout),
            "status": checkout_status(checkout, now=now),
            "productIds": [product["id"] for product in checkout.products],
            "singleUse": checkout.single_use,
            "allowedCurrencies": checkout.allowed_currencies,
            "expiresAt": checkout.expires_at.isoformat().replace("+00:00", "Z")
            if checkout.expires_at
            else None,
        }
        for checkout in checkouts
    ]
