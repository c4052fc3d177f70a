from django.apps import AppConfig


class MetersConfig(AppConfig):
    name = "apps.meters"

    def ready(self) -> None:
        # Catalog sits below meters, so it learns how to check a pricing line's `meterId` from here.
        from apps.catalog.services import pricing_reference_check_register
        from apps.meters.services import meter_pricing_reference_check

        pricing_reference_check_register(key="meter_id", check=meter_pricing_reference_check)
