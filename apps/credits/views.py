"""Dashboard pages for credits: a customer's Credits tab (balances per currency and pool with their lots,
low-balance marks, pending consumption, the filterable ledger, a manual grant form) and the "what this signal
spent" panel that the signal page loads (signals sit below credits and rating, so it is served from here).

A few reads here are not in selectors.py (pools with their seat holders, pending lots per pool, the ledger with
pool and exact-kind filters, a signal's consumption): they only serve these pages. They read this app's own
models, scoped to the customer's (or signal's) organization like every selector."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.catalog.selectors import credit_currency_list
from apps.common.exceptions import DomainError
from apps.common.templatetags.money import format_number
from apps.common.views import dashboard_view, paginate, redirect_after_write, vary_on_htmx, wants_partial
from apps.credits.exceptions import IdempotencyKeyReused
from apps.credits.forms import (
    ORGANIZATION_POOL,
    SERVICE_FIELDS,
    CreditGrantForm,
    LedgerFilterForm,
    new_idempotency_key,
)
from apps.credits.models import CreditConsumption, CreditEntry, CreditGrant, CreditPool
from apps.credits.selectors import (
    LotBalance,
    Transaction,
    TransactionList,
    credit_balance_list,
    credit_pending_consumption_list,
    credit_pool_for_consumption,
    credit_seat_balance_map,
)
from apps.credits.services import credit_grant_manual
from apps.customers.selectors import customer_get
from apps.rating.selectors import usage_records_for_signal
from apps.signals.selectors import signal_get

if TYPE_CHECKING:  # other apps' models are private to them; the types are all we need
    from apps.accounts.models import Organization
    from apps.customers.models import Customer

ZERO = Decimal(0)
# Low balance: a pool whose available credits are below this share of what its live lots were granted with
# (docs/credits.md, "Dashboard"). No credits left at all is "depleted".
LOW_BALANCE_SHARE = Decimal("0.10")
PENDING_SHOWN = 20  # pending consumption rows shown on the page (the API pages through all of them)
LEDGER_PAGE = 25
ENTRY_KINDS = {choice.value for choice in CreditEntry.Kind}


def balance_level(*, available: Decimal, total: Decimal) -> str:
    """`depleted` when nothing is left, `low` when less than 10% of the live lots' total is, else `ok`."""
    if available <= 0:
        return "depleted"
    if available < total * LOW_BALANCE_SHARE:
        return "low"
    return "ok"


def pool_label(pool: CreditPool) -> str:
    """Who a pool belongs to, in words: the organization, or the seat's current holder."""
    if pool.seat_id is None:
        return "Organization"
    holder = pool.seat.assignee
    if holder is None:
        return "Unassigned seat"
    return f"Seat · {holder.name or holder.external_id}"


# --- balances ------------------------------------------------------------------------------------------------


@dataclass
class PoolView:
    """One pool as the page shows it: its spendable lots (from the balance selectors) and its pending lots."""

    pool: CreditPool
    lots: list[LotBalance]
    pending_lots: list[CreditGrant]

    @property
    def label(self) -> str:
        return pool_label(self.pool)

    @property
    def available(self) -> Decimal:
        return sum((lot.available for lot in self.lots), ZERO)

    @property
    def used(self) -> Decimal:
        return sum((lot.used for lot in self.lots), ZERO)

    @property
    def total(self) -> Decimal:
        return sum((lot.total for lot in self.lots), ZERO)

    @property
    def pending_amount(self) -> Decimal:
        return sum((lot.amount for lot in self.pending_lots), ZERO)

    @property
    def level(self) -> str:
        return balance_level(available=self.available, total=self.total)

    @property
    def percent_left(self) -> int:
        """Available as a whole percentage of the live lots' total (for the bar), 0 without lots."""
        if self.total <= 0:
            return 0
        return int((self.available * 100 / self.total).to_integral_value())


@dataclass
class CurrencyView:
    display_id: str
    name: str
    key: str
    pools: list[PoolView] = field(default_factory=list)

    @property
    def attention(self) -> list[PoolView]:
        return [pool for pool in self.pools if pool.level != "ok"]


def _customer_pools(customer: Customer) -> list[CreditPool]:
    """The customer's pools: per currency, the organization pool first, then its seat pools (oldest first)."""
    return list(
        CreditPool.objects.filter(organization_id=customer.organization_id, customer_id=customer.pk)
        .select_related(
            "credits_currency", "seat__assignee", "seat__order_line_attribute__order_line__product"
        )
        .order_by("credits_currency__created_at", "credits_currency_id", "recipient", "created_at", "pk")
    )


def _pending_lots(customer: Customer) -> dict[int, list[CreditGrant]]:
    """Pool pk → its lots awaiting an invoice (no credits yet), oldest first."""
    lots = CreditGrant.objects.filter(
        organization_id=customer.organization_id,
        pool__customer_id=customer.pk,
        status=CreditGrant.Status.PENDING,
    ).order_by("created_at", "pk")
    by_pool: dict[int, list[CreditGrant]] = {}
    for lot in lots:
        by_pool.setdefault(lot.pool_id, []).append(lot)
    return by_pool


def customer_balances(*, customer: Customer, pools: list[CreditPool], now: datetime) -> list[CurrencyView]:
    """Per credit currency, each pool with its spendable lots: the organization pool's from
    `credit_balance_list`, each seat's from `credit_seat_balance_map` (the API sums seats; here each seat and
    its holder is its own row)."""
    organization = {
        balance.credits_currency_id: balance
        for balance in credit_balance_list(customer=customer, now=now)
        if balance.recipient == CreditPool.Recipient.ORGANIZATION
    }
    seats = credit_seat_balance_map(
        organization_id=customer.organization_id,
        seat_ids=[pool.seat_id for pool in pools if pool.seat_id is not None],
        now=now,
    )
    pending = _pending_lots(customer)
    currencies: dict[int, CurrencyView] = {}
    for pool in pools:
        currency = pool.credits_currency
        if pool.seat_id is None:
            balance = organization.get(currency.display_id)
        else:
            balance = next(
                (b for b in seats.get(pool.seat_id, []) if b.credits_currency_id == currency.display_id), None
            )
        view = currencies.setdefault(
            currency.pk, CurrencyView(display_id=currency.display_id, name=currency.name, key=currency.key)
        )
        view.pools.append(
            PoolView(
                pool=pool,
                lots=list(balance.grants) if balance is not None else [],
                pending_lots=pending.get(pool.pk, []),
            )
        )
    return list(currencies.values())


# --- the ledger ----------------------------------------------------------------------------------------------


def customer_ledger(
    *,
    customer: Customer,
    currency_id: str | None = None,
    kind: str | None = None,
    seat_id: Any = None,
    organization_pool: bool = False,
    at_from: datetime | None = None,
    at_to: datetime | None = None,
) -> TransactionList:
    """The customer's ledger entries and pending lots, newest first (the §3.6 list's order and date rule: a
    spend of a signal is dated by the signal's recording), filtered by currency (display id), exact kind
    (`pending` for pending lots), pool (the organization pools, or one seat's) and an inclusive date range."""
    entries = CreditEntry.objects.filter(organization_id=customer.organization_id, customer_id=customer.pk)
    pending = CreditGrant.objects.filter(
        organization_id=customer.organization_id,
        pool__customer_id=customer.pk,
        status=CreditGrant.Status.PENDING,
    )
    if currency_id is not None:
        entries = entries.filter(credits_currency__display_id=currency_id)
        pending = pending.filter(pool__credits_currency__display_id=currency_id)
    if organization_pool:
        entries = entries.filter(pool__seat__isnull=True)
        pending = pending.filter(pool__seat__isnull=True)
    elif seat_id is not None:
        entries = entries.filter(pool__seat_id=seat_id)
        pending = pending.filter(pool__seat_id=seat_id)
    if at_from is not None:
        entries = entries.filter(
            Q(signal_recorded_at__gte=at_from) | Q(signal_recorded_at__isnull=True, created_at__gte=at_from)
        )
        pending = pending.filter(created_at__gte=at_from)
    if at_to is not None:
        entries = entries.filter(
            Q(signal_recorded_at__lte=at_to) | Q(signal_recorded_at__isnull=True, created_at__lte=at_to)
        )
        pending = pending.filter(created_at__lte=at_to)
    if kind == "pending":
        return TransactionList(None, pending)
    if kind in ENTRY_KINDS:
        return TransactionList(entries.filter(kind=kind), None)
    return TransactionList(entries, pending)


@dataclass(frozen=True)
class LedgerRow:
    transaction: Transaction
    pool: str
    balance_after: Decimal | None = None
    note: str = ""
    reverses: str | None = None
    reversed_by: str | None = None
    expires_at: datetime | None = None


def ledger_rows(*, customer: Customer, transactions: list[Transaction]) -> list[LedgerRow]:
    """One page of transactions with what the ledger table adds: the pool, the balance after each entry, the
    entry it reverses or that reverses it, and a pending lot's expiry."""
    pending_ids = [t.id for t in transactions if t.kind == "pendingGrant"]
    entries = {
        entry.display_id: entry
        for entry in CreditEntry.objects.filter(
            organization_id=customer.organization_id,
            display_id__in=[t.id for t in transactions if t.kind != "pendingGrant"],
        ).select_related("pool__seat__assignee", "reverses", "reversed_by")
    }
    lots = {
        lot.display_id: lot
        for lot in CreditGrant.objects.filter(
            organization_id=customer.organization_id, display_id__in=pending_ids
        ).select_related("pool__seat__assignee")
    }
    rows = []
    for t in transactions:
        if (lot := lots.get(t.id)) is not None:
            rows.append(LedgerRow(transaction=t, pool=pool_label(lot.pool), expires_at=lot.expires_at))
        elif (entry := entries.get(t.id)) is not None:
            reversal = getattr(entry, "reversed_by", None)  # None when nothing reversed it
            rows.append(
                LedgerRow(
                    transaction=t,
                    pool=pool_label(entry.pool),
                    balance_after=entry.balance_after,
                    note=entry.note,
                    reverses=entry.reverses.display_id if entry.reverses_id else None,
                    reversed_by=reversal.display_id if reversal is not None else None,
                )
            )
    return rows


# --- pages ---------------------------------------------------------------------------------------------------


def _ledger_filters(request: HttpRequest, pools: list[CreditPool]) -> LedgerFilterForm:
    currencies, seats = {}, {}
    for pool in pools:
        currencies.setdefault(pool.credits_currency.display_id, pool.credits_currency.name)
        if pool.seat_id is not None:
            seats.setdefault(str(pool.seat_id), pool_label(pool))
    pool_choices = [(ORGANIZATION_POOL, "Organization"), *seats.items()]
    return LedgerFilterForm(request.GET or None, currencies=list(currencies.items()), pools=pool_choices)


def _ledger_context(request: HttpRequest, customer: Customer, pools: list[CreditPool]) -> dict[str, Any]:
    filters = _ledger_filters(request, pools)
    page = paginate(
        request, customer_ledger(customer=customer, **filters.ledger_filters()), per_page=LEDGER_PAGE
    )
    return {
        "customer": customer,
        "filters": filters,
        "filtered": filters.is_filtered(),
        "page": page,
        "rows": ledger_rows(customer=customer, transactions=list(page.object_list)),
    }


def _grant_form(request: HttpRequest, data=None) -> CreditGrantForm:
    currencies = credit_currency_list(organization=request.organization, status="active")
    initial = None if data is not None else {"idempotency_key": new_idempotency_key()}
    return CreditGrantForm(data, initial=initial, currencies=currencies)


def _page_context(request: HttpRequest, customer: Customer, *, grant_form: CreditGrantForm) -> dict[str, Any]:
    pools = _customer_pools(customer)
    pending = credit_pending_consumption_list(customer=customer)
    return {
        **_ledger_context(request, customer, pools),
        "balances": customer_balances(customer=customer, pools=pools, now=timezone.now()),
        "pending_count": pending.count(),
        "pending_rows": list(pending[:PENDING_SHOWN]),
        "grant_form": grant_form,
        "low_share_percent": int(LOW_BALANCE_SHARE * 100),
    }


@dashboard_view
def customer_credits_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    """The customer's Credits tab; an htmx request (filters, pager) gets the ledger alone."""
    customer = customer_get(organization=request.organization, customer_id=customer_id)
    if wants_partial(request):
        context = _ledger_context(request, customer, _customer_pools(customer))
        return vary_on_htmx(render(request, "credits/_ledger.html", context))
    context = _page_context(request, customer, grant_form=_grant_form(request))
    return vary_on_htmx(render(request, "credits/customer.html", context))


@dashboard_view
@require_POST
def credit_grant_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Grant credits by hand. The form's idempotency key makes a second submit of the same form a replay: it
    grants nothing more and says so."""
    customer = customer_get(organization=request.organization, customer_id=customer_id)
    form = _grant_form(request, request.POST)
    if form.is_valid():
        fields = form.service_fields()
        try:
            result = credit_grant_manual(organization=request.organization, customer=customer, **fields)
        except IdempotencyKeyReused:
            # The same rendering of the form was already used for a different grant (back button, edited,
            # submitted again): nothing was written. A new key lets the next submit grant.
            data = request.POST.copy()
            data["idempotency_key"] = new_idempotency_key()
            form = _grant_form(request, data)
            form.is_valid()
            form.add_error(
                None,
                "This form was already used to grant credits with other values. Check the ledger below; "
                "submit again to make this grant as well.",
            )
        except DomainError as exc:
            form.add_error(SERVICE_FIELDS.get(exc.field or ""), exc.message)
        else:
            currency = result.grant.pool.credits_currency
            amount = format_number(result.grant.amount)
            if result.created:
                messages.success(request, f"Granted {amount} {currency.name} to {customer.name}.")
            else:
                messages.info(
                    request,
                    f"This grant of {amount} {currency.name} was already made (the form was sent twice); "
                    "nothing more was granted.",
                )
            return redirect_after_write(request, reverse("credits:customer", args=[customer.display_id]))
    if wants_partial(request):
        return render(request, "credits/_grant_form.html", {"customer": customer, "grant_form": form})
    context = _page_context(request, customer, grant_form=form)
    return render(request, "credits/customer.html", context)


# --- what a signal spent -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpendRow:
    consumption: CreditConsumption
    pool: str | None
    entry: CreditEntry | None
    reversal: CreditEntry | None

    @property
    def overage_amount(self) -> Decimal | None:
        """What the overage costs in minor units of the order's currency, when the pricing gave a price."""
        c = self.consumption
        if not c.overage or c.overage_unit_price is None:
            return None
        return c.overage * c.overage_unit_price

    @property
    def money_currency(self) -> str:
        c = self.consumption
        return c.order.currency if c.order_id else c.customer.default_currency


def signal_spend_rows(*, organization: Organization, signal_id: int) -> list[SpendRow]:
    """The signal's credit consumption (one per currency it burned), with its pool, its spend entry and the
    adjustment that gave it back, if any."""
    consumptions = list(
        CreditConsumption.objects.filter(organization=organization, signal_id=signal_id)
        .select_related("credits_currency", "pool__seat__assignee", "order", "customer")
        .order_by("pk")
    )
    entries = {
        entry.consumption_id: entry
        for entry in CreditEntry.objects.filter(
            organization=organization,
            consumption__in=[c.pk for c in consumptions],
            kind=CreditEntry.Kind.SPEND,
        ).select_related("reversed_by")
    }
    rows = []
    for consumption in consumptions:
        entry = entries.get(consumption.pk)
        # A pending consumption has no pool yet: name the one it will be spent from when credits arrive.
        pool = consumption.pool or credit_pool_for_consumption(
            organization_id=consumption.organization_id,
            customer_id=consumption.customer_id,
            credits_currency_id=consumption.credits_currency_id,
            external_user_id=consumption.external_user_id,
        )
        rows.append(
            SpendRow(
                consumption=consumption,
                pool=pool_label(pool) if pool is not None else None,
                entry=entry,
                reversal=getattr(entry, "reversed_by", None) if entry is not None else None,
            )
        )
    return rows


@dashboard_view
def signal_spend_view(request: HttpRequest, signal_id: str) -> HttpResponse:
    """What one signal spent: its usage records (rating) and its credit consumption (the ledger). The signal
    page loads it with htmx; without htmx it is a small page of its own."""
    signal = signal_get(organization=request.organization, signal_id=signal_id)
    context = {
        "signal": signal,
        "records": list(usage_records_for_signal(organization=request.organization, signal_id=signal.pk)),
        "spends": signal_spend_rows(organization=request.organization, signal_id=signal.pk),
    }
    template = "credits/_signal_spend.html" if wants_partial(request) else "credits/signal_spend.html"
    return vary_on_htmx(render(request, template, context))
