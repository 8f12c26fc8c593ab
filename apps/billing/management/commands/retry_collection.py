"""`python manage.py retry_collection [--invoice NUMBER] [--dry-run]`: collect open
invoices whose card payment never reached Stripe."""

from django.core.management.base import CommandError

from apps.billing import runs
from apps.billing.models import Invoice
from apps.core.management.operator import OperatorCommand
from apps.core.money import format_money


class Command(OperatorCommand):
    help = (
        "Send open card invoices that never reached Stripe (its calls failed until the task "
        "gave up) to Stripe now, which charges the saved card. Idempotent: sent invoices are "
        "not sent again, and Stripe's idempotency keys make a repeat create nothing."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--invoice", metavar="NUMBER_OR_ID", help="Only this invoice (TG-… or in_…)."
        )

    def handle_run(self, *, dry_run: bool, invoice=None, **options) -> None:
        invoices = Invoice.objects.all()
        if invoice:
            invoices = invoices.filter(number=invoice) | invoices.filter(public_id=invoice)
            if not invoices.exists():
                raise CommandError(f"No invoice {invoice}.")
        report = runs.retry_collection(invoices, dry_run=dry_run)
        self.say(report.summary(dry_run=dry_run))
        for item in report.sent:
            self.say(
                f"  {item.number}  {item.organization.name}  "
                f"{format_money(item.total, item.currency)}"
            )
        if report.failed:
            raise CommandError(f"Stripe refused or failed: {', '.join(report.failed)}")
