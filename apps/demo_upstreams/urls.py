"""The four demo APIs, one prefix each; mounted at demo-upstreams/ by the project URLconf.

Paths have no trailing slash: the gateway appends the consumer's path to the upstream URL as is.
"""

from django.urls import path, re_path

from . import finance, llm, qrcodes, textstats
from .jsonio import not_found

app_name = "demo_upstreams"

urlpatterns = [
    path("textstats/analyze", textstats.analyze, name="textstats-analyze"),
    path("textstats/slugify", textstats.slugify, name="textstats-slugify"),
    path("textstats/health", textstats.health, name="textstats-health"),
    path("finance/iban/<str:iban>", finance.iban, name="finance-iban"),
    path("finance/card/<str:number>", finance.card, name="finance-card"),
    path("finance/vat/<str:vat>", finance.vat, name="finance-vat"),
    path("qr/qr", qrcodes.qr_code, name="qr"),
    path("llm/chat/completions", llm.chat_completions, name="llm-chat-completions"),
    # Anything else under the mount answers in the same JSON error shape, not an HTML page.
    re_path(r"^(?P<unmatched>.*)$", not_found, name="not-found"),
]
