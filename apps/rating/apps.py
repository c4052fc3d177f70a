from django.apps import AppConfig


class RatingConfig(AppConfig):
    name = "apps.rating"

    def ready(self) -> None:
        # Signals sits below rating: it announces each committed ingest, and rating enqueues itself.
        from apps.rating.tasks import enqueue_rating
        from apps.signals.services import signals_ingested

        signals_ingested.connect(enqueue_rating)
