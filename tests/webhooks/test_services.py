"""Publishing, signing, delivering and retrying webhooks, against a real receiver on loopback."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from standardwebhooks.webhooks import WebhookVerificationError

from apps.webhooks import transport
from apps.webhooks.exceptions import WebhookNotConfigured
from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from apps.webhooks.services import (
    CLAIM_LEASE,
    MAX_ATTEMPTS,
    RETRY_SCHEDULE,
    retry_delay,
    webhook_deliver_due,
    webhook_deliveries_claim,
    webhook_endpoint_update,
    webhook_event_publish,
    webhook_secret_rotate,
    webhook_test_send,
)
from tests.webhooks.conftest import NAME

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def publish(organization, django_capture_on_commit_callbacks):
    """Publish `NAME` in a transaction and run what it enqueued on commit (the first attempt)."""

    def run(data=None, *, org=None, name=NAME, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return webhook_event_publish(
                organization=org or organization, name=name, data=data or {"invoiceId": "inv_1"}, **kwargs
            )

    return run


def _delivery() -> WebhookDelivery:
    return WebhookDelivery.objects.get()


# --- publishing and the first attempt ---------------------------------------------------------------------


def test_publish_sends_a_signed_standard_webhooks_message(organization, secret, receiver, publish):
    with time_machine.travel(T0, tick=False):
        event = publish({"invoiceId": "inv_1", "amount": 4900, "unitPrice": Decimal("0.015")})
        [request] = receiver.requests
        payload = request.verify(secret)  # inside the travel: the timestamp tolerance is against "now"
    assert payload == {
        "type": NAME,
        "timestamp": "2026-03-01T12:00:00.000000Z",
        "data": {"invoiceId": "inv_1", "amount": 4900, "unitPrice": "0.015"},
    }
    assert request.headers["webhook-id"] == f"msg_{event.display_id}"
    assert request.headers["webhook-timestamp"] == str(int(T0.timestamp()))
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("Tally-Webhooks/")
    assert request.path == "/hooks"
    delivery = _delivery()
    assert (delivery.status, delivery.attempt_count, delivery.last_response_code) == ("success", 1, 200)
    assert delivery.next_attempt_at is None
    attempt = delivery.attempts.get()
    assert (attempt.number, attempt.success, attempt.response_code, attempt.response_excerpt) == (
        1,
        True,
        200,
        "ok",
    )
    endpoint = WebhookEndpoint.objects.get(organization=organization, name=NAME)
    assert (endpoint.last_status, endpoint.last_sent_at) == ("success", T0)


def test_an_unknown_name_is_a_programming_error(organization):
    with pytest.raises(ValueError, match="Unknown webhook name"):
        webhook_event_publish(organization=organization, name="invoice.paid", data={})
    assert not WebhookEvent.objects.exists()


def test_a_disabled_webhook_records_the_event_without_a_delivery(organization, receiver, publish):
    webhook_endpoint_update(organization=organization, name=NAME, changes={"url": receiver.url})
    event = publish()
    assert WebhookEvent.objects.get() == event
    assert not WebhookDelivery.objects.exists() and receiver.requests == []


def test_nothing_is_sent_when_the_callers_transaction_rolls_back(
    organization, secret, receiver, django_capture_on_commit_callbacks
):
    def pay_then_fail():
        with transaction.atomic():
            webhook_event_publish(organization=organization, name=NAME, data={})
            raise RuntimeError("the invoice was not paid after all")

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        pay_then_fail()
    assert callbacks == []
    assert not WebhookEvent.objects.exists() and receiver.requests == []


def test_the_same_idempotency_key_records_one_event(
    organization, other_organization, secret, receiver, publish
):
    first = publish(idempotency_key="inv_1:paid")
    assert publish({"other": "data"}, idempotency_key="inv_1:paid") is None
    assert list(WebhookEvent.objects.filter(organization=organization)) == [first]
    assert len(receiver.requests) == 1 and WebhookDelivery.objects.count() == 1
    # keys are per organization
    assert publish(org=other_organization, idempotency_key="inv_1:paid") is not None


def test_large_responses_are_kept_as_a_truncated_excerpt(secret, receiver, publish):
    receiver.answer(500, body=b"x" * 5000)
    publish()
    attempt = WebhookAttempt.objects.get()
    assert attempt.response_code == 500 and 0 < len(attempt.response_excerpt) <= 1024


# --- retries -------------------------------------------------------------------------------------------------


def test_retry_schedule_spans_more_than_a_day_with_growing_jittered_waits():
    shortest = [retry_delay(attempt=n, rand=0.0) for n in range(1, MAX_ATTEMPTS)]
    longest = [retry_delay(attempt=n, rand=0.999999) for n in range(1, MAX_ATTEMPTS)]
    assert sum(shortest, timedelta()) >= timedelta(hours=24)
    assert sum(longest, timedelta()) <= timedelta(hours=48)
    assert shortest == list(RETRY_SCHEDULE) and shortest == sorted(shortest)
    assert shortest[0] <= timedelta(seconds=10)  # a blip is retried at once
    assert retry_delay(attempt=MAX_ATTEMPTS, rand=0.0) is None and retry_delay(attempt=0) is None
    drawn = {retry_delay(attempt=3) for _ in range(50)}
    assert len(drawn) > 1
    assert all(RETRY_SCHEDULE[2] <= wait <= RETRY_SCHEDULE[2] * 1.5 for wait in drawn)


def test_a_failed_attempt_is_retried_later_with_the_same_webhook_id(secret, receiver, publish):
    receiver.answer(500)
    with time_machine.travel(T0, tick=False) as clock:
        publish()
        delivery = _delivery()
        assert (delivery.status, delivery.attempt_count, delivery.last_response_code) == ("pending", 1, 500)
        wait = delivery.next_attempt_at - T0
        assert RETRY_SCHEDULE[0] <= wait <= RETRY_SCHEDULE[0] * 1.5
        clock.shift(RETRY_SCHEDULE[0] - timedelta(seconds=1))
        assert webhook_deliver_due() == 0  # not due yet
        clock.move_to(delivery.next_attempt_at)
        assert webhook_deliver_due() == 1
        first, second = receiver.requests
        assert first.verify(secret) == second.verify(secret)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.message_id
    assert first.body == second.body
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) == int(
        wait.total_seconds()
    )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count, delivery.last_response_code) == ("success", 2, 200)
    assert list(delivery.attempts.order_by("number").values_list("response_code", flat=True)) == [500, 200]


def test_a_delivery_fails_for_good_after_the_whole_schedule(organization, secret, receiver, publish):
    receiver.answer(*[503] * MAX_ATTEMPTS)
    with time_machine.travel(T0, tick=False) as clock:
        publish()
        receiver.requests[-1].verify(secret)
        while (delivery := _delivery()).status == "pending":
            clock.move_to(delivery.next_attempt_at)
            assert webhook_deliver_due() == 1
            receiver.requests[-1].verify(secret)  # now: the timestamp tolerance is 5 minutes
    assert len(receiver.requests) == MAX_ATTEMPTS == delivery.attempt_count
    assert set(receiver.ids()) == {delivery.message_id}
    assert (delivery.status, delivery.next_attempt_at, delivery.last_response_code) == ("failed", None, 503)
    times = list(delivery.attempts.order_by("number").values_list("attempted_at", flat=True))
    assert times[-1] - times[0] >= timedelta(hours=24)
    for gap, base in zip((b - a for a, b in itertools.pairwise(times)), RETRY_SCHEDULE, strict=True):
        assert base - timedelta(seconds=1) <= gap <= base * 1.5 + timedelta(seconds=1)
    assert WebhookEndpoint.objects.get(organization=organization, name=NAME).last_status == "failed"
    assert webhook_deliver_due() == 0


def test_network_errors_are_retried_too(organization, secret, receiver, publish, monkeypatch):
    webhook_endpoint_update(organization=organization, name=NAME, changes={"url": "http://127.0.0.1:9/none"})
    publish()
    delivery = _delivery()
    assert delivery.status == "pending" and delivery.last_response_code is None
    assert "refused" in delivery.last_error.lower()
    assert "refused" in delivery.attempts.get().error.lower()


def test_a_webhook_disabled_before_its_retry_fails_the_delivery_unsent(
    organization, secret, receiver, publish
):
    receiver.answer(500)
    with time_machine.travel(T0, tick=False) as clock:
        publish()
        webhook_endpoint_update(organization=organization, name=NAME, changes={"enabled": False})
        clock.move_to(_delivery().next_attempt_at)
        assert webhook_deliver_due() == 0
    delivery = _delivery()
    assert delivery.status == "failed" and "disabled" in delivery.last_error
    assert len(receiver.requests) == 1 and delivery.attempts.count() == 1


def test_a_retry_goes_to_the_url_saved_since(organization, secret, receiver, publish):
    receiver.answer(500)
    with time_machine.travel(T0, tick=False) as clock:
        publish()
        webhook_endpoint_update(organization=organization, name=NAME, changes={"url": receiver.url + "/v2"})
        clock.move_to(_delivery().next_attempt_at)
        webhook_deliver_due()
    assert [request.path for request in receiver.requests] == ["/hooks", "/hooks/v2"]


def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_runs_out(organization, secret, receiver):
    with time_machine.travel(T0, tick=False) as clock:
        webhook_event_publish(organization=organization, name=NAME, data={})  # on_commit never runs here
        [claim] = webhook_deliveries_claim(organization_id=organization.pk)
        assert claim.number == 1
        assert webhook_deliveries_claim(organization_id=organization.pk) == []
        clock.shift(CLAIM_LEASE + timedelta(seconds=1))  # the worker died mid-send
        [again] = webhook_deliveries_claim(organization_id=organization.pk)
    assert again.number == 2 and receiver.requests == []


def test_the_sweep_sends_first_attempts_whose_task_was_lost(organization, secret, receiver):
    webhook_event_publish(organization=organization, name=NAME, data={})  # committed, never enqueued
    assert webhook_deliver_due() == 1
    assert len(receiver.requests) == 1 and _delivery().status == "success"


# --- the send-time address check ---------------------------------------------------------------------------


def test_a_host_that_now_resolves_to_loopback_is_not_sent_to(
    organization, receiver, settings, monkeypatch, publish
):
    """DNS rebinding: the host was public when the URL was saved; at send time it points at loopback."""
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    answers = {"hooks.example.com": ["93.184.216.34"]}
    monkeypatch.setattr(transport, "resolve", lambda host, port: answers[host])
    webhook_endpoint_update(
        organization=organization, name=NAME, changes={"enabled": True, "url": "https://hooks.example.com/in"}
    )
    answers["hooks.example.com"] = ["127.0.0.1"]
    publish()
    delivery = _delivery()
    assert delivery.status == "pending" and delivery.last_response_code is None
    assert delivery.attempts.get().error.startswith("Not sent:") and "loopback" in delivery.last_error
    assert receiver.requests == []


# --- rotation ------------------------------------------------------------------------------------------------


def test_after_rotation_the_old_secret_verifies_for_24_hours_only(organization, secret, receiver, publish):
    with time_machine.travel(T0, tick=False) as clock:
        new = webhook_secret_rotate(organization=organization)
        assert new != secret and new.startswith("whsec_")
        publish()
        during = receiver.requests[-1]
        assert during.verify(new) == during.verify(secret)
        assert len(during.headers["webhook-signature"].split(" ")) == 2

        clock.move_to(T0 + timedelta(hours=24, seconds=1))
        publish({"invoiceId": "inv_2"})
        after = receiver.requests[-1]
        assert after.verify(new)["data"] == {"invoiceId": "inv_2"}
        with pytest.raises(WebhookVerificationError):
            after.verify(secret)
    assert len(after.headers["webhook-signature"].split(" ")) == 1


def test_a_second_rotation_drops_the_oldest_secret_at_once(organization, secret, receiver, publish):
    middle = webhook_secret_rotate(organization=organization)
    newest = webhook_secret_rotate(organization=organization)
    publish()
    [request] = receiver.requests
    request.verify(newest)
    request.verify(middle)
    with pytest.raises(WebhookVerificationError):
        request.verify(secret)


def test_rotating_before_any_url_creates_the_first_secret(organization):
    from apps.webhooks.selectors import webhook_secret_configured

    assert not webhook_secret_configured(organization=organization)
    assert webhook_secret_rotate(organization=organization).startswith("whsec_")
    assert webhook_secret_configured(organization=organization)


# --- test deliveries -----------------------------------------------------------------------------------------


def test_a_test_delivery_is_sent_once_even_while_disabled(organization, secret, receiver):
    webhook_endpoint_update(organization=organization, name=NAME, changes={"enabled": False})
    receiver.answer(500)
    delivery = webhook_test_send(organization=organization, name=NAME)
    assert (delivery.status, delivery.attempt_count, delivery.next_attempt_at) == ("failed", 1, None)
    assert webhook_test_send(organization=organization, name=NAME).status == "success"
    first, second = receiver.requests
    payload = first.verify(secret)
    assert payload["type"] == "test" and payload["data"]["webhook"] == NAME
    assert first.headers["webhook-id"] != second.headers["webhook-id"]
    assert webhook_deliver_due() == 0  # a failed test is never retried


def test_a_test_needs_a_url(organization):
    with pytest.raises(WebhookNotConfigured):
        webhook_test_send(organization=organization, name=NAME)
    assert not WebhookEvent.objects.exists()
