"""The append-only ledger in tests: the database refuses UPDATE and DELETE of posted entries (triggers), which a
transactional test's flush on SQLite runs into (PostgreSQL's flush TRUNCATEs, which row triggers don't see)."""

import importlib
from contextlib import contextmanager

from django.db import connection

_triggers = importlib.import_module("apps.credits.migrations.0002_append_only_ledger")


@contextmanager
def ledger_unlocked():
    """Drop the append-only triggers for the block."""
    install, uninstall = _triggers.STATEMENTS[connection.vendor]
    with connection.cursor() as cursor:
        for statement in uninstall:
            cursor.execute(statement)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for statement in install:
                cursor.execute(statement)


def purge_ledger_for_flush() -> None:
    """Before a transactional test's flush on SQLite: remove the ledger rows the triggers protect."""
    if connection.vendor != "sqlite":
        return
    with ledger_unlocked(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM credits_creditdrain")
        cursor.execute("DELETE FROM credits_creditentry")
