from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "apps.payouts"
    label = "payouts"
    verbose_name = "Payouts"

    def ready(self):
        from . import receivers, webhooks

        receivers.connect()
        webhooks.connect()
