from django.apps import AppConfig
from django.apps import apps as django_apps


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        """Listen to the lower apps' news. Each lower app owns a plain list of listeners
        (DESIGN.md: imports point downward only); lists that do not exist yet are skipped."""
        from importlib import import_module

        from . import handlers

        hooks = [
            ("apps.subscriptions", "services", "subscription_listeners", "on_subscription_event"),
            ("apps.billing", "alerts", "alert_listeners", "on_usage_alert"),
            ("apps.payouts", "services", "payout_listeners", "on_payout_event"),
        ]
        for app, module, list_name, handler in hooks:
            if django_apps.is_installed(app):
                _listen(import_module(f"{app}.{module}"), list_name, getattr(handlers, handler))


def _listen(module, list_name: str, listener) -> None:
    listeners = getattr(module, list_name, None)
    if listeners is not None and listener not in listeners:
        listeners.append(listener)
