"""News billing gives to higher apps (payouts, webhooks), sent after the transaction
commits: `invoice_paid(invoice)`, `invoice_refunded(invoice, refund)`."""

import django.dispatch

invoice_paid = django.dispatch.Signal()
invoice_refunded = django.dispatch.Signal()
invoice_issued = django.dispatch.Signal()
# `dispute_changed(dispute)`: a dispute was opened or closed (won or lost)
dispute_changed = django.dispatch.Signal()
