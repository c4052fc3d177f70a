"""The index meter previews read through, and planner statistics for their grouping (docs/meters.md).

- `signal_org_product_event_idx` (organization, product, event_name, timestamp): a meter reads one product's
  event over a window. On PostgreSQL it is built CONCURRENTLY, so a large signals table keeps taking writes
  (ingest) while it builds; hence a non-atomic migration.
- `signal_customer_stats` (PostgreSQL extended statistics, ndistinct over customer_id, external_customer_id,
  customer_ref): a preview groups by these columns together. Without the statistics PostgreSQL multiplies
  their distinct counts, expects one group per signal and sorts every matching row (to disk, with `data`)
  instead of hashing a few thousand groups. ANALYZE fills them in (autovacuum keeps them current).
"""

from django.db import migrations, models

INDEX = models.Index(
    fields=["organization", "product", "event_name", "timestamp"], name="signal_org_product_event_idx"
)
STATISTICS = "signal_customer_stats"


def forwards(apps, schema_editor):
    model = apps.get_model("signals", "Signal")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.add_index(model, INDEX)
        return
    schema_editor.execute(INDEX.create_sql(model, schema_editor, concurrently=True))
    table = schema_editor.quote_name(model._meta.db_table)
    schema_editor.execute(
        f"CREATE STATISTICS IF NOT EXISTS {STATISTICS} (ndistinct) "
        f"ON customer_id, external_customer_id, customer_ref FROM {table}"
    )
    schema_editor.execute(f"ANALYZE {table}")


def backwards(apps, schema_editor):
    model = apps.get_model("signals", "Signal")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_index(model, INDEX)
        return
    schema_editor.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")
    schema_editor.execute(INDEX.remove_sql(model, schema_editor, concurrently=True))


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("signals", "0002_schedules")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="signal", index=INDEX)],
            database_operations=[migrations.RunPython(forwards, backwards)],
        )
    ]
