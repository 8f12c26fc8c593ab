from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "apps.catalog"
    label = "catalog"
    verbose_name = "Catalog and moderation"

    def ready(self):
        from apps.accounts.services import suspension_listeners

        from .services import provider_suspension_changed

        suspension_listeners.append(provider_suspension_changed)
