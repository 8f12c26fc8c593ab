from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "apps.subscriptions"
    label = "subscriptions"
    verbose_name = "Plans and subscriptions"

    def ready(self):
        from apps.catalog import console_views, selectors, views

        from . import selectors as own_selectors
        from . import views as own_views

        views.api_page_sections.append(own_views.pricing_section)
        selectors.listing_annotators.append(own_selectors.annotate_subscriber_count)
        console_views.provider_api_tabs.extend(
            [
                ("Plans", "subscriptions:provider_plans"),
                ("Subscribers", "subscriptions:provider_subscribers"),
            ]
        )
