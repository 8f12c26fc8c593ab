from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "apps.metering"
    label = "metering"
    verbose_name = "Metering"

    def ready(self):
        from apps.catalog import services as catalog_services

        from .selectors import endpoints_with_usage

        catalog_services.endpoint_usage_checkers.append(endpoints_with_usage)
