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

    def plan_changed(self, subscription, *, old_terms, new_terms, at, credit_old, event) -> None:
        from .services import invoice_plan_change

        # in the change's transaction: the usage it bills is marked billed with it
        invoice_plan_change(
            subscription,
            old_terms=old_terms,
            new_terms=new_terms,
            at=at,
            credit_old=credit_old,
            event=event,
        )

    def close_ended_periods(self, subscription) -> None:
        from .services import close_ended_periods

        close_ended_periods(subscription.pk)

    def subscription_canceled(self, subscription, *, old_terms, at) -> None:
        from .services import invoice_cancellation

        invoice_cancellation(subscription, old_terms=old_terms, at=at)

    def unpaid_ended(self, subscription, *, at) -> None:
        from .services import invoice_unpaid_end

        invoice_unpaid_end(subscription, at=at)

    def unpaid_recovered(self, subscription, *, at) -> None:
        from .services import invoice_reactivation

        invoice_reactivation(subscription, at=at)
