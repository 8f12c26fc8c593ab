"""`python manage.py flush_usage [--dry-run]`: what beat's `flush_usage` does, now."""

from apps.core.management.operator import OperatorCommand
from apps.metering import selectors, tasks


class Command(OperatorCommand):
    help = (
        "Move recorded usage (Redis stream and database queue) into the usage aggregates "
        "now, exactly once. Idempotent: a second run finds nothing to flush."
    )

    def handle_run(self, *, dry_run: bool, **options) -> None:
        if dry_run:
            pending = selectors.pending_events()
            detail = ", ".join(f"{count} in {source}" for source, count in pending.items())
            self.say(f"Would flush {sum(pending.values())} usage event(s) ({detail}).")
            return
        flushed = tasks.flush_usage()
        self.say(f"Flushed {flushed} usage event(s).")
