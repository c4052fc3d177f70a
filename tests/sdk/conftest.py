"""The SDK suite: the official `paid-python` client against a live Tally server.

One live server serves the whole session (pytest-django's `live_server` is session-scoped); each test runs
with `transactional_db`, so the server thread sees the rows the test writes."""

import httpx
import pytest
from paid import Paid

from apps.accounts.services import api_key_create

# The SDK retries 408/409/429/5xx twice with 1-2 s sleeps; calls expected to answer 409 opt out.
NO_RETRY = {"max_retries": 0}


@pytest.fixture
def base_url(live_server) -> str:
    return f"{live_server.url}/api/v2"


@pytest.fixture
def make_client(base_url):
    """`make_client(token)`: the SDK configured as a caller would, its connections closed after the test.

    (An SDK client left open keeps a keep-alive request thread of the live server waiting; when that thread
    finally closes, after the in-memory SQLite connection stopped being shared, it fails.)"""
    sessions = []

    def make(token) -> Paid:
        session = httpx.Client(timeout=30, follow_redirects=True)  # the SDK's own defaults
        sessions.append(session)
        return Paid(token=token, base_url=base_url, httpx_client=session)

    yield make
    for session in sessions:
        session.close()


@pytest.fixture
def client(make_client, api_key) -> Paid:
    """The SDK authenticated as `organization`."""
    return make_client(api_key)


@pytest.fixture
def other_client(make_client, other_organization) -> Paid:
    """The SDK authenticated as `other_organization`."""
    _, raw_key = api_key_create(organization=other_organization, name="sdk")
    return make_client(raw_key)


@pytest.fixture
def http(base_url, api_key):
    """Plain HTTP to the same server, for checks on the wire form the SDK hides."""
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as session:
        yield session
