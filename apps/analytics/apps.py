from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "apps.analytics"
    label = "analytics"
    verbose_name = "Analytics"

    def ready(self):
        from apps.catalog import views as catalog_views
        from apps.subscriptions import views as subscription_views

        from . import panels, quality

        subscription_views.subscription_panels.append(panels.usage_panel)
        catalog_views.api_page_sections.append(panels.try_it_section)
        catalog_views.api_page_sections.append(quality.quality_section)
