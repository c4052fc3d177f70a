"""A posted or voided invoice is a frozen snapshot: triggers on PostgreSQL and SQLite refuse (an IntegrityError),
whoever runs the statement,

- inserting or updating lines of an invoice that is not a draft;
- changing a posted or voided invoice's amounts, tax, currency, period, number, customer, order or snapshot,
  and un-voiding a voided one.

What may still change on a posted invoice is what payments and people do to it afterwards: status (posted →
voided), payment status, amount paid, paid/voided times, metadata and payment link. Deletes are not refused (an
organization's deletion cascades; the test runner flushes)."""

from django.db import migrations

FROZEN_COLUMNS = (
    "subtotal_amount",
    "tax_amount",
    "total_amount",
    "tax_rate",
    "tax_exempt",
    "tax_status",
    "currency",
    "period_start",
    "period_end",
    "issue_date",
    "posted_at",
    "due_at",
    "number",
    "customer_id",
    "order_id",
    "snapshot",
)
MESSAGE = "posted and voided invoices are immutable"

_pg_changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in FROZEN_COLUMNS)
POSTGRESQL_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION billing_invoice_frozen() RETURNS trigger AS $$
    BEGIN
        IF OLD.status IN ('posted', 'voided') AND (
            {_pg_changed} OR (OLD.status = 'voided' AND NEW.status <> 'voided')
        ) THEN
            RAISE EXCEPTION '{MESSAGE}: % on invoice % refused', TG_OP, OLD.id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE OR REPLACE FUNCTION billing_invoiceline_frozen() RETURNS trigger AS $$
    BEGIN
        IF (SELECT status FROM billing_invoice WHERE id = NEW.invoice_id) <> 'draft'
           OR (TG_OP = 'UPDATE' AND (SELECT status FROM billing_invoice WHERE id = OLD.invoice_id) <> 'draft') THEN
            RAISE EXCEPTION 'lines of posted and voided invoices are immutable: % refused', TG_OP
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql
    """,
    "CREATE TRIGGER billing_invoice_frozen BEFORE UPDATE ON billing_invoice "
    "FOR EACH ROW EXECUTE FUNCTION billing_invoice_frozen()",
    "CREATE TRIGGER billing_invoiceline_frozen BEFORE INSERT OR UPDATE ON billing_invoiceline "
    "FOR EACH ROW EXECUTE FUNCTION billing_invoiceline_frozen()",
]
POSTGRESQL_UNINSTALL = [
    "DROP TRIGGER IF EXISTS billing_invoice_frozen ON billing_invoice",
    "DROP TRIGGER IF EXISTS billing_invoiceline_frozen ON billing_invoiceline",
    "DROP FUNCTION IF EXISTS billing_invoice_frozen()",
    "DROP FUNCTION IF EXISTS billing_invoiceline_frozen()",
]

_sqlite_changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in FROZEN_COLUMNS)
SQLITE_INSTALL = [
    "CREATE TRIGGER billing_invoice_frozen BEFORE UPDATE ON billing_invoice "
    f"WHEN OLD.status IN ('posted', 'voided') AND ({_sqlite_changed} "
    "OR (OLD.status = 'voided' AND NEW.status IS NOT 'voided')) "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    "CREATE TRIGGER billing_invoiceline_frozen_insert BEFORE INSERT ON billing_invoiceline "
    "WHEN (SELECT status FROM billing_invoice WHERE id = NEW.invoice_id) IS NOT 'draft' "
    "BEGIN SELECT RAISE(ABORT, 'lines of posted and voided invoices are immutable'); END",
    "CREATE TRIGGER billing_invoiceline_frozen_update BEFORE UPDATE ON billing_invoiceline "
    "WHEN (SELECT status FROM billing_invoice WHERE id = OLD.invoice_id) IS NOT 'draft' "
    "OR (SELECT status FROM billing_invoice WHERE id = NEW.invoice_id) IS NOT 'draft' "
    "BEGIN SELECT RAISE(ABORT, 'lines of posted and voided invoices are immutable'); END",
]
SQLITE_UNINSTALL = [
    "DROP TRIGGER IF EXISTS billing_invoice_frozen",
    "DROP TRIGGER IF EXISTS billing_invoiceline_frozen_insert",
    "DROP TRIGGER IF EXISTS billing_invoiceline_frozen_update",
]

STATEMENTS = {
    "postgresql": (POSTGRESQL_INSTALL, POSTGRESQL_UNINSTALL),
    "sqlite": (SQLITE_INSTALL, SQLITE_UNINSTALL),
}


def _run(schema_editor, install: bool) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise RuntimeError(f"Frozen invoices need PostgreSQL or SQLite, not {vendor}.")
    for statement in STATEMENTS[vendor][0 if install else 1]:
        schema_editor.execute(statement, params=None)  # no placeholders: `%` is plpgsql


def install(apps, schema_editor):
    _run(schema_editor, True)


def uninstall(apps, schema_editor):
    _run(schema_editor, False)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
