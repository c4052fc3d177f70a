from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "apps.billing"

    def ready(self) -> None:
        # Orders sit below billing: an activation announces itself, billing builds what is due (the first
        # period's fees in advance) once it commits. The schedule covers every later period.
        from apps.billing.services import invoice_generation_on_activation
        from apps.orders.services import order_activated

        order_activated.connect(invoice_generation_on_activation)
