from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "apps.payouts"
    label = "payouts"
    verbose_name = "Payouts"

    def ready(self):
        from . import checks, receivers, webhooks  # noqa: F401 (checks registers itself)

        receivers.connect()
        webhooks.connect()
