from django.core.management.base import BaseCommand

from apps.signals.tasks import attribute_unresolved


class Command(BaseCommand):
    help = "Attach signals stored with an unknown customer or product to the row their raw id names now."

    def add_arguments(self, parser):
        parser.add_argument("--organization", type=int, help="Only this organization (primary key).")

    def handle(self, *args, organization=None, **options):
        updated = attribute_unresolved(organization)
        self.stdout.write(f"Attributed {updated} signal(s).")
