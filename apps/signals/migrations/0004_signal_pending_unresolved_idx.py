"""Partial indexes for rating's claim of the oldest pending signals and for attribution's "signals whose product
is still unknown": only those rows are indexed, so the indexes stay small and ingest pays little. Built CONCURRENTLY on PostgreSQL, like
0003, so a large signals table keeps taking writes."""

from django.db import migrations, models

INDEXES = [
    models.Index(fields=["organization", "id"], name="signal_org_pending_idx", condition=models.Q(rating="pending")),
    *(
    models.Index(
        fields=["organization", raw],
        name=f"signal_org_unres_{short}_idx",
        condition=models.Q(product__isnull=True, **{f"{raw}__isnull": False}),
    )
    for raw, short in (("product_ref", "pref"), ("external_product_id", "pext"))
    ),
]


def forwards(apps, schema_editor):
    model = apps.get_model("signals", "Signal")
    for index in INDEXES:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(index.create_sql(model, schema_editor, concurrently=True))
        else:
            schema_editor.add_index(model, index)


def backwards(apps, schema_editor):
    model = apps.get_model("signals", "Signal")
    for index in INDEXES:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(index.remove_sql(model, schema_editor, concurrently=True))
        else:
            schema_editor.remove_index(model, index)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("signals", "0003_signal_org_product_event_idx")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="signal", index=index) for index in INDEXES],
            database_operations=[migrations.RunPython(forwards, backwards)],
        )
    ]
