"""The audit log writer. Services call `audit_record` inside their transaction, so an entry
exists exactly when the change it describes was committed."""

from typing import Any

from django.db import models

from .models import AuditLog


def _target_fields(target: models.Model | None) -> dict[str, str]:
    if target is None:
        return {"target_type": "", "target_id": "", "target_repr": ""}
    target_id = getattr(target, "public_id", None) or str(target.pk)
    return {
        "target_type": target._meta.label_lower,
        "target_id": str(target_id),
        "target_repr": str(target)[:200],
    }


def audit_record(
    *,
    action: str,
    actor=None,
    organization=None,
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
) -> AuditLog:
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditLog.objects.create(
        action=action,
        actor=actor,
        organization=organization,
        data=data or {},
        **_target_fields(target),
    )
