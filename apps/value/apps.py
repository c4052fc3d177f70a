from django.apps import AppConfig


class ValueConfig(AppConfig):
    name = "apps.value"

    def ready(self) -> None:
        # Rating sits below value: it announces each rated batch, and value computes those signals' value.
        from apps.rating.services import signals_rated
        from apps.value.tasks import enqueue_delivery

        signals_rated.connect(enqueue_delivery)
