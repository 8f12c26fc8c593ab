from django.apps import AppConfig


class DemoUpstreamsConfig(AppConfig):
    name = "apps.demo_upstreams"
    label = "demo_upstreams"
    verbose_name = "Demo upstreams"
