from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self):
        from django.apps import apps
        from django.db.models.signals import post_migrate

        from .logging import protect_server_logs
        from .public_urls import sync_site

        protect_server_logs()  # the ASGI server set up its log handlers before Django
        post_migrate.connect(sync_site, sender=apps.get_app_config("sites"))
