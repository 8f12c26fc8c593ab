"""Writes for outgoing webhooks: a provider's endpoints, `emit` for news from the lower
apps, and delivery attempts with retries.

A delivery is sent once right after the commit that created it (`deliver` task), then by the
`retry_due_deliveries` beat job when its `next_attempt_at` passes. Every attempt is claimed
with a conditional update on `attempt_count`, so two workers never send the same attempt."""

import json
import logging
import time
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Notification, Organization, User
from apps.accounts.notifications import notify
from apps.accounts.services import require_capability
from apps.core.audit import audit_record
from apps.core.errors import Conflict, ServiceError
from apps.core.ids import make_public_id
from apps.core.url_safety import UnsafeUpstream, check_upstream_url

from . import payloads, transport
from .models import (
    SUBSCRIBABLE_EVENT_TYPES,
    DeliveryStatus,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    new_signing_secret,
)

logger = logging.getLogger(__name__)

MAX_ENDPOINTS = 20
MAX_URL_BYTES = 2000  # with the organization, well inside PostgreSQL's btree row limit
# Test events and replays go where a person points them: a cap keeps Tollgate from being
# used to flood somebody else's server.
MANUAL_SENDS_PER_MINUTE = 10
MAX_ATTEMPTS = 7
# The wait after failed attempt n (1-based); the 7th failure gives up (~34.5 hours in all).
RETRY_DELAYS = [
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=8),
    timedelta(hours=24),
]
# A claimed attempt whose worker died is retried after this; longer than any send can take.
CLAIM_LEASE = timedelta(minutes=2)
ROTATION_GRACE = timedelta(hours=24)
GAVE_UP_NOTICE_EVERY = timedelta(hours=24)


# --- Endpoints --------------------------------------------------------------------------
def clean_url(url: str) -> str:
    """The URL as given (trimmed), or ServiceError. HTTPS only, unless private addresses are
    allowed (development and tests); never an address inside our network."""
    url = (url or "").strip()
    allow_private = settings.UPSTREAM_ALLOW_PRIVATE
    parts = urlsplit(url)
    if not url:
        raise ServiceError("Enter the URL that should receive events.", field="url")
    if len(url.encode()) > MAX_URL_BYTES:
        raise ServiceError(f"Keep the URL under {MAX_URL_BYTES} characters.", field="url")
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise ServiceError("Use an https:// URL.", field="url")
    if parts.username or parts.password:
        raise ServiceError(
            "Leave credentials out of the URL; check the Tollgate-Signature header instead.",
            field="url",
        )
    if parts.fragment:
        raise ServiceError("The URL cannot carry a #fragment.", field="url")
    # url_safety checks a base URL (no query); a webhook URL may carry one, e.g. ?source=tg
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    try:
        check_upstream_url(base, allow_private=allow_private)
    except UnsafeUpstream as error:
        message = error.message.replace("upstreams must", "webhook endpoints must")
        raise ServiceError(message, code=error.code, field="url") from error
    return url


def clean_event_types(event_types) -> list[str]:
    """Known, subscribable types in their canonical order; empty means every type."""
    wanted = {str(value) for value in event_types or []}
    unknown = wanted - set(SUBSCRIBABLE_EVENT_TYPES)
    if unknown:
        raise ServiceError(
            f"Unknown event type: {', '.join(sorted(unknown))}.", field="event_types"
        )
    return [value.value for value in SUBSCRIBABLE_EVENT_TYPES if value in wanted]


def endpoint_create(
    *,
    actor: User,
    organization: Organization,
    url: str,
    event_types=(),
    description: str = "",
) -> WebhookEndpoint:
    require_capability(actor, organization, "develop")
    url = clean_url(url)  # resolves the host: before the transaction, not inside it
    event_types = clean_event_types(event_types)
    with transaction.atomic():
        # lock the organization so two requests cannot both pass the limit check
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        endpoints = WebhookEndpoint.objects.filter(organization=organization)
        if endpoints.count() >= MAX_ENDPOINTS:
            raise Conflict(f"An organization can have at most {MAX_ENDPOINTS} webhook endpoints.")
        _refuse_duplicate(endpoints, url)
        endpoint = WebhookEndpoint.objects.create(
            organization=organization,
            url=url,
            event_types=event_types,
            description=description.strip()[:200],
            created_by=actor,
        )
        _audit("created", actor, endpoint, url=url, event_types=event_types)
    return endpoint


def _refuse_duplicate(endpoints, url: str, exclude_pk: int | None = None) -> None:
    if endpoints.filter(url=url).exclude(pk=exclude_pk).exists():
        raise Conflict("An endpoint with this URL already exists.", field="url")


def endpoint_update(
    *,
    actor: User,
    endpoint: WebhookEndpoint,
    url: str,
    event_types=(),
    description: str = "",
) -> WebhookEndpoint:
    require_capability(actor, endpoint.organization, "develop")
    url = clean_url(url)
    event_types = clean_event_types(event_types)
    try:
        with transaction.atomic():
            endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
            _refuse_duplicate(endpoint.organization.webhook_endpoints, url, endpoint.pk)
            endpoint.url, endpoint.event_types = url, event_types
            endpoint.description = description.strip()[:200]
            endpoint.save(update_fields=["url", "event_types", "description", "updated_at"])
            _audit("updated", actor, endpoint, url=url, event_types=event_types)
    except IntegrityError as error:  # a concurrent save took the URL between check and write
        raise Conflict("An endpoint with this URL already exists.", field="url") from error
    return endpoint


@transaction.atomic
def endpoint_set_enabled(*, actor: User, endpoint: WebhookEndpoint, enabled: bool):
    """A disabled endpoint receives nothing; its waiting retries fail instead of piling up."""
    require_capability(actor, endpoint.organization, "develop")
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if endpoint.enabled == enabled:
        return endpoint
    endpoint.enabled = enabled
    endpoint.save(update_fields=["enabled", "updated_at"])
    _audit("enabled" if enabled else "disabled", actor, endpoint)
    return endpoint


@transaction.atomic
def endpoint_delete(*, actor: User, endpoint: WebhookEndpoint) -> None:
    require_capability(actor, endpoint.organization, "develop")
    _audit("deleted", actor, endpoint, url=endpoint.url)
    endpoint.delete()


@transaction.atomic
def endpoint_rotate_secret(
    *, actor: User, endpoint: WebhookEndpoint, keep_old_for: timedelta | None = ROTATION_GRACE
) -> WebhookEndpoint:
    """A new signing secret. With `keep_old_for`, requests carry a second `v1` signature
    made with the old secret until then, so receivers can switch without failing."""
    require_capability(actor, endpoint.organization, "develop")
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if keep_old_for:
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = timezone.now() + keep_old_for
    else:
        endpoint.previous_secret, endpoint.previous_secret_expires_at = "", None
    endpoint.secret = new_signing_secret()
    endpoint.save(
        update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"]
    )
    hours = int(keep_old_for.total_seconds() // 3600) if keep_old_for else 0
    _audit("secret_rotated", actor, endpoint, old_secret_valid_hours=hours)
    return endpoint


def endpoint_send_test(*, actor: User, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A `webhook.test` event to this endpoint only, whatever types it subscribes to."""
    require_capability(actor, endpoint.organization, "develop")
    _require_enabled(endpoint, "send it a test event")
    _limit_manual_sends(endpoint)
    with transaction.atomic():
        event = _create_event(
            endpoint.organization, EventType.WEBHOOK_TEST, payloads.webhook_test_data(endpoint)
        )
        delivery = _create_delivery(endpoint, event)
        _audit("test_sent", actor, endpoint, event=event.public_id)
    return delivery


def _require_enabled(endpoint: WebhookEndpoint, doing: str) -> None:
    if not endpoint.enabled:
        raise Conflict(f"The endpoint is disabled; enable it to {doing}.")


def _limit_manual_sends(endpoint: WebhookEndpoint) -> None:
    recent = WebhookDelivery.objects.filter(
        Q(replay_of__isnull=False) | Q(event__type=EventType.WEBHOOK_TEST),
        endpoint=endpoint,
        created_at__gte=timezone.now() - timedelta(minutes=1),
    )
    if recent.count() >= MANUAL_SENDS_PER_MINUTE:
        raise ServiceError(
            f"At most {MANUAL_SENDS_PER_MINUTE} test events and replays a minute per endpoint; "
            "try again in a minute.",
            code="rate_limited",
            status=429,
        )


def _audit(what: str, actor, endpoint: WebhookEndpoint, **data) -> None:
    audit_record(
        action=f"webhook_endpoint.{what}",
        actor=actor,
        organization=endpoint.organization,
        target=endpoint,
        data=data,
    )


# --- Events -----------------------------------------------------------------------------
def emit(*, organization: Organization, type: str, data: dict) -> WebhookEvent | None:
    """Record an event and queue one delivery per enabled endpoint that wants it (after the
    commit). Returns None, storing nothing, when no endpoint wants it. Call it inside the
    transaction that makes the change, so the event exists exactly when the change does."""
    if type not in EventType.values:
        raise ValueError(f"Unknown webhook event type {type!r}.")
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(organization=organization, enabled=True)
        if endpoint.wants(type)
    ]
    if not endpoints:
        return None
    with transaction.atomic():
        event = _create_event(organization, type, data)
        for endpoint in endpoints:
            _create_delivery(endpoint, event)
    return event


def _create_event(organization: Organization, type: str, data: dict) -> WebhookEvent:
    created = timezone.now().replace(microsecond=0)
    public_id = make_public_id("evt")
    payload = {
        "id": public_id,
        "type": type,
        "created": payloads.iso(created),
        # through JSON once, so Decimals and datetimes look as they will on the wire
        "data": json.loads(json.dumps(data, cls=DjangoJSONEncoder)),
    }
    return WebhookEvent.objects.create(
        public_id=public_id,
        organization=organization,
        type=type,
        payload=payload,
        created_at=created,
    )


def _create_delivery(
    endpoint: WebhookEndpoint, event: WebhookEvent, replay_of: WebhookDelivery | None = None
) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event=event, replay_of=replay_of, next_attempt_at=timezone.now()
    )
    from .tasks import deliver

    deliver.delay_on_commit(delivery.pk)
    return delivery


def delivery_replay(*, actor: User, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery's event again, as a new delivery to the same endpoint."""
    endpoint = delivery.endpoint
    require_capability(actor, endpoint.organization, "develop")
    _require_enabled(endpoint, "replay deliveries to it")
    _limit_manual_sends(endpoint)
    with transaction.atomic():
        replay = _create_delivery(endpoint, delivery.event, replay_of=delivery)
        audit_record(
            action="webhook_delivery.replayed",
            actor=actor,
            organization=endpoint.organization,
            target=replay,
            data={"replay_of": delivery.public_id, "event": delivery.event.public_id},
        )
    return replay


# --- Delivering -------------------------------------------------------------------------
def due_delivery_ids(*, limit: int = 500) -> list[int]:
    """Pending deliveries whose time has come: retries, and first attempts whose task was
    lost (a broker outage) — every delivery is due from the moment it is created."""
    return list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """Send the next attempt of a delivery if it is due and this worker wins the claim.
    Returns the updated delivery, or None when there was nothing to do."""
    delivery = (
        WebhookDelivery.objects.select_related("endpoint__organization", "event")
        .filter(pk=delivery_id)
        .first()
    )
    now = timezone.now()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None
    if delivery.next_attempt_at and delivery.next_attempt_at > now:
        return None
    if not delivery.endpoint.enabled:
        _fail_unsent(delivery, "Not sent: the endpoint is disabled.")
        return None
    attempt = delivery.attempt_count + 1
    if attempt > MAX_ATTEMPTS:  # the last attempt's worker died before recording it
        _fail_unsent(delivery, "Gave up: the last attempt never finished.")
        return None
    if not _claim(delivery, attempt, now):
        return None
    outcome = _send(delivery)
    return _record(delivery, attempt, outcome)


def _claim(delivery: WebhookDelivery, attempt: int, now) -> bool:
    """Only the worker whose conditional update moves attempt_count from n to n+1 sends
    attempt n+1; the lease makes the beat retry it should that worker die mid-send."""
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery.pk, status=DeliveryStatus.PENDING, attempt_count=attempt - 1
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(attempt_count=attempt, next_attempt_at=now + CLAIM_LEASE, last_attempt_at=now)
    )
    return claimed == 1


def _fail_unsent(delivery: WebhookDelivery, reason: str) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, next_attempt_at=None, last_error=reason
    )


def _send(delivery: WebhookDelivery) -> transport.Outcome:
    endpoint, event = delivery.endpoint, delivery.event
    allow_private = settings.UPSTREAM_ALLOW_PRIVATE
    try:  # the saved URL is checked again: settings and DNS may have changed since
        clean_url(endpoint.url)
    except ServiceError as error:
        return transport.Outcome(error=f"Refused: {error.message}"[:300])
    body = json.dumps(event.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": transport.USER_AGENT,
        "Tollgate-Event-Id": event.public_id,
        "Tollgate-Event-Type": event.type,
        "Tollgate-Delivery-Id": delivery.public_id,
        "Tollgate-Signature": transport.signature_header(
            endpoint.signing_secrets(), timestamp, body
        ),
    }
    timeout_s = float(getattr(settings, "WEBHOOK_TIMEOUT_S", 10))
    return transport.post(
        endpoint.url, body, headers, timeout_s=timeout_s, allow_private=allow_private
    )


def _record(delivery: WebhookDelivery, attempt: int, outcome: transport.Outcome):
    finished = timezone.now()
    fields = {
        "last_status_code": outcome.status_code,
        "last_response_body": outcome.body_excerpt,
        "last_error": outcome.error[:300],
        "duration_ms": outcome.duration_ms,
    }
    gave_up = False
    if outcome.ok:
        fields.update(status=DeliveryStatus.SUCCEEDED, delivered_at=finished, next_attempt_at=None)
    elif attempt >= MAX_ATTEMPTS:
        fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
        gave_up = True
    else:
        fields["next_attempt_at"] = finished + RETRY_DELAYS[attempt - 1]
    if not outcome.ok and not outcome.error:
        fields["last_error"] = f"The endpoint answered {outcome.status_code}, not 2xx."
    # only if still ours: a send slower than the lease may have been claimed again meanwhile
    updated = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, attempt_count=attempt
    ).update(**fields)
    if updated and gave_up:
        _tell_gave_up(delivery, fields["last_error"])
    delivery.refresh_from_db()
    return delivery


def _tell_gave_up(delivery: WebhookDelivery, reason: str) -> None:
    """One notice per endpoint a day is enough: an endpoint that is down fails every event.
    The delivery is already recorded as failed; a notice that cannot be made is logged."""
    try:
        with transaction.atomic():
            _notify_gave_up(delivery, reason)
    except Exception:
        logger.exception("could not tell %s about a failed webhook", delivery.endpoint_id)


def _notify_gave_up(delivery: WebhookDelivery, reason: str) -> None:
    endpoint = delivery.endpoint
    url = reverse("webhooks:endpoint", args=[endpoint.public_id])
    recent = Notification.objects.filter(
        organization=endpoint.organization,
        kind="webhook.delivery_failed",
        url=url,
        read_at=None,
        created_at__gte=timezone.now() - GAVE_UP_NOTICE_EVERY,
    )
    if recent.exists():
        return
    notify(
        organization=endpoint.organization,
        kind="webhook.delivery_failed",
        title=f"Webhook deliveries to {endpoint.url[:120]} are failing",
        body=f"{delivery.event.type} ({delivery.event.public_id}) failed {MAX_ATTEMPTS} times "
        f"and will not be retried. Last error: {reason} Fix the endpoint, "
        "then replay the failed deliveries from its log.",
        url=url,
        email_capability=None,
    )


# --- Housekeeping -----------------------------------------------------------------------
def purge_old_events(*, older_than: timedelta | None = None) -> int:
    """Drop events (and their deliveries) past the retention, unless one is still pending."""
    days = int(getattr(settings, "WEBHOOK_RETENTION_DAYS", 30))
    cutoff = timezone.now() - (older_than or timedelta(days=days))
    old = WebhookEvent.objects.filter(created_at__lt=cutoff).exclude(
        deliveries__status=DeliveryStatus.PENDING
    )
    batch = list(old.values_list("pk", flat=True)[:5000])  # a big backlog goes over several runs
    _, deleted = WebhookEvent.objects.filter(pk__in=batch).delete()
    return deleted.get(WebhookEvent._meta.label, 0)
