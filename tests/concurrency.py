"""Running test code in threads that start at the same moment (PostgreSQL race tests)."""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import close_old_connections, connection

# The module marks of a race test: real transactions, and PostgreSQL only (SQLite serializes writers, so the
# race cannot happen there).
RACE_TEST = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="concurrent writers need PostgreSQL (SQLite serializes them)",
    ),
]


def run_together(targets: list[Callable[[], Any]]) -> list[Any]:
    """Start one thread per target, release them together at a barrier, wait for all; each closes its own
    database connection. Fails the test with every error raised; returns the targets' results in order."""
    barrier = threading.Barrier(len(targets))
    results: list[Any] = [None] * len(targets)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = targets[index]()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results
