from django.urls import path

from apps.billing import api, views
from apps.billing.stripe_api import stripe_api_urlpatterns, stripe_dashboard_urlpatterns
from apps.common.api import route

app_name = "billing"

# Dashboard pages (config/urls.py mounts them under `billing/`).
urlpatterns = [
    path("invoices/", views.invoice_list_view, name="invoices"),
    path("invoices/<str:invoice_id>/", views.invoice_detail_view, name="invoice"),
    path("invoices/<str:invoice_id>/post/", views.invoice_post_view, name="invoice_post"),
    path("invoices/<str:invoice_id>/void/", views.invoice_void_view, name="invoice_void"),
    path("invoices/<str:invoice_id>/reissue/", views.invoice_reissue_view, name="invoice_reissue"),
    path("invoices/<str:invoice_id>/pdf/", views.invoice_pdf_view, name="invoice_pdf"),
    path("payments/", views.payment_list_view, name="payments"),
    path("settings/", views.billing_settings_view, name="settings"),
]

# The public PDF link customers are sent (config/urls.py mounts it under `invoices/`; no login).
public_urlpatterns = [
    path("<str:organization_id>/<str:token>.pdf", views.invoice_public_pdf_view, name="invoice_public_pdf"),
]

# /api/v2 routes (config/api_urls.py gathers them). Literal segments before `{id}` parameters.
api_urlpatterns = [
    route("invoices/", api.InvoiceCollectionApi.as_view()),
    route("invoices/{invoice_id}", api.InvoiceItemApi.as_view()),
    route("invoices/{invoice_id}/lines", api.InvoiceLinesApi.as_view()),
    route("invoices/{invoice_id}/pdf", api.InvoicePdfApi.as_view()),
    route("invoices/{invoice_id}/post", api.InvoicePostApi.as_view()),
    route("invoices/{invoice_id}/void", api.InvoiceVoidApi.as_view()),
    route("invoices/{invoice_id}/reissue", api.InvoiceReissueApi.as_view()),
    route("orders/{order_id}/invoices/generate", api.OrderInvoicesGenerateApi.as_view()),
    route("payments/", api.PaymentCollectionApi.as_view()),
    route("payments/{payment_id}", api.PaymentItemApi.as_view()),
    route("payment-allocations/", api.PaymentAllocationCollectionApi.as_view()),
]
# Stripe: payment methods, the webhook inbox, charges (apps/billing/stripe_api.py).
urlpatterns += stripe_dashboard_urlpatterns
api_urlpatterns += stripe_api_urlpatterns
