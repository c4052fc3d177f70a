"""Posted ledger rows cannot be updated or deleted: triggers on PostgreSQL and SQLite refuse it (an
IntegrityError), whoever runs the statement. Corrections are reversing entries (services.credit_entry_reverse).

PostgreSQL's TRUNCATE is a table-level operation that row triggers do not see; it stays available to an operator
(and to the test runner's flush). SQLite has no TRUNCATE: tests that flush a SQLite database holding ledger rows
drop the triggers around the flush (tests/credits/conftest.py, `ledger_unlocked`)."""

from django.db import migrations

TABLES = ("credits_creditentry", "credits_creditdrain")

POSTGRESQL_INSTALL = [
    """
    CREATE OR REPLACE FUNCTION credits_ledger_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'credit ledger rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END;
    $$ LANGUAGE plpgsql
    """,
    *(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION credits_ledger_append_only()"
        for table in TABLES
    ),
]
POSTGRESQL_UNINSTALL = [
    *(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}" for table in TABLES),
    "DROP FUNCTION IF EXISTS credits_ledger_append_only()",
]

SQLITE_INSTALL = [
    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, 'credit ledger rows are append-only: {op} on {table} refused'); END"
    for table in TABLES
    for op in ("UPDATE", "DELETE")
]
SQLITE_UNINSTALL = [
    f"DROP TRIGGER IF EXISTS {table}_no_{op.lower()}" for table in TABLES for op in ("UPDATE", "DELETE")
]

STATEMENTS = {
    "postgresql": (POSTGRESQL_INSTALL, POSTGRESQL_UNINSTALL),
    "sqlite": (SQLITE_INSTALL, SQLITE_UNINSTALL),
}


def _run(schema_editor, install: bool) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise RuntimeError(f"The append-only credit ledger needs PostgreSQL or SQLite, not {vendor}.")
    for statement in STATEMENTS[vendor][0 if install else 1]:
        schema_editor.execute(statement, params=None)  # no placeholders: `%` is plpgsql


def install(apps, schema_editor):
    _run(schema_editor, True)


def uninstall(apps, schema_editor):
    _run(schema_editor, False)


class Migration(migrations.Migration):
    dependencies = [("credits", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
