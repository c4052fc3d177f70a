from django.apps import AppConfig


class CreditsConfig(AppConfig):
    name = "apps.credits"

    def ready(self) -> None:
        # Orders and rating sit below credits: they announce what happened, credits acts on it.
        from apps.credits.services import credit_consume_usage, credit_grants_on_activation
        from apps.orders.services import order_activated
        from apps.rating.services import usage_recorded

        order_activated.connect(credit_grants_on_activation)
        usage_recorded.connect(credit_consume_usage)
