"""Fixtures of the webhooks tests: a real HTTP receiver on loopback (scripted answers, every request kept) and
an organization with a webhook pointed at it.

Loopback is a private address: these tests turn `WEBHOOKS_ALLOW_PRIVATE_URLS` on (and plain http with it);
the SSRF tests turn it off again."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook

from apps.webhooks.services import webhook_endpoint_update

# The SDK suite's fixtures (live server, `client`, `other_client`, `http`), for test_sdk.py.
from tests.sdk.conftest import base_url, client, http, make_client, other_client  # noqa: F401

NAME = "billing-invoice-paid"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def verify(self, secret: str) -> dict:
        """The payload, if the signature verifies with `secret` (standardwebhooks raises otherwise)."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    """A webhook receiver: answers with the scripted `(status, body)` pairs in order, then 200."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answers: list[tuple[int, bytes]] = field(default_factory=list)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *statuses: int, body: bytes = b"") -> None:
        self.answers.extend((status, body) for status in statuses)

    def ids(self) -> list[str]:
        return [request.headers["webhook-id"] for request in self.requests]


@pytest.fixture(autouse=True)
def allow_private_urls(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def receiver():
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            rec: Receiver = state["receiver"]
            if rec.delay:
                time.sleep(rec.delay)
            with rec.lock:
                rec.requests.append(
                    Received(
                        path=self.path, headers={k.lower(): v for k, v in self.headers.items()}, body=body
                    )
                )
                status, answer = rec.answers.pop(0) if rec.answers else (200, b"ok")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up (the timeout test)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["receiver"] = Receiver(url=f"http://127.0.0.1:{server.server_port}/hooks")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()


@pytest.fixture
def secret(organization, receiver) -> str:
    """`billing-invoice-paid` enabled and pointed at the receiver; the organization's signing secret."""
    result = webhook_endpoint_update(
        organization=organization, name=NAME, changes={"enabled": True, "url": receiver.url}
    )
    assert result.signing_secret
    return result.signing_secret
