"""`python manage.py run_payouts [--period YYYY-MM] [--dry-run]`: the monthly payout run
(beat does it on the 1st), now."""

from django.core.management.base import CommandError

from apps.core.errors import ServiceError
from apps.core.management.operator import OperatorCommand, rolled_back
from apps.core.money import format_money
from apps.payouts import services
from apps.payouts.models import PayoutMethod


class Command(OperatorCommand):
    help = (
        "Make this month's (or --period's) payout for every provider whose balance reaches "
        "PAYOUT_MINIMUM: a Stripe transfer, or a statement staff pay by hand. Idempotent: "
        "a provider gets one payout per period however often this runs."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--period", metavar="YYYY-MM", help="The run's month (default: now).")

    def handle_run(self, *, dry_run: bool, period=None, **options) -> None:
        try:
            if dry_run:
                with rolled_back():
                    report = services.run_payouts(period)
            else:
                report = services.run_payouts(period)
        except ServiceError as error:
            raise CommandError(error.message) from error
        made = "Would make" if dry_run else "Made"
        manual = [p for p in report.created if p.method == PayoutMethod.MANUAL]
        total = sum((p.amount for p in report.created), start=0)
        self.say(
            f"{made} {len(report.created)} payout(s) for {report.period}, "
            f"{format_money(total)} in all ({len(manual)} to pay by hand, "
            f"{len(report.created) - len(manual)} by Stripe transfer)."
        )
        for payout in report.created:
            self.say(
                f"  {payout.organization.name}  {format_money(payout.amount, payout.currency)}"
                f"  {payout.get_method_display().lower()}"
                + ("  (no payout details yet)" if payout in report.without_details else "")
            )
        if report.resent:
            resend = "Would re-send" if dry_run else "Re-sent"
            self.say(f"{resend} {len(report.resent)} Stripe transfer(s) stuck pending.")
        if report.failed_organization_ids:
            raise CommandError(
                f"{len(report.failed_organization_ids)} provider(s) failed; see the log."
            )
