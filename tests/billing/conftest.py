"""Stripe for the billing tests: localstripe (PyPI), a fake Stripe server, run by the test suite on loopback.

Tally talks to it through the official `stripe` SDK, pointed at it with `settings.STRIPE_API_BASE`; nothing stands
in for the Stripe client. `localstripe_server` starts one server for the session; the function fixture
`localstripe` points Tally at it and wipes its state before each test.

The server is localstripe's own aiohttp application (`localstripe.server.app`), served from a subprocess by
`serve_localstripe` below rather than by the `localstripe` console script, because the script listens on every
interface (`::`) and pickles its whole store to the shared `/tmp/localstripe.pickle` after every write. Three
things real Stripe does and localstripe 1.15 does not are added around the app, each small and each as Stripe
documents it:

- `Idempotency-Key`: a POST replayed with a key seen before answers the first answer (its status and body,
  `Idempotent-Replayed: true`) without running again; the same key with different parameters is a 400
  `idempotency_error`. Errors from validation (400) are not remembered, declines (402) are.
- ConfirmationTokens: `POST /v1/test_helpers/confirmation_tokens` (Stripe's test helper; `payment_method=pm_…`
  or `payment_method_data`) mints a `ctoken_…`, and `POST /v1/setup_intents/{id}/confirm` accepts
  `confirmation_token=ctoken_…` (and ignores `return_url`, which localstripe refuses).
- `DELETE /_config/webhooks` forgets the registered webhook endpoints (`DELETE /_config/data` keeps them).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRIPE_TEST_KEY = "sk_test_tally_localstripe"
STRIPE_TEST_WEBHOOK_SECRET = "whsec_tally_localstripe"


# --- the server (runs in the subprocess; imports nothing from Django) --------------------------------------------


def serve_localstripe(port: int) -> None:  # pragma: no cover - runs in the localstripe subprocess
    import secrets

    from aiohttp import web
    from localstripe import resources, server, webhooks
    from localstripe.errors import UserError

    resources.Store.dump_to_disk = lambda self: None  # state lives in memory only
    replies: dict[tuple[str, str, str], tuple[str, int, bytes]] = {}
    confirmation_tokens: dict[str, str] = {}

    def stripe_error(status: int, message: str, code: str, type_: str = "invalid_request_error"):
        body = {"error": {"message": message, "code": code, "type": type_}}
        return web.json_response(body, status=status)

    @web.middleware
    async def idempotency(request, handler):
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)
        body = await request.read()
        slot = (request.headers.get("Authorization", ""), key, request.path)
        if slot in replies:
            seen_body, status, text = replies[slot]
            if seen_body != body.decode():
                return stripe_error(
                    400,
                    f"Keys for idempotent requests can only be used with the same parameters they were first used "
                    f"with. Try using a key other than '{key}' if you meant to execute a different request.",
                    "idempotency_key_in_use",
                    "idempotency_error",
                )
            return web.Response(
                status=status,
                body=text,
                content_type="application/json",
                headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
            )
        response = await handler(request)
        if response.status < 400 or response.status == 402:
            replies[slot] = (body.decode(), response.status, response.body)
        return response

    @web.middleware
    async def setup_intent_confirmation_token(request, handler):
        parts = request.path.strip("/").split("/")
        if (
            request.method == "POST"
            and len(parts) == 4
            and parts[:2] == ["v1", "setup_intents"]
            and (parts[3] == "confirm")
        ):
            data = await server.get_post_data(request) or {}
            data.pop("return_url", None)
            if token := data.pop("confirmation_token", None):
                if token not in confirmation_tokens:
                    return stripe_error(404, f"No such confirmationtoken: '{token}'", "resource_missing")
                data["payment_method"] = confirmation_tokens[token]
            expand = data.pop("expand", None)
            intent = resources.SetupIntent._api_confirm(id=parts[2], **data)
            return server.json_response(intent._export(expand=expand))
        return await handler(request)

    async def confirmation_token_create(request):
        data = await server.get_post_data(request) or {}
        if pm_id := data.get("payment_method"):
            payment_method = resources.PaymentMethod._api_retrieve(pm_id)
        elif pm_data := data.get("payment_method_data"):
            payment_method = resources.PaymentMethod(**pm_data)
        else:
            raise UserError(400, "Missing payment_method or payment_method_data")
        token = "ctoken_" + secrets.token_hex(12)
        confirmation_tokens[token] = payment_method.id
        return server.json_response(
            {
                "id": token,
                "object": "confirmation_token",
                "created": int(time.time()),
                "livemode": False,
                "payment_method_preview": payment_method._export(),
            }
        )

    async def webhooks_forget(request):
        webhooks._webhooks.clear()
        replies.clear()
        confirmation_tokens.clear()
        return web.Response()

    # error_middleware (localstripe's first) turns UserError into a response: wrap it so replays see the answer.
    server.app.middlewares.insert(0, idempotency)
    server.app.middlewares.insert(2, setup_intent_confirmation_token)
    server.app.router.add_post("/v1/test_helpers/confirmation_tokens", confirmation_token_create)
    server.app.router.add_delete("/_config/webhooks", webhooks_forget)
    web.run_app(server.app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- fixtures --------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalStripe:
    """The running server: its base URL and the `/_config` calls the tests use."""

    def __init__(self, url: str):
        self.url = url

    def _request(self, method: str, path: str, data: dict | None = None):
        import httpx

        response = httpx.request(method, self.url + path, data=data, timeout=10)
        response.raise_for_status()
        return response

    def reset(self) -> None:
        """Forget every object, webhook endpoint, remembered idempotent answer and confirmation token."""
        self._request("DELETE", "/_config/data")
        self._request("DELETE", "/_config/webhooks")

    def webhook_register(self, *, url: str, secret: str, events: list[str] | None = None) -> None:
        """Have localstripe post its events to `url`, signed with `secret` (Stripe's `Stripe-Signature`)."""
        data: dict = {"url": url, "secret": secret}
        if events:
            data.update({f"events[{i}]": name for i, name in enumerate(events)})
        self._request("POST", "/_config/webhooks/tally", data)

    def client(self, secret_key: str = STRIPE_TEST_KEY):
        """The official SDK pointed at localstripe, for a test's own look at Stripe's side."""
        import stripe

        return stripe.StripeClient(secret_key, base_addresses={"api": self.url}, max_network_retries=0)


@pytest.fixture(scope="session")
def localstripe_server():
    """One localstripe for the session on a free loopback port; its base URL (`http://127.0.0.1:<port>`)."""
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from tests.billing.conftest import serve_localstripe; serve_localstripe({port})",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"localstripe exited: {process.stderr.read().decode()}") from None
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("localstripe did not start within 30 s") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


@pytest.fixture
def localstripe(localstripe_server, settings) -> LocalStripe:
    """Tally pointed at localstripe (`settings.STRIPE_API_BASE`), which starts the test empty."""
    server = LocalStripe(localstripe_server)
    server.reset()
    settings.STRIPE_API_BASE = localstripe_server
    return server


@pytest.fixture
def stripe_secret() -> str:
    """A webhook signing secret of this test's own: an event a previous test caused, posted late by localstripe,
    fails verification instead of landing in this test's inbox."""
    import secrets

    return f"whsec_{secrets.token_hex(12)}"


@pytest.fixture
def stripe_organization(organization, localstripe, stripe_secret):
    """`organization` with Stripe keys in its billing settings, talking to localstripe."""
    from apps.billing.services import billing_settings_update

    billing_settings_update(
        organization=organization, stripe_secret_key=STRIPE_TEST_KEY, stripe_webhook_secret=stripe_secret
    )
    return organization
