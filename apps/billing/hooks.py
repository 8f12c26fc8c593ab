"""What billing does when subscriptions change (registered with the subscriptions app)."""

from django.db import transaction

from apps.subscriptions.services import CollectionHooks

from .collection import collector


class BillingHooks(CollectionHooks):
    def card_required(self, subscription) -> bool:
        return collector().card_required(subscription)

    def checkout_url(self, subscription) -> str | None:
        return collector().checkout_url(subscription)

    def invoices_manually(self, subscription) -> bool:
        return collector().method == "manual"

    def subscription_started(self, subscription) -> None:
        from .services import invoice_first_period

        transaction.on_commit(lambda: invoice_first_period(subscription))

    def plan_upgraded(self, subscription, old_plan, at) -> None:
        from .services import invoice_upgrade

        transaction.on_commit(lambda: invoice_upgrade(subscription, old_plan, at))
