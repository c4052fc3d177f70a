"""Where a webhook may go, and the HTTP POST that takes it there.

SSRF: a destination must be `https` (plain `http` only when `WEBHOOKS_ALLOW_PRIVATE_URLS` is on) and every
address its host resolves to (all A and AAAA records) must be publicly routable: no private, loopback,
link-local, shared (CGNAT), reserved, multicast or unspecified address, including IPv4 addresses mapped into
IPv6. The check runs when a URL is saved and again before every attempt, and the attempt connects to the
addresses that check approved (not to a fresh lookup), so a DNS answer that changes in between (DNS
rebinding) cannot slip a private address through. Redirects are not followed (a 3xx is a failed attempt) and
no proxy from the environment is used.

Standard library only (`http.client`): it lets the connection go to a pinned address while TLS still checks
the certificate against the URL's host name."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from apps.webhooks.exceptions import WebhookUrlRefused

MAX_URL_LENGTH = 2048
TIMEOUT_SECONDS = 10
EXCERPT_BYTES = 1024  # of the receiver's response body, kept on the attempt
USER_AGENT = "Tally-Webhooks/1.0"


def private_urls_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_PRIVATE_URLS", False))


@dataclass(frozen=True)
class Target:
    """A checked destination: where to connect (`addresses`, already approved) and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    duration_ms: int
    excerpt: str = ""
    error: str = ""

    @property
    def success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (A and AAAA), in the resolver's order, without duplicates."""
    addresses: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def address_refusal(address: str) -> str | None:
    """Why `address` is not a public destination, or None when it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (`fe80::1%eth0`) names no network
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_reserved:
        return "a reserved (not publicly routable) address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:  # e.g. shared address space (100.64.0.0/10)
        return "a reserved (not publicly routable) address"
    return None


def check_url(url: str) -> Target:
    """The destination `url` names, with its approved addresses; raises WebhookUrlRefused (400) otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise WebhookUrlRefused("Enter a URL.")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise WebhookUrlRefused("The URL contains spaces or control characters.")
    allow_private = private_urls_allowed()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlRefused(f"The URL is malformed ({exc}).") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and allow_private):
        raise WebhookUrlRefused("The URL must start with https://.")
    host = parts.hostname
    if not host:
        raise WebhookUrlRefused("The URL has no host name.")
    port = port or (443 if scheme == "https" else 80)
    try:
        addresses = resolve(host, port)
    except (socket.gaierror, UnicodeError):
        raise WebhookUrlRefused(f"The host name {host!r} could not be resolved.") from None
    if not addresses:
        raise WebhookUrlRefused(f"The host name {host!r} could not be resolved.")
    if not allow_private:
        for address in addresses:
            if reason := address_refusal(address):
                where = host if host == address else f"{host} resolves to {address}, which"
                raise WebhookUrlRefused(
                    f"The URL's host {where} is {reason}; webhooks are only sent to public addresses."
                )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=tuple(addresses))


def _pinned_connector(addresses: tuple[str, ...]):
    """`socket.create_connection` that ignores the host it is given and tries the approved addresses."""

    def create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
        port, last_error = address[1], None
        for ip in addresses:
            try:
                return socket.create_connection((ip, port), timeout, source_address)
            except OSError as exc:
                last_error = exc
        raise last_error or OSError("no address to connect to")

    return create_connection


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"Timed out after {TIMEOUT_SECONDS} s."
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate rejected: {exc.verify_message or exc}."
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc}."
    if isinstance(exc, ConnectionRefusedError):
        return "Connection refused."
    if isinstance(exc, http.client.HTTPException):
        return f"Invalid HTTP response: {exc.__class__.__name__} {exc}".strip() + "."
    return f"{exc.__class__.__name__}: {exc}"


def post(target: Target, *, body: bytes, headers: dict[str, str]) -> PostResult:
    """POST `body` to `target` (connecting only to its approved addresses); never raises for network
    failures: they come back as `error`."""
    started = time.monotonic()
    if target.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            target.host, target.port, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=TIMEOUT_SECONDS)
    connection._create_connection = _pinned_connector(target.addresses)
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Content-Length": str(len(body)), "Connection": "close"},
        )
        response = connection.getresponse()
        raw = response.read(EXCERPT_BYTES)
        return PostResult(
            status_code=response.status,
            duration_ms=int((time.monotonic() - started) * 1000),
            excerpt=raw.decode("utf-8", errors="replace"),
        )
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return PostResult(
            status_code=None, duration_ms=int((time.monotonic() - started) * 1000), error=_error_text(exc)
        )
    finally:
        connection.close()
