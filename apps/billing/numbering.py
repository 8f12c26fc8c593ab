"""Gapless, human invoice numbers: TG-2026-000042. Taken inside the issuing transaction
with the year's row locked, so a rolled-back issue leaves no hole."""

from django.conf import settings

from .models import InvoiceSequence


def next_invoice_number(year: int) -> str:
    sequence, _ = InvoiceSequence.objects.get_or_create(year=year)
    sequence = InvoiceSequence.objects.select_for_update().get(pk=sequence.pk)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    return f"{settings.INVOICE_NUMBER_PREFIX}-{year}-{sequence.last_number:06d}"
