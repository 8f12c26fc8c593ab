from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "apps.billing"
    label = "billing"
    verbose_name = "Billing"

    def ready(self):
        from apps.metering import services as metering_services
        from apps.subscriptions import services as subscription_services
        from apps.subscriptions import views as subscription_views

        from . import alerts, panels, services, stripe_webhooks
        from .hooks import BillingHooks

        subscription_services.set_collection_hooks(BillingHooks())
        metering_services.usage_listeners.append(alerts.check_after_flush)
        subscription_views.subscription_panels.append(panels.billing_panel)
        subscription_views.plan_change_preview = services.plan_change_preview
        stripe_webhooks.connect()
