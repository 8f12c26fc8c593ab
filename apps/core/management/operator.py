"""What the operator's commands (flush_usage, close_periods, run_payouts, retry_collection)
share: a `--dry-run` flag, and a way to run the real services without keeping anything."""

from contextlib import contextmanager

from django.core.management.base import BaseCommand
from django.db import transaction


class OperatorCommand(BaseCommand):
    """A thin wrapper over a job's service: `handle_run(dry_run=...)` does the work and
    `self.say(...)` prints what was done (counts of real work, not of attempts)."""

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Say what would be done; change nothing.",
        )

    def handle(self, *args, **options):
        dry_run = options.pop("dry_run")
        self.handle_run(dry_run=dry_run, **options)
        if dry_run:
            self.say("Dry run: nothing was changed.")

    def handle_run(self, *, dry_run: bool, **options) -> None:
        raise NotImplementedError

    def say(self, text: str) -> None:
        self.stdout.write(text)


@contextmanager
def rolled_back():
    """Runs the block in a transaction that is always rolled back: the services run for
    real (their counts are exact) and nothing they wrote is kept. Their after-commit work
    (emails, Celery tasks, Stripe calls) is dropped with the transaction, which is why
    services must do network I/O only after the commit (STYLE.md)."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)
