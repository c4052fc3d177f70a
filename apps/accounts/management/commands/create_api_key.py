import json

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.selectors import organization_get
from apps.accounts.services import api_key_create
from apps.common.exceptions import NotFound


class Command(BaseCommand):
    help = "Mint an API key for an organization (by display id or numeric id). The key is shown once."

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True)
        parser.add_argument("--name", default="Command line")
        parser.add_argument("--json", action="store_true", help="Print {apiKey} as JSON.")

    def handle(self, *args, organization: str, name: str, **options):
        try:
            org = organization_get(organization_id=organization)
        except NotFound as exc:
            raise CommandError(exc.message) from exc
        _, raw_key = api_key_create(organization=org, name=name)
        self.stdout.write(json.dumps({"apiKey": raw_key}) if options["json"] else raw_key)
