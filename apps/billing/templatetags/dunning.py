"""The console banner of an organization whose payment failed: `{% dunning_notice %}`."""

from django import template

from ..dunning import notice_for

register = template.Library()


@register.inclusion_tag("console/_dunning.html", takes_context=True)
def dunning_notice(context) -> dict:
    organization = context.get("active_organization")
    return {
        "notice": notice_for(organization),
        "can": context.get("can") or {},
        "PAYMENT_GRACE_DAYS": context.get("PAYMENT_GRACE_DAYS"),
    }
