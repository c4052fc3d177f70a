"""Where webhooks may go: HTTPS to public addresses only (every A/AAAA record), unless
WEBHOOKS_ALLOW_PRIVATE_URLS is on; and the POST connects to the addresses the check approved."""

import pytest

from apps.webhooks import transport
from apps.webhooks.exceptions import WebhookUrlRefused

PUBLIC = "93.184.216.34"


@pytest.fixture
def strict(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False


@pytest.fixture
def dns(monkeypatch):
    """A fake resolver: `dns["hooks.example.com"] = [...]`; unknown names do not resolve."""
    table: dict[str, list[str]] = {}

    def resolve(host, port):
        if host in table:
            return table[host]
        if host.replace(".", "").isdigit() or ":" in host:  # IP literals resolve to themselves
            return [host]
        import socket

        raise socket.gaierror("unknown host")

    monkeypatch.setattr(transport, "resolve", resolve)
    return table


@pytest.mark.usefixtures("strict")
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://127.8.9.10/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://172.16.0.1/hook", "private"),
        ("https://192.168.1.20:8443/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::1]/hook", "loopback"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://[fd00::1]/hook", "private"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://[::ffff:10.0.0.1]/hook", "private"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://100.64.0.1/hook", "reserved"),
        ("https://240.0.0.1/hook", "reserved"),
        ("https://localhost/hook", "loopback"),  # the real resolver: localhost is loopback
    ],
)
def test_private_destinations_are_refused(url, reason):
    with pytest.raises(WebhookUrlRefused, match=reason) as caught:
        transport.check_url(url)
    assert caught.value.field == "url" and caught.value.code == "INVALID_WEBHOOK_URL"


@pytest.mark.usefixtures("strict")
def test_a_host_with_one_private_record_among_public_ones_is_refused(dns):
    dns["mixed.example.com"] = [PUBLIC, "10.0.0.7"]
    with pytest.raises(WebhookUrlRefused, match=r"mixed.example.com resolves to 10.0.0.7.*private"):
        transport.check_url("https://mixed.example.com/hook")


@pytest.mark.usefixtures("strict")
def test_a_public_host_is_accepted_with_its_addresses(dns):
    dns["hooks.example.com"] = [PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"]
    target = transport.check_url("https://hooks.example.com:8443/in?x=1")
    assert target.addresses == (PUBLIC, "2606:2800:220:1:248:1893:25c8:1946")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "hooks.example.com",
        8443,
        "/in?x=1",
    )


@pytest.mark.usefixtures("strict")
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/hook", "https://"),
        ("ftp://hooks.example.com/hook", "https://"),
        ("hooks.example.com/hook", "https://"),
        ("https:///nohost", "no host"),
        ("https://hooks.example.com:99999/", "malformed"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://unknown.example.com/", "could not be resolved"),
        ("", "Enter a URL"),
        ("https://hooks.example.com/" + "a" * 2048, "longer than"),
    ],
)
def test_malformed_or_insecure_urls_are_refused(dns, url, message):
    dns["hooks.example.com"] = [PUBLIC]
    with pytest.raises(WebhookUrlRefused, match=message):
        transport.check_url(url)


def test_with_the_setting_on_private_addresses_and_http_are_accepted():
    # (tests/webhooks/conftest.py turns WEBHOOKS_ALLOW_PRIVATE_URLS on)
    for url in ("http://127.0.0.1:9/hook", "https://10.0.0.1/", "http://localhost/", "https://[::1]/"):
        assert transport.check_url(url).addresses


def test_the_post_connects_to_the_approved_address_not_a_new_lookup(dns, receiver):
    """`hooks.internal.test` resolves nowhere but in the check's answer: the request still reaches the
    receiver, with the URL's host name in the Host header."""
    port = receiver.url.split(":")[2].split("/")[0]
    dns["hooks.internal.test"] = ["127.0.0.1"]
    target = transport.check_url(f"http://hooks.internal.test:{port}/in")
    result = transport.post(target, body=b"{}", headers={"Content-Type": "application/json"})
    assert result.success and result.status_code == 200 and result.excerpt == "ok"
    assert receiver.requests[0].headers["host"] == f"hooks.internal.test:{port}"
    assert receiver.requests[0].path == "/in"


def test_network_failures_come_back_as_errors(receiver, monkeypatch):
    closed = transport.check_url("http://127.0.0.1:9/")  # discard port: nothing listens
    result = transport.post(closed, body=b"{}", headers={})
    assert result.status_code is None and not result.success and "refused" in result.error.lower()

    monkeypatch.setattr(transport, "TIMEOUT_SECONDS", 0.3)
    receiver.delay = 1.0
    result = transport.post(transport.check_url(receiver.url), body=b"{}", headers={})
    assert result.status_code is None and "Timed out" in result.error


def test_a_redirect_is_not_followed(receiver):
    receiver.answer(302)
    result = transport.post(transport.check_url(receiver.url), body=b"{}", headers={})
    assert result.status_code == 302 and not result.success
    assert len(receiver.requests) == 1
