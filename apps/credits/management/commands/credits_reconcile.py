"""`manage.py credits_reconcile [--organization org_…]`: compare every pool's balance with the sum of its
entries (and of its lots), and every lot's remaining with its entries and drains. Prints one row per drift;
exits 1 when there is any, 0 when the ledger is consistent."""

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.selectors import organization_get
from apps.credits.selectors import credit_ledger_drift


class Command(BaseCommand):
    help = "Report credit pools whose balance differs from the sum of their ledger entries (exit 1 on drift)."

    def add_arguments(self, parser):
        parser.add_argument("--organization", help="Only this organization (pk or org_… display id).")

    def handle(self, *args, organization=None, **options):
        organization_id = organization_get(organization_id=organization).pk if organization else None
        drift = credit_ledger_drift(organization_id=organization_id)
        if not drift:
            self.stdout.write("credits_reconcile: 0 rows (every balance equals the sum of its entries)")
            return
        self.stdout.write("organization\tpool\tlot\tcheck\trecorded\texpected")
        for row in drift:
            self.stdout.write(
                f"{row.organization_id}\t{row.pool_id}\t{row.grant_id or '-'}\t{row.what}\t"
                f"{row.recorded}\t{row.expected}"
            )
        raise CommandError(f"credits_reconcile: {len(drift)} rows of drift", returncode=1)
