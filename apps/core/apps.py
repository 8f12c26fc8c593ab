from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self):
        from .logging import protect_server_logs

        protect_server_logs()  # the ASGI server set up its log handlers before Django
