import apps.common.ids
import django.core.serializers.json
import django.db.models.deletion
import functools
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0001_initial'),
        ('catalog', '0003_plans'),
        ('customers', '0002_customeruser'),
        ('orders', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='CreditConsumption',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('applied', 'Applied')], max_length=16)),
                ('amount', models.DecimalField(decimal_places=6, max_digits=20)),
                ('spent', models.DecimalField(decimal_places=6, default=0, max_digits=20)),
                ('overage', models.DecimalField(decimal_places=6, default=0, max_digits=20)),
                ('allow_overage', models.BooleanField(default=False)),
                ('overage_unit_price', models.IntegerField(blank=True, null=True)),
                ('external_user_id', models.CharField(blank=True, max_length=255, null=True)),
                ('signal_id', models.BigIntegerField(blank=True, null=True)),
                ('signal_display_id', models.CharField(blank=True, max_length=40, null=True)),
                ('event_name', models.CharField(blank=True, max_length=255, null=True)),
                ('signal_recorded_at', models.DateTimeField(blank=True, null=True)),
                ('occurred_at', models.DateTimeField()),
                ('applied_at', models.DateTimeField(blank=True, null=True)),
                ('credits_currency', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.creditcurrency')),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='customers.customer')),
                ('order', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='orders.order')),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organization')),
                ('product', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.product')),
            ],
        ),
        migrations.CreateModel(
            name='CreditPool',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('recipient', models.CharField(choices=[('organization', 'Organization'), ('seat', 'Seat')], default='organization', max_length=16)),
                ('balance', models.DecimalField(decimal_places=6, default=0, max_digits=20)),
                ('credits_currency', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.creditcurrency')),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='customers.customer')),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organization')),
                ('seat', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='orders.orderseat')),
            ],
        ),
        migrations.CreateModel(
            name='CreditGrant',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('display_id', models.CharField(default=functools.partial(apps.common.ids.new_display_id, *('cgr',), **{}), editable=False, max_length=40)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('active', 'Active'), ('expired', 'Expired'), ('revoked', 'Revoked')], default='active', max_length=16)),
                ('origin_code', models.CharField(choices=[('purchased', 'Purchased'), ('manual', 'Manual'), ('rollover', 'Rollover'), ('adjustment', 'Adjustment')], max_length=32)),
                ('amount', models.DecimalField(decimal_places=6, max_digits=20)),
                ('remaining', models.DecimalField(decimal_places=6, max_digits=20)),
                ('starts_at', models.DateTimeField()),
                ('expires_at', models.DateTimeField(blank=True, null=True)),
                ('period_start', models.DateTimeField()),
                ('period_end', models.DateTimeField(blank=True, null=True)),
                ('rollover_amount', models.DecimalField(blank=True, decimal_places=6, max_digits=20, null=True)),
                ('rollover_duration', models.PositiveIntegerField(blank=True, null=True)),
                ('rollover_duration_unit', models.CharField(blank=True, max_length=8, null=True)),
                ('is_rollover', models.BooleanField(default=False)),
                ('grant_timing', models.CharField(blank=True, max_length=32, null=True)),
                ('key', models.CharField(blank=True, max_length=255, null=True)),
                ('request_fingerprint', models.CharField(blank=True, default='', max_length=64)),
                ('order', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='orders.order')),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organization')),
                ('product', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.product')),
                ('rolled_from', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='credits.creditgrant')),
                ('pool', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='grants', to='credits.creditpool')),
            ],
        ),
        migrations.CreateModel(
            name='CreditEvent',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('kind', models.CharField(choices=[('credits.depleted', 'Depleted'), ('credits.overage', 'Overage')], max_length=32)),
                ('payload', models.JSONField(encoder=django.core.serializers.json.DjangoJSONEncoder)),
                ('created_at', models.DateTimeField()),
                ('published_at', models.DateTimeField(blank=True, null=True)),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organization')),
                ('pool', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='credits.creditpool')),
            ],
        ),
        migrations.CreateModel(
            name='CreditEntry',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('display_id', models.CharField(default=functools.partial(apps.common.ids.new_display_id, *('ctx',), **{}), editable=False, max_length=40)),
                ('kind', models.CharField(choices=[('grant', 'Grant'), ('spend', 'Spend'), ('expiry', 'Expiry'), ('rollover', 'Rollover'), ('adjustment', 'Adjustment')], max_length=16)),
                ('amount', models.DecimalField(decimal_places=6, max_digits=20)),
                ('balance_after', models.DecimalField(decimal_places=6, max_digits=20)),
                ('origin_code', models.CharField(default='unknown', max_length=32)),
                ('signal_id', models.BigIntegerField(blank=True, null=True)),
                ('signal_display_id', models.CharField(blank=True, max_length=40, null=True)),
                ('event_name', models.CharField(blank=True, max_length=255, null=True)),
                ('signal_recorded_at', models.DateTimeField(blank=True, null=True)),
                ('note', models.TextField(blank=True, default='')),
                ('created_at', models.DateTimeField()),
                ('consumption', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='credits.creditconsumption')),
                ('credits_currency', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.creditcurrency')),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='customers.customer')),
                ('order', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='orders.order')),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organization')),
                ('product', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.product')),
                ('reverses', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='reversed_by', to='credits.creditentry')),
                ('grant', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='credits.creditgrant')),
                ('pool', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='credits.creditpool')),
            ],
        ),
        migrations.AddField(
            model_name='creditconsumption',
            name='pool',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='credits.creditpool'),
        ),
        migrations.CreateModel(
            name='CreditDrain',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('amount', models.DecimalField(decimal_places=6, max_digits=20)),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organization')),
                ('entry', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='drains', to='credits.creditentry')),
                ('grant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='drains', to='credits.creditgrant')),
            ],
            options={
                'indexes': [models.Index(fields=['organization', 'grant'], name='creditdrain_org_grant_idx')],
            },
        ),
        migrations.AddIndex(
            model_name='creditpool',
            index=models.Index(fields=['organization', 'customer'], name='creditpool_org_customer_idx'),
        ),
        migrations.AddConstraint(
            model_name='creditpool',
            constraint=models.UniqueConstraint(condition=models.Q(('seat__isnull', True)), fields=('organization', 'customer', 'credits_currency'), name='creditpool_org_customer_credits_currency_uniq'),
        ),
        migrations.AddConstraint(
            model_name='creditpool',
            constraint=models.UniqueConstraint(condition=models.Q(('seat__isnull', False)), fields=('organization', 'seat', 'credits_currency'), name='creditpool_org_seat_credits_currency_uniq'),
        ),
        migrations.AddConstraint(
            model_name='creditpool',
            constraint=models.CheckConstraint(condition=models.Q(('balance__gte', 0)), name='creditpool_balance_not_negative'),
        ),
        migrations.AddConstraint(
            model_name='creditpool',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('recipient', 'organization'), ('seat__isnull', True)), models.Q(('recipient', 'seat'), ('seat__isnull', False)), _connector='OR'), name='creditpool_recipient_matches_seat'),
        ),
        migrations.AddIndex(
            model_name='creditgrant',
            index=models.Index(fields=['organization', 'pool', 'status'], name='creditgrant_org_pool_idx'),
        ),
        migrations.AddIndex(
            model_name='creditgrant',
            index=models.Index(fields=['status', 'expires_at'], name='creditgrant_due_idx'),
        ),
        migrations.AddIndex(
            model_name='creditgrant',
            index=models.Index(fields=['organization', '-created_at'], name='creditgrant_org_created_idx'),
        ),
        migrations.AddConstraint(
            model_name='creditgrant',
            constraint=models.UniqueConstraint(fields=('organization', 'display_id'), name='creditgrant_org_display_id_uniq'),
        ),
        migrations.AddConstraint(
            model_name='creditgrant',
            constraint=models.UniqueConstraint(condition=models.Q(('key__isnull', False)), fields=('organization', 'key'), name='creditgrant_org_key_uniq'),
        ),
        migrations.AddConstraint(
            model_name='creditgrant',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0), ('remaining__gte', 0), ('remaining__lte', models.F('amount'))), name='creditgrant_remaining_within_amount'),
        ),
        migrations.AddIndex(
            model_name='creditevent',
            index=models.Index(condition=models.Q(('published_at__isnull', True)), fields=['organization', 'id'], name='creditevent_unpublished_idx'),
        ),
        migrations.AddIndex(
            model_name='creditentry',
            index=models.Index(fields=['organization', '-created_at', '-id'], name='creditentry_org_created_idx'),
        ),
        migrations.AddIndex(
            model_name='creditentry',
            index=models.Index(fields=['organization', 'customer', '-created_at'], name='creditentry_org_cust_idx'),
        ),
        migrations.AddIndex(
            model_name='creditentry',
            index=models.Index(fields=['organization', 'pool', 'id'], name='creditentry_org_pool_idx'),
        ),
        migrations.AddConstraint(
            model_name='creditentry',
            constraint=models.UniqueConstraint(fields=('organization', 'display_id'), name='creditentry_org_display_id_uniq'),
        ),
        migrations.AddConstraint(
            model_name='creditentry',
            constraint=models.CheckConstraint(condition=models.Q(('amount', 0), _negated=True), name='creditentry_amount_not_zero'),
        ),
        migrations.AddConstraint(
            model_name='creditentry',
            constraint=models.CheckConstraint(condition=models.Q(('balance_after__gte', 0)), name='creditentry_balance_not_negative'),
        ),
        migrations.AddIndex(
            model_name='creditconsumption',
            index=models.Index(condition=models.Q(('status', 'pending')), fields=['organization', 'customer', 'credits_currency', 'occurred_at'], name='creditcons_pending_idx'),
        ),
        migrations.AddConstraint(
            model_name='creditconsumption',
            constraint=models.UniqueConstraint(condition=models.Q(('signal_id__isnull', False)), fields=('organization', 'signal_id', 'credits_currency'), name='creditconsumption_org_signal_id_credits_currency_uniq'),
        ),
        migrations.AddConstraint(
            model_name='creditconsumption',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0), ('overage__gte', 0), ('spent__gte', 0)), name='creditconsumption_amounts'),
        ),
    ]
