from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "apps.keys"
    label = "keys"
    verbose_name = "API keys"

    def ready(self):
        from apps.subscriptions import views as subscription_views

        from . import panels

        # first on the page: without a key nothing else on it can happen
        subscription_views.subscription_panels.insert(0, panels.first_key_panel)
