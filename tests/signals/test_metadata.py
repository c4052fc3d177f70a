"""`GET analytics/signals/metadata`: the JSON paths and types seen in signal data, per signal name, over a window,
from a bounded sample of the newest signals. Runs on SQLite and PostgreSQL alike."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.catalog.services import product_create
from apps.signals import selectors
from apps.signals.models import Signal
from apps.signals.services import signal_ingest

pytestmark = pytest.mark.django_db

URL = "/api/v2/analytics/signals/metadata"


@pytest.fixture
def send(organization):
    """`send(event, data, ago=…, customer=…, product=…)`: one signal, `ago` before now."""

    def _send(
        event, data=None, *, ago=timedelta(hours=1), at=None, customer="acme", product="voice", org=None
    ):
        item = {
            "eventName": event,
            "customer": {"externalCustomerId": customer},
            "timestamp": (at or timezone.now() - ago).isoformat(),
        }
        if product:
            item["attribution"] = {"externalProductId": product}
        if data is not None:
            item["data"] = data
        result = signal_ingest(organization=org or organization, signals=[item])
        assert result.ingested == 1, result

    return _send


def _paths(body, name):
    [item] = [s for s in body["signals"] if s["signalName"] == name]
    return {p["path"]: p["types"] for p in item["paths"]}


def test_paths_and_json_types_per_signal_name(api, send):
    send(
        "phone_call",
        {
            "call_completed": True,
            "duration_minutes": 12,
            "agent": {"name": "Ada", "tier": {"level": 2}},
            "tags": [{"inside": "an array"}],
            "note": None,
        },
    )
    send("phone_call", {"call_completed": "yes", "duration_minutes": 2.5, "agent": "none"})
    send("chat", None)

    response = api.get(URL)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert [s["signalName"] for s in body["signals"]] == ["chat", "phone_call"]
    assert _paths(body, "chat") == {}
    assert _paths(body, "phone_call") == {
        "agent": ["string", "object"],
        "agent.name": ["string"],
        "agent.tier": ["object"],
        "agent.tier.level": ["number"],
        "call_completed": ["string", "boolean"],
        "duration_minutes": ["number"],
        "note": ["null"],
        "tags": ["array"],  # arrays are not walked into: meter paths are object keys only
    }
    [call] = [s for s in body["signals"] if s["signalName"] == "phone_call"]
    assert call["sampledSignals"] == 2
    counts = {p["path"]: p["signalCount"] for p in call["paths"]}
    assert (counts["call_completed"], counts["agent.name"]) == (2, 1)
    assert set(body["meta"]) == {"fromDate", "toDate"}
    assert body["meta"]["toDate"].endswith("Z")


def test_keys_a_meter_path_cannot_name_are_left_out(api, send):
    send("e", {"a.b": 1, "0": 2, "-1": 3, "": 4, 'say"hi': 5, "ok": {"7": 1, "x.y": 2, "fine": 3}})
    assert _paths(api.get(URL).json(), "e") == {"ok": ["object"], "ok.fine": ["number"]}


def test_depth_is_bounded_like_meter_paths(api, send):
    deep = leaf = {}
    for _ in range(selectors.METADATA_MAX_DEPTH + 3):
        leaf["k"] = {}
        leaf = leaf["k"]
    send("deep", deep)
    paths = _paths(api.get(URL).json(), "deep")
    assert max(len(p.split(".")) for p in paths) == selectors.METADATA_MAX_DEPTH


def test_window_defaults_to_thirty_days_and_is_half_open(api, send):
    old_at = timezone.now() - timedelta(days=31)
    send("recent", {"a": 1}, ago=timedelta(days=29))
    send("old", {"b": 1}, at=old_at)
    assert [s["signalName"] for s in api.get(URL).json()["signals"]] == ["recent"]

    names = lambda window: [s["signalName"] for s in api.get(URL, window).json()["signals"]]  # noqa: E731
    assert names({"fromDate": old_at.isoformat(), "toDate": (old_at + timedelta(days=1)).isoformat()}) == [
        "old"
    ]
    assert names({"toDate": old_at.isoformat()}) == []  # toDate is exclusive
    assert names({"toDate": (old_at + timedelta(seconds=1)).isoformat()}) == [
        "old"
    ]  # fromDate: 30 days before


def test_signal_name_narrows_to_one_name(api, send):
    send("a", {"x": 1})
    send("b", {"y": "z"})
    body = api.get(URL, {"signalName": "b"}).json()
    assert [(s["signalName"], _paths(body, "b")) for s in body["signals"]] == [("b", {"y": ["string"]})]
    assert api.get(URL, {"signalName": "nope"}).json()["signals"] == []


def test_product_id_narrows_to_what_a_meter_on_the_product_reads(api, organization, send):
    voice = product_create(organization=organization, name="Voice", external_id="voice")
    product_create(organization=organization, name="Chat", external_id="chat")
    send("call", {"from_voice": 1})
    send("call", {"from_chat": 1}, product="chat")
    send("call", {"unattributed": 1}, product=None)
    send("call", {"unresolved_voice": 1}, product="voice-later")  # no such product: not Voice's

    body = api.get(URL, {"productId": voice.display_id}).json()
    assert _paths(body, "call") == {"from_voice": ["number"]}
    response = api.get(URL, {"productId": "prod_nope"})
    assert response.status_code == 400
    assert "productId" in response.json()["error"]


def test_unresolved_signals_sent_with_the_product_external_id_count(api, organization, send):
    send("call", {"early": True})  # before the product exists: unresolved, external id kept
    voice = product_create(organization=organization, name="Voice", external_id="voice")
    assert _paths(api.get(URL, {"productId": voice.display_id}).json(), "call") == {"early": ["boolean"]}


def test_each_name_contributes_its_newest_signals_only(api, send, monkeypatch):
    monkeypatch.setattr(selectors, "METADATA_SAMPLE", 3)
    send("busy", {"only_in_old_signals": 1}, ago=timedelta(hours=5))
    for hours in (4, 3, 2):
        send("busy", {"recent": hours}, ago=timedelta(hours=hours))
    send("quiet", {"q": 1})

    body = api.get(URL).json()
    assert _paths(body, "busy") == {"recent": ["number"]}
    sampled = {s["signalName"]: s["sampledSignals"] for s in body["signals"]}
    assert sampled == {"busy": 3, "quiet": 1}


def test_another_organizations_signals_are_invisible(api, other_api, send, other_organization):
    send("ours", {"a": 1})
    send("theirs", {"b": 1}, org=other_organization)
    assert [s["signalName"] for s in api.get(URL).json()["signals"]] == ["ours"]
    assert [s["signalName"] for s in other_api.get(URL).json()["signals"]] == ["theirs"]


def test_bad_windows_are_400(api):
    response = api.get(URL, {"fromDate": "2026-06-02", "toDate": "2026-06-01"})
    assert response.status_code == 400
    assert "fromDate" in response.json()["error"]
    assert api.get(URL, {"fromDate": "yesterday"}).status_code == 400


def test_needs_an_api_key(client):
    assert client.get(URL).status_code == 401


def test_a_products_sample_merges_resolved_and_unresolved_signals_newest_first(
    api, organization, send, monkeypatch
):
    voice = product_create(organization=organization, name="Voice", external_id="voice")
    monkeypatch.setattr(selectors, "METADATA_SAMPLE", 2)
    monkeypatch.setattr(selectors, "METADATA_UNRESOLVED_SCAN", 3)
    send("call", {"unresolved_old": 1}, ago=timedelta(hours=9), product=None)
    Signal.objects.filter(organization=organization).update(product_ref=voice.display_id)  # sent by its id
    send("call", {"resolved_older": 1}, ago=timedelta(hours=8))
    send("call", {"other_product": 1}, ago=timedelta(hours=7), product=None)  # no product: not Voice's
    send("call", {"resolved_newer": 1}, ago=timedelta(hours=2))
    body = api.get(URL, {"productId": voice.display_id}).json()
    # The unresolved one is 4th newest of the name: past the scan bound of 3, so not looked at.
    assert _paths(body, "call") == {"resolved_newer": ["number"], "resolved_older": ["number"]}

    monkeypatch.setattr(selectors, "METADATA_UNRESOLVED_SCAN", 4)
    monkeypatch.setattr(selectors, "METADATA_SAMPLE", 3)
    body = api.get(URL, {"productId": voice.display_id}).json()
    assert _paths(body, "call") == {
        "resolved_newer": ["number"],
        "resolved_older": ["number"],
        "unresolved_old": ["number"],
    }
    assert body["signals"][0]["sampledSignals"] == 3
