"""`python manage.py close_periods [--subscription sub_…] [--dry-run]`: what beat's
`close_due_periods` does, now: flush usage, then invoice every ended billing period."""

from django.core.management.base import CommandError

from apps.billing import runs
from apps.core.management.operator import OperatorCommand, rolled_back
from apps.core.money import format_money
from apps.metering import selectors as metering_selectors
from apps.metering import tasks as metering_tasks
from apps.subscriptions.models import Subscription


class Command(OperatorCommand):
    help = (
        "Flush usage, then close every billing period that has ended (or only the given "
        "subscription's): rate it, issue its invoice, roll the subscription on. Idempotent: "
        "a second run finds nothing due."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--subscription", metavar="PUBLIC_ID", help="Only this subscription (sub_…)."
        )

    def handle_run(self, *, dry_run: bool, subscription=None, **options) -> None:
        target = only = None
        if subscription:
            target = Subscription.objects.filter(public_id=subscription).first()
            if target is None:
                raise CommandError(f"No subscription {subscription}.")
            only = [target.pk]
        if dry_run:
            pending = sum(metering_selectors.pending_events().values())
            self.say(f"Would flush {pending} usage event(s) first.")
            with rolled_back():
                report = runs.close_due_periods(subscription_ids=only)
        else:
            self.say(f"Flushed {metering_tasks.flush_usage()} usage event(s).")
            report = runs.close_due_periods(subscription_ids=only)
        self._report(report, dry_run, target)

    def _report(self, report: runs.CloseReport, dry_run: bool, subscription) -> None:
        self.say(report.summary(dry_run=dry_run))
        for invoice in report.invoices:
            number = "(number on issue)" if dry_run else invoice.number
            self.say(
                f"  {number}  {invoice.organization.name}  "
                f"{format_money(invoice.total, invoice.currency)}"
            )
        if subscription is not None and not report.periods_closed and not report.failed:
            self.say(
                f"{subscription.public_id}: its period ends "
                f"{subscription.current_period_end:%Y-%m-%d %H:%M} UTC; nothing to close."
            )
        if report.still_due:
            self.say(f"Still due (run again): {', '.join(report.still_due)}")
        if report.failed:
            raise CommandError(f"Failed, see the log: {', '.join(report.failed)}")
