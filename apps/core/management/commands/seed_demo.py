"""`python manage.py seed_demo [--json]`: idempotent demo data.

Each app that has demo data provides `demo.py` with `seed(demo: dict) -> None`; they run in
INSTALLED_APPS order (lower apps first), sharing one dict in which they leave what later apps
and the JSON output need (users, organizations, tokens, keys)."""

import json
from importlib import import_module
from importlib.util import find_spec

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = "Create (or refresh) demo users, organizations, APIs, plans, keys and invoices."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print logins and keys as JSON.")

    def handle(self, *args, **options):
        demo: dict = {}
        with transaction.atomic():
            for config in apps.get_app_configs():
                if not config.name.startswith("apps.") or not find_spec(f"{config.name}.demo"):
                    continue
                import_module(f"{config.name}.demo").seed(demo)
        output = {
            key: demo[key]
            for key in ("staff", "provider", "consumer", "api_key", "api_slug")
            if key in demo
        }
        if options["json"]:
            self.stdout.write(json.dumps(output, indent=2))
            return
        self._print_human(output)

    def _print_human(self, output: dict) -> None:
        self.stdout.write(self.style.SUCCESS("Demo data is ready."))
        for role in ("staff", "provider", "consumer"):
            if role in output:
                person = output[role]
                self.stdout.write(
                    f"  {role:<9} {person['email']} / {person['password']}"
                    f"   token {person['token']}"
                )
        if "api_key" in output:
            self.stdout.write(
                f"  API key   {output['api_key']}  (subscribed to {output['api_slug']})"
            )
